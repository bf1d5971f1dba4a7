//! Key paths in a configuration file and the allow-list globs that match them.
//!
//! A path is a list of steps: a mapping key, a list index, or a list item found by its `name`
//! key (`env[name=NODE_ENV]`, so reordered env lists compare item by item). A glob matches a
//! path when it matches the path or any prefix of it: `ingress.hosts` allows that key and
//! everything under it.

use std::fmt;

/// One step into a configuration document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// A mapping key.
    Key(String),
    /// A list index.
    Index(usize),
    /// A list item matched by its `name` key.
    Named(String),
}

impl Step {
    /// The step's own text: the key, or the name of a named list item.
    pub(crate) fn text(&self) -> Option<&str> {
        match self {
            Self::Key(k) | Self::Named(k) => Some(k),
            Self::Index(_) => None,
        }
    }
}

/// A key path, written like `spec.fields`: `service.port`, `args[0]`, `env[name=NODE_ENV]`,
/// `labels."app.kubernetes.io/name"`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(pub(crate) Vec<Step>);

impl KeyPath {
    pub(crate) fn child(&self, step: Step) -> Self {
        let mut steps = self.0.clone();
        steps.push(step);
        Self(steps)
    }
}

fn plain_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '/' | '$' | '@'))
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.0.iter().enumerate() {
            match step {
                Step::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if plain_key(k) {
                        f.write_str(k)?;
                    } else {
                        write!(f, "{k:?}")?;
                    }
                }
                Step::Index(n) => write!(f, "[{n}]")?,
                Step::Named(n) => write!(f, "[name={n}]")?,
            }
        }
        Ok(())
    }
}

/// One segment of a glob.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `**`: any number of steps, none included.
    Deep,
    /// `*` or `[*]`: exactly one step of any kind.
    Any,
    /// A key, where `*` inside matches any run of characters (`*_HOST`).
    Key(String),
    /// `[3]`.
    Index(usize),
    /// `[name=NODE_*]`: a named list item, `*` as in keys.
    Named(String),
}

/// An allow-list entry, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    text: String,
    segments: Vec<Segment>,
}

impl Glob {
    /// Parses `text`; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err("is empty".to_owned());
        }
        let mut segments = Vec::new();
        let mut chars = trimmed.chars().peekable();
        let mut expect_key = true;
        while let Some(&c) = chars.peek() {
            match c {
                '.' => {
                    chars.next();
                    if expect_key {
                        return Err("has an empty key between dots".to_owned());
                    }
                    expect_key = true;
                }
                '[' => {
                    chars.next();
                    let inner: String = chars.by_ref().take_while(|&c| c != ']').collect();
                    segments.push(bracket(&inner)?);
                    expect_key = false;
                }
                '"' => {
                    chars.next();
                    let mut key = String::new();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == '"' {
                            closed = true;
                            break;
                        }
                        key.push(c);
                    }
                    if !closed {
                        return Err("has an unclosed quote".to_owned());
                    }
                    if !expect_key {
                        return Err(format!("needs a dot before \"{key}\""));
                    }
                    // Quoted keys are literal: a `*` inside is a character, not a wildcard.
                    segments.push(Segment::Key(key.replace('*', "\u{0}")));
                    expect_key = false;
                }
                _ => {
                    let mut key = String::new();
                    while let Some(&c) = chars.peek() {
                        if matches!(c, '.' | '[' | '"') {
                            break;
                        }
                        key.push(c);
                        chars.next();
                    }
                    if !expect_key {
                        return Err(format!("needs a dot before {key:?}"));
                    }
                    segments.push(match key.as_str() {
                        "**" => Segment::Deep,
                        "*" => Segment::Any,
                        _ if key.contains("**") => {
                            return Err(format!("{key:?}: ** must be a whole segment"));
                        }
                        _ => Segment::Key(key),
                    });
                    expect_key = false;
                }
            }
        }
        if expect_key {
            return Err("ends with a dot".to_owned());
        }
        Ok(Self {
            text: trimmed.to_owned(),
            segments,
        })
    }

    /// The glob as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the glob matches `path` or a prefix of it.
    pub(crate) fn allows(&self, path: &KeyPath) -> bool {
        matches_prefix(&self.segments, &path.0)
    }
}

fn bracket(inner: &str) -> Result<Segment, String> {
    let inner = inner.trim();
    if inner == "*" {
        return Ok(Segment::Any);
    }
    if let Some(name) = inner.strip_prefix("name=") {
        if name.is_empty() {
            return Err("[name=] names no item".to_owned());
        }
        return Ok(Segment::Named(name.to_owned()));
    }
    inner
        .parse()
        .map(Segment::Index)
        .map_err(|_| format!("[{inner}] is not an index, [*] or [name=...]"))
}

fn matches_prefix(glob: &[Segment], path: &[Step]) -> bool {
    let Some((first, rest)) = glob.split_first() else {
        return true;
    };
    if *first == Segment::Deep {
        return (0..=path.len()).any(|skip| matches_prefix(rest, &path[skip..]));
    }
    let Some((step, tail)) = path.split_first() else {
        return false;
    };
    let hit = match (first, step) {
        (Segment::Any, _) => true,
        (Segment::Key(pattern), Step::Key(key)) => wildcard(pattern, key),
        (Segment::Index(i), Step::Index(j)) => i == j,
        (Segment::Named(pattern), Step::Named(name)) => wildcard(pattern, name),
        _ => false,
    };
    hit && matches_prefix(rest, tail)
}

/// `*` matches any run of characters (NUL stands for a literal `*` from a quoted key).
fn wildcard(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let literal = |s: &str| s.replace('\u{0}', "*");
    if parts.len() == 1 {
        return literal(pattern) == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        let part = literal(part);
        if i == 0 {
            let Some(r) = rest.strip_prefix(part.as_str()) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part.as_str());
        } else {
            match rest.find(part.as_str()) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(steps: &[Step]) -> KeyPath {
        KeyPath(steps.to_vec())
    }

    fn key(k: &str) -> Step {
        Step::Key(k.to_owned())
    }

    #[test]
    fn a_glob_allows_its_path_and_everything_under_it() {
        let g = Glob::parse("ingress.hosts").expect("glob");
        assert!(g.allows(&path(&[key("ingress"), key("hosts")])));
        assert!(g.allows(&path(&[key("ingress"), key("hosts"), Step::Index(0)])));
        assert!(!g.allows(&path(&[key("ingress")])));
        assert!(!g.allows(&path(&[key("ingress"), key("tls")])));
    }

    #[test]
    fn star_is_one_step_and_double_star_any_depth() {
        let env = Glob::parse("env.*").expect("glob");
        assert!(env.allows(&path(&[key("env"), Step::Named("NODE_ENV".into())])));
        assert!(!env.allows(&path(&[key("env")])));
        let deep = Glob::parse("**.hosts").expect("glob");
        assert!(deep.allows(&path(&[key("hosts")])));
        assert!(deep.allows(&path(&[key("a"), Step::Index(2), key("hosts"), key("x")])));
        assert!(!deep.allows(&path(&[key("a"), key("hostsx")])));
        let part = Glob::parse("env[name=NEXT_PUBLIC_*]").expect("glob");
        assert!(part.allows(&path(&[key("env"), Step::Named("NEXT_PUBLIC_URL".into())])));
        assert!(!part.allows(&path(&[key("env"), Step::Named("NODE_ENV".into())])));
        let index = Glob::parse("args[1]").expect("glob");
        assert!(index.allows(&path(&[key("args"), Step::Index(1)])));
        assert!(!index.allows(&path(&[key("args"), Step::Index(0)])));
        let quoted = Glob::parse("labels.\"app.kubernetes.io/*\"").expect("glob");
        assert!(!quoted.allows(&path(&[key("labels"), key("app.kubernetes.io/name")])));
        assert!(quoted.allows(&path(&[key("labels"), key("app.kubernetes.io/*")])));
    }

    #[test]
    fn malformed_globs_say_what_is_wrong() {
        for (text, problem) in [
            ("", "is empty"),
            ("a..b", "empty key"),
            ("a.", "ends with a dot"),
            ("a[x]", "not an index"),
            ("a.b**", "whole segment"),
            ("a.\"b", "unclosed quote"),
        ] {
            let err = Glob::parse(text).expect_err(text);
            assert!(err.contains(problem), "{text}: {err}");
        }
    }

    #[test]
    fn paths_print_like_field_paths() {
        let p = path(&[
            key("labels"),
            key("app.kubernetes.io/name"),
            key("env"),
            Step::Named("A".into()),
            key("args"),
            Step::Index(0),
        ]);
        assert_eq!(
            p.to_string(),
            "labels.\"app.kubernetes.io/name\".env[name=A].args[0]"
        );
    }
}
