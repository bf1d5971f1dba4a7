//! The structural comparison of two configuration files, key path by key path.

use promote_api::DifferenceKind;
use saphyr::{LoadableYamlNode, Scalar, Yaml};

use super::glob::{KeyPath, Step};

/// Longest value shown for one side of a difference.
const VALUE_LIMIT: usize = 120;

/// Parts of a key that mark its value as a secret or a Secret reference.
const SECRET_WORDS: [&str; 12] = [
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "credential",
    "private",
    "apikey",
    "api_key",
    "api-key",
    "accesskey",
    "access_key",
];

/// One difference, before the allow list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) path: KeyPath,
    pub(crate) kind: DifferenceKind,
    pub(crate) source: Option<String>,
    pub(crate) target: Option<String>,
    pub(crate) hidden: bool,
}

/// Parses a configuration file: one YAML document holding a mapping (an empty file is an
/// empty mapping). The error names the problem without quoting the content.
pub(crate) fn load(text: &str) -> Result<Yaml<'_>, String> {
    let mut docs = Yaml::load_from_str(text).map_err(|e| e.to_string())?;
    match docs.len() {
        0 => Ok(Yaml::Mapping(saphyr::Mapping::new())),
        1 => {
            let doc = docs.remove(0);
            match doc {
                Yaml::Mapping(_) => Ok(doc),
                Yaml::Value(Scalar::Null) => Ok(Yaml::Mapping(saphyr::Mapping::new())),
                _ => Err("the document is not a mapping of keys to values".to_owned()),
            }
        }
        n => Err(format!(
            "the file holds {n} YAML documents; a values file holds one"
        )),
    }
}

/// Every key path where `source` and `target` differ, in document order (the source's
/// order, then keys only the target has).
pub(crate) fn differences(source: &Yaml<'_>, target: &Yaml<'_>) -> Vec<Found> {
    let mut out = Vec::new();
    walk(&KeyPath::default(), source, target, false, &mut out);
    out
}

fn walk(path: &KeyPath, s: &Yaml<'_>, t: &Yaml<'_>, hidden: bool, out: &mut Vec<Found>) {
    match (s, t) {
        (Yaml::Mapping(sm), Yaml::Mapping(tm)) => {
            pair_up(path, by_key(sm), by_key(tm), hidden, out);
        }
        (Yaml::Sequence(ss), Yaml::Sequence(ts)) => {
            let (se, te) = match (named(ss), named(ts)) {
                (Some(sn), Some(tn)) => (by_name(sn), by_name(tn)),
                _ => (by_index(ss), by_index(ts)),
            };
            pair_up(path, se, te, hidden, out);
        }
        _ if s == t => {}
        _ => out.push(Found {
            path: path.clone(),
            kind: DifferenceKind::Different,
            source: (!hidden).then(|| render(s)),
            target: (!hidden).then(|| render(t)),
            hidden,
        }),
    }
}

fn by_key<'a, 'y>(m: &'a saphyr::Mapping<'y>) -> Vec<(Step, &'a Yaml<'y>)> {
    m.iter().map(|(k, v)| (Step::Key(key_text(k)), v)).collect()
}

fn by_name<'a, 'y>(items: Vec<(&str, &'a Yaml<'y>)>) -> Vec<(Step, &'a Yaml<'y>)> {
    items
        .into_iter()
        .map(|(n, v)| (Step::Named(n.to_owned()), v))
        .collect()
}

fn by_index<'a, 'y>(items: &'a [Yaml<'y>]) -> Vec<(Step, &'a Yaml<'y>)> {
    items
        .iter()
        .enumerate()
        .map(|(i, v)| (Step::Index(i), v))
        .collect()
}

/// Compares the children both sides have, step by step, and reports those only one side has:
/// the source's order first, then what only the target has.
fn pair_up(
    path: &KeyPath,
    source: Vec<(Step, &Yaml<'_>)>,
    target: Vec<(Step, &Yaml<'_>)>,
    hidden: bool,
    out: &mut Vec<Found>,
) {
    for (step, sv) in &source {
        let hide = hidden || secret_like(step);
        let child = path.child(step.clone());
        match target.iter().find(|(t, _)| t == step) {
            Some((_, tv)) => walk(&child, sv, tv, hide, out),
            None => out.push(only(child, DifferenceKind::OnlyInSource, sv, hide)),
        }
    }
    for (step, tv) in &target {
        if !source.iter().any(|(s, _)| s == step) {
            let hide = hidden || secret_like(step);
            let kind = DifferenceKind::OnlyInTarget;
            out.push(only(path.child(step.clone()), kind, tv, hide));
        }
    }
}

fn only(path: KeyPath, kind: DifferenceKind, value: &Yaml<'_>, hidden: bool) -> Found {
    let shown = (!hidden).then(|| render(value));
    let (source, target) = match kind {
        DifferenceKind::OnlyInSource => (shown, None),
        _ => (None, shown),
    };
    Found {
        path,
        kind,
        source,
        target,
        hidden,
    }
}

/// A list whose items are all mappings with a distinct string `name`, by name: env lists,
/// containers, volumes.
fn named<'a, 'y>(items: &'a [Yaml<'y>]) -> Option<Vec<(&'a str, &'a Yaml<'y>)>> {
    if items.is_empty() {
        return None;
    }
    let mut out: Vec<(&str, &Yaml<'_>)> = Vec::with_capacity(items.len());
    for item in items {
        let Yaml::Mapping(m) = item else { return None };
        let name = m.iter().find_map(|(k, v)| match (k, v) {
            (Yaml::Value(Scalar::String(k)), Yaml::Value(Scalar::String(v))) if k == "name" => {
                Some(v.as_ref())
            }
            _ => None,
        })?;
        if out.iter().any(|(n, _)| *n == name) {
            return None;
        }
        out.push((name, item));
    }
    Some(out)
}

/// Whether a key (or a named item's name) looks like it holds a secret.
pub(crate) fn secret_like(step: &Step) -> bool {
    step.text().is_some_and(|t| {
        let lower = t.to_ascii_lowercase();
        SECRET_WORDS.iter().any(|w| lower.contains(w))
    })
}

fn key_text(k: &Yaml<'_>) -> String {
    match k {
        Yaml::Value(Scalar::String(s)) => s.to_string(),
        other => render(other),
    }
}

/// The value on one line, YAML flow style, shortened; secret-looking keys inside are hidden.
pub(crate) fn render(v: &Yaml<'_>) -> String {
    let mut out = String::new();
    write_flow(v, &mut out);
    if out.chars().count() > VALUE_LIMIT {
        out = out.chars().take(VALUE_LIMIT - 1).collect();
        out.push('…');
    }
    out
}

fn write_flow(v: &Yaml<'_>, out: &mut String) {
    if out.len() > VALUE_LIMIT * 4 {
        return;
    }
    match v {
        Yaml::Value(s) => out.push_str(&scalar(s)),
        Yaml::Representation(text, ..) => out.push_str(text),
        Yaml::Sequence(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_flow(item, out);
            }
            out.push(']');
        }
        Yaml::Mapping(m) => {
            let secret_name = m
                .iter()
                .any(|(k, v)| key_text(k) == "name" && secret_like(&Step::Named(key_text(v))));
            out.push('{');
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let key = key_text(k);
                out.push_str(&key);
                out.push_str(": ");
                if secret_like(&Step::Key(key.clone())) || (secret_name && key != "name") {
                    out.push_str("(hidden)");
                } else {
                    write_flow(v, out);
                }
            }
            out.push('}');
        }
        Yaml::Tagged(tag, inner) => {
            out.push_str(&format!("!{} ", tag.suffix));
            write_flow(inner, out);
        }
        Yaml::Alias(_) | Yaml::BadValue => out.push('?'),
    }
}

fn scalar(s: &Scalar<'_>) -> String {
    match s {
        Scalar::Null => "null".to_owned(),
        Scalar::Boolean(b) => b.to_string(),
        Scalar::Integer(i) => i.to_string(),
        Scalar::FloatingPoint(f) => f.to_string(),
        Scalar::String(text) => {
            let plain = !text.is_empty()
                && !text.starts_with([' ', '[', '{', '"', '\'', '&', '*', '!', '#', '?', '|', '>'])
                && !text.starts_with("- ")
                && text.as_ref() != "-"
                && !text.contains([',', ':', '[', ']', '{', '}', '#', '\n'])
                && !text.ends_with(' ')
                && matches!(
                    Scalar::parse_from_cow(std::borrow::Cow::Borrowed(text.as_ref())),
                    Scalar::String(_)
                );
            if plain {
                text.to_string()
            } else {
                format!("{text:?}")
            }
        }
    }
}
