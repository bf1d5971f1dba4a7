//! How YAML readers take a plain scalar: the union of YAML 1.1 and 1.2 (core and JSON)
//! resolution, as implemented by the readers values files meet (go-yaml v2 and v3, which Helm
//! and Kubernetes use, libyaml/PyYAML, SnakeYAML, js-yaml).
//!
//! When any of them would read a plain scalar as something other than a string, the editor
//! quotes what it writes and `get` refuses to guess. Over-quoting is harmless; under-quoting
//! changes what a cluster runs (`1.30` becomes the float 1.3).
//!
//! One deliberate gap: the YAML 1.1 spec's float regex (`[0-9.]*` after the dot) matches
//! `1.2.3`, but no reader resolves it that way, so semantic versions stay plain.

use std::sync::LazyLock;

use regex::RegexSet;

/// What a plain scalar reads as under the most eager of the common YAML readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlainReading {
    /// A string in every reader.
    String,
    /// Null: empty, `~`, `null`.
    Null,
    /// A boolean: `true`, `false`, and YAML 1.1's `yes`, `no`, `on`, `off`, `y`, `n`.
    Bool,
    /// An integer in some reader: `42`, `0755`, `0x1F`, `0o17`, `0b1`, `1_000`, `1:30`.
    Int,
    /// A float in some reader: `1.30`, `1e3`, `.5`, `.inf`, `.nan`.
    Float,
    /// A YAML 1.1 timestamp: `2024-01-01`.
    Timestamp,
    /// A YAML 1.1 merge key (`<<`) or value key (`=`).
    Special,
}

impl PlainReading {
    /// A word for messages.
    pub fn describe(self) -> &'static str {
        match self {
            PlainReading::String => "string",
            PlainReading::Null => "null",
            PlainReading::Bool => "boolean",
            PlainReading::Int => "integer",
            PlainReading::Float => "float",
            PlainReading::Timestamp => "timestamp",
            PlainReading::Special => "YAML 1.1 special key",
        }
    }
}

const NULL: usize = 0;
const BOOL: usize = 1;
const INT: usize = 2;
const FLOAT: usize = 3;
const TIMESTAMP: usize = 4;
const SPECIAL: usize = 5;

static READINGS: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new([
        // NULL
        r"^(?:~|(?i:null))?$",
        // BOOL (case-insensitive to be generous: `TrUe` is a string everywhere, quoting it is harmless)
        r"^(?i:y|yes|n|no|true|false|on|off)$",
        // INT: decimal and 1.1 octal with `_`, 0b/0o/0x in any case (go-yaml's ParseInt base 0), sexagesimal
        r"^[-+]?(?:[0-9][0-9_]*|0[bB][01_]+|0[oO][0-7_]+|0[xX][0-9a-fA-F_]+|[0-9][0-9_]*(?::[0-5]?[0-9])+)$",
        // FLOAT: 1.2 core and 1.1 with `_`, sexagesimal floats, infinities and NaN, go's hex floats
        r"^(?:[-+]?(?:\.[0-9][0-9_]*|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|[-+](?i:inf|infinity|nan)|[-+]?0[xX][0-9a-fA-F_]*\.?[0-9a-fA-F_]*[pP][-+]?[0-9]+)$",
        // TIMESTAMP (YAML 1.1)
        r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?$",
        // SPECIAL
        r"^(?:<<|=)$",
    ])
    .expect("the reading patterns are valid regexes")
});

/// What `s`, written as a plain scalar, would be read as by the most eager common reader.
pub fn plain_reading(s: &str) -> PlainReading {
    // Fast path: nothing that starts with a letter other than the bool/null words is special.
    let matches = READINGS.matches(s);
    if !matches.matched_any() {
        return PlainReading::String;
    }
    for (index, reading) in [
        (NULL, PlainReading::Null),
        (BOOL, PlainReading::Bool),
        (INT, PlainReading::Int),
        (FLOAT, PlainReading::Float),
        (TIMESTAMP, PlainReading::Timestamp),
        (SPECIAL, PlainReading::Special),
    ] {
        if matches.matched(index) {
            return reading;
        }
    }
    PlainReading::String
}

/// Whether a plain scalar's text is what every reader prints back: strings, canonical
/// decimal integers (`3`, `-12`) and `true`/`false`.
pub(crate) fn reads_back_exactly(s: &str) -> bool {
    match plain_reading(s) {
        PlainReading::String => true,
        PlainReading::Bool => s == "true" || s == "false",
        PlainReading::Int => {
            let digits = s.strip_prefix('-').unwrap_or(s);
            digits.len() <= 18
                && !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && (digits == "0" || !digits.starts_with('0'))
                && s != "-0"
        }
        _ => false,
    }
}

/// Whether `value` may be written as a plain scalar in this context without any reader
/// taking it for something else. Callers only pass validated versions, but the check does
/// not rely on it.
pub(crate) fn plain_is_safe(value: &str, in_flow: bool) -> bool {
    if plain_reading(value) != PlainReading::String {
        return false;
    }
    let Some(first) = value.chars().next() else {
        return false;
    };
    // Characters that are safe everywhere in a plain scalar; everything else is quoted
    // (in flow context YAML 1.1 readers choke on ':', and indicators need care anyway).
    let safe_body = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/');
    let ok_first = first.is_ascii_alphanumeric() || first == '_';
    if in_flow {
        ok_first && value.chars().all(safe_body)
    } else {
        // Block context also holds ':' and '@' inside (digests), never ": " or " #" since no spaces.
        ok_first
            && value
                .chars()
                .all(|c| safe_body(c) || matches!(c, ':' | '@'))
            && !value.ends_with(':')
    }
}

#[cfg(test)]
mod tests {
    use super::PlainReading::*;
    use super::*;

    #[test]
    fn classifies_what_readers_resolve() {
        let cases = [
            ("", Null),
            ("~", Null),
            ("null", Null),
            ("NULL", Null),
            ("Null", Null),
            ("true", Bool),
            ("False", Bool),
            ("yes", Bool),
            ("Yes", Bool),
            ("NO", Bool),
            ("on", Bool),
            ("Off", Bool),
            ("y", Bool),
            ("n", Bool),
            ("N", Bool),
            ("42", Int),
            ("-42", Int),
            ("+1", Int),
            ("0755", Int),
            ("0x1F", Int),
            ("0X1f", Int),
            ("0o17", Int),
            ("0b101", Int),
            ("1_000", Int),
            ("190:20:30", Int),
            ("1:30", Int),
            ("1.30", Float),
            ("1.", Float),
            (".5", Float),
            ("1e3", Float),
            ("1E+3", Float),
            ("1.0e-3", Float),
            ("6.8523015e+5", Float),
            ("685.230_15e+03", Float),
            ("190:20:30.15", Float),
            (".inf", Float),
            ("-.Inf", Float),
            (".NaN", Float),
            ("+inf", Float),
            ("0x1p3", Float),
            ("2024-01-01", Timestamp),
            ("2001-12-14t21:59:43.10-05:00", Timestamp),
            ("2001-12-14 21:59:43.10 -5", Timestamp),
            ("<<", Special),
            ("=", Special),
        ];
        for (s, want) in cases {
            assert_eq!(plain_reading(s), want, "{s:?}");
        }
    }

    #[test]
    fn leaves_ordinary_versions_alone() {
        for s in [
            "v1.2.3",
            "1.2.3",
            "1.2.3-rc.1",
            "sha-4f2e1c0",
            "latest",
            "yes-please",
            "nope",
            "1.30a",
            "0x",
            "_1",
            "1e",
            "e3",
            "1.2.3.4",
            "2024-01-01a",
            "2024-1",
            "1_0a",
            "abc",
            "infinity",
            "nan",
            "inf",
            "trueish",
        ] {
            assert_eq!(plain_reading(s), String, "{s:?}");
        }
    }

    #[test]
    fn reads_back_exactly_only_canonical_forms() {
        for s in ["3", "0", "-12", "true", "false", "v1", "1.2.3"] {
            assert!(reads_back_exactly(s), "{s}");
        }
        for s in [
            "",
            "~",
            "null",
            "1.30",
            "0755",
            "+1",
            "-0",
            "yes",
            "True",
            "1_000",
            "2024-01-01",
            "1e3",
        ] {
            assert!(!reads_back_exactly(s), "{s}");
        }
    }

    #[test]
    fn flow_context_quotes_more() {
        assert!(plain_is_safe("v1.2", true));
        assert!(plain_is_safe("v1.2", false));
        let digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert!(plain_is_safe(digest, false));
        assert!(!plain_is_safe(digest, true));
        assert!(!plain_is_safe("1.30", false));
        assert!(!plain_is_safe("", false));
        assert!(!plain_is_safe("a b", false));
        assert!(!plain_is_safe("-a", false));
        assert!(!plain_is_safe("a#", true));
    }
}
