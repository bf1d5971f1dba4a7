//! Every reason the operator writes is listed in `reasons::ALL` and explained in
//! `docs/troubleshooting.md`.

use promote_api::Phase;
use promote_api::conditions::{reasons, types};

const DOC: &str = include_str!("../../../docs/troubleshooting.md");
const SOURCE: &str = include_str!("../src/conditions.rs");

/// Whether the document has a table row for `name`: a line starting with "| `name` |".
fn documented(name: &str) -> bool {
    let row = format!("| `{name}` |");
    DOC.lines().any(|l| l.trim_start().starts_with(&row))
}

/// Whether the document has a heading naming `name`, such as "## `Ready`".
fn has_heading(name: &str) -> bool {
    let quoted = format!("`{name}`");
    DOC.lines()
        .any(|l| l.starts_with('#') && l.split_whitespace().any(|w| w == quoted))
}

/// The names of the `pub const X: &str` lines inside `pub mod reasons { ... }`.
fn declared_reasons() -> Vec<&'static str> {
    let start = SOURCE
        .find("pub mod reasons {")
        .expect("conditions.rs has a reasons module");
    let body = &SOURCE[start..];
    let end = body
        .lines()
        .position(|l| l == "}")
        .expect("the reasons module ends");
    body.lines()
        .take(end)
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("pub const ")?;
            let (name, ty) = rest.split_once(':')?;
            ty.trim_start().starts_with("&str").then_some(name.trim())
        })
        .collect()
}

/// The value of a `pub const NAME: &str = "Value";` line in the reasons module.
fn value_of(name: &str) -> &'static str {
    let prefix = format!("pub const {name}: &str = \"");
    SOURCE
        .lines()
        .find_map(|l| l.trim().strip_prefix(prefix.as_str()))
        .and_then(|rest| rest.split_once('"'))
        .map(|(value, _)| value)
        .unwrap_or_else(|| panic!("no value for reasons::{name}"))
}

#[test]
fn every_reason_and_phase_is_documented() {
    let mut missing: Vec<String> = reasons::ALL
        .iter()
        .copied()
        .chain(Phase::ALL.iter().map(|p| p.as_str()))
        .filter(|name| !documented(name))
        .map(str::to_owned)
        .collect();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "docs/troubleshooting.md has no row \"| `Name` |\" for: {missing:?}"
    );
}

#[test]
fn every_condition_type_has_a_heading() {
    let missing: Vec<_> = types::ALL.iter().filter(|t| !has_heading(t)).collect();
    assert!(
        missing.is_empty(),
        "docs/troubleshooting.md has no heading for condition types: {missing:?}"
    );
}

#[test]
fn every_declared_reason_is_in_all() {
    let declared = declared_reasons();
    assert!(
        declared.len() > 10,
        "the reasons module was not parsed: {declared:?}"
    );
    let missing: Vec<_> = declared
        .iter()
        .filter(|name| !reasons::ALL.contains(&value_of(name)))
        .collect();
    assert!(missing.is_empty(), "reasons::ALL lacks: {missing:?}");
    assert_eq!(
        declared.len(),
        reasons::ALL.len(),
        "reasons::ALL holds a value that is not a declared constant"
    );
}

#[test]
fn reasons_are_distinct_camel_case() {
    for (i, r) in reasons::ALL.iter().enumerate() {
        assert!(
            r.starts_with(|c: char| c.is_ascii_uppercase())
                && r.chars().all(|c| c.is_ascii_alphanumeric()),
            "{r} is not CamelCase"
        );
        assert!(!reasons::ALL[..i].contains(r), "{r} is listed twice");
    }
    for (i, p) in Phase::ALL.iter().enumerate() {
        assert!(!Phase::ALL[..i].contains(p), "{p} is listed twice");
    }
}
