//! Value paths: `image.tag`, `sidecars[1].tag`, `labels."app.kubernetes.io/version"`.

use std::fmt;

/// One step of a path: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// A key in a mapping, matched against the key's scalar value.
    Key(String),
    /// A zero-based index in a sequence.
    Index(usize),
}

/// A parsed path to one node of a document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ValuePath(Vec<Segment>);

/// Why a path string does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} (at character {position})")]
pub struct PathError {
    /// What is wrong.
    pub reason: String,
    /// Zero-based character position in the path string.
    pub position: usize,
}

impl ValuePath {
    /// Parses dotted keys, `[N]` indexes and double-quoted keys (`\"` and `\\` escape).
    pub fn parse(s: &str) -> Result<ValuePath, PathError> {
        let chars: Vec<char> = s.chars().collect();
        let err = |reason: &str, position: usize| PathError {
            reason: reason.to_owned(),
            position,
        };
        if chars.is_empty() {
            return Err(err("the path is empty", 0));
        }
        let mut segments = Vec::new();
        let mut i = 0;
        loop {
            // A key (bare or quoted); only the first segment may be bare indexes (`[0].x`).
            let start = i;
            if chars.get(i) == Some(&'"') {
                i += 1;
                let mut key = String::new();
                loop {
                    match chars.get(i) {
                        None => return Err(err("unterminated quoted key", start)),
                        Some('"') => break,
                        Some('\\') => match chars.get(i + 1) {
                            Some(c @ ('"' | '\\')) => {
                                key.push(*c);
                                i += 2;
                            }
                            _ => {
                                return Err(err(
                                    "only \\\" and \\\\ may be escaped in a quoted key",
                                    i,
                                ));
                            }
                        },
                        Some(c) => {
                            key.push(*c);
                            i += 1;
                        }
                    }
                }
                i += 1;
                segments.push(Segment::Key(key));
            } else {
                while let Some(c) = chars.get(i) {
                    if matches!(c, '.' | '[' | ']' | '"') {
                        break;
                    }
                    i += 1;
                }
                if i > start {
                    segments.push(Segment::Key(chars[start..i].iter().collect()));
                } else if !(segments.is_empty() && chars.get(i) == Some(&'[')) {
                    return Err(err("empty key; quote keys that contain . [ ] or \"", i));
                }
            }
            while chars.get(i) == Some(&'[') {
                let open = i;
                i += 1;
                let digits_start = i;
                while chars.get(i).is_some_and(char::is_ascii_digit) {
                    i += 1;
                }
                if i == digits_start || chars.get(i) != Some(&']') {
                    return Err(err("an index is written [N] with N a number", open));
                }
                let digits: String = chars[digits_start..i].iter().collect();
                let index = digits.parse().map_err(|_| err("index too large", open))?;
                segments.push(Segment::Index(index));
                i += 1;
            }
            match chars.get(i) {
                None => break,
                Some('.') => {
                    i += 1;
                    if i == chars.len() {
                        return Err(err("the path ends with '.'", i - 1));
                    }
                }
                Some(_) => {
                    return Err(err(
                        "expected '.', '[' or the end of the path; quote keys that contain . [ ] or \"",
                        i,
                    ));
                }
            }
        }
        Ok(ValuePath(segments))
    }

    /// The steps from the document root to the node.
    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// The path made of the first `n` segments, for messages ("the top level" for none).
    pub fn prefix(&self, n: usize) -> String {
        if n == 0 {
            return "the top level".into();
        }
        ValuePath(self.0[..n].to_vec()).to_string()
    }
}

impl std::str::FromStr for ValuePath {
    type Err = PathError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ValuePath::parse(s)
    }
}

impl fmt::Display for ValuePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Index(i) => write!(f, "[{i}]")?,
                Segment::Key(k) => {
                    if n > 0 {
                        f.write_str(".")?;
                    }
                    if k.is_empty() || k.contains(['.', '[', ']', '"', '\\']) {
                        write!(f, "\"{}\"", k.replace('\\', "\\\\").replace('"', "\\\""))?;
                    } else {
                        f.write_str(k)?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Segment::{Index, Key};
    use super::*;

    fn key(s: &str) -> Segment {
        Key(s.to_owned())
    }

    #[test]
    fn parses_the_three_forms() {
        let cases = [
            ("image.tag", vec![key("image"), key("tag")]),
            (
                "sidecars[1].tag",
                vec![key("sidecars"), Index(1), key("tag")],
            ),
            ("m[0][12]", vec![key("m"), Index(0), Index(12)]),
            ("[3].a", vec![Index(3), key("a")]),
            (
                r#"labels."app.kubernetes.io/version""#,
                vec![key("labels"), key("app.kubernetes.io/version")],
            ),
            (r#""a\"b\\c[0]".x"#, vec![key(r#"a"b\c[0]"#), key("x")]),
            (r#""""#, vec![key("")]),
            ("with space.ü", vec![key("with space"), key("ü")]),
            ("a.\"b\"[2]", vec![key("a"), key("b"), Index(2)]),
        ];
        for (s, want) in cases {
            let p = ValuePath::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(p.segments(), want.as_slice(), "{s}");
            // Display gives a spelling that parses back to the same path.
            assert_eq!(
                ValuePath::parse(&p.to_string()).as_ref(),
                Ok(&p),
                "{s} -> {p}"
            );
        }
    }

    #[test]
    fn refuses_malformed_paths() {
        for bad in [
            "",
            ".",
            "a.",
            ".a",
            "a..b",
            "a[",
            "a[]",
            "a[x]",
            "a[-1]",
            "a]",
            "a[0]b",
            "\"a",
            "\"a\"b",
            "a.[0]",
            r#""\n""#,
            "a[99999999999999999999999]",
        ] {
            assert!(ValuePath::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn prefixes_name_the_walked_part() {
        let p = ValuePath::parse("a.b[2].c").expect("valid");
        assert_eq!(p.prefix(0), "the top level");
        assert_eq!(p.prefix(3), "a.b[2]");
        assert_eq!(p.prefix(4), "a.b[2].c");
    }
}
