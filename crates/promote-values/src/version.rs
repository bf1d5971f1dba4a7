//! The version grammar: what may ever be written into a values file.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

/// An OCI tag, a sha256 digest, or a tag pinned to a digest (`tag@sha256:<hex>`).
static VERSION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}(?:@sha256:[a-f0-9]{64})?|sha256:[a-f0-9]{64})$",
    )
    .expect("the version pattern is a valid regex")
});

/// Why a string is not a version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct VersionError {
    /// What is wrong, in words a user can act on.
    pub reason: String,
}

impl VersionError {
    /// Never retryable: the same input fails the same way.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// A validated version: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`, `sha256:<64 hex>`, or `tag@sha256:<64 hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version(String);

impl Version {
    /// Validates `s` against the version grammar.
    pub fn parse(s: &str) -> Result<Version, VersionError> {
        validate_version(s)?;
        Ok(Version(s.to_owned()))
    }

    /// The version as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The tag part, if any (`v1` in `v1@sha256:…`).
    pub fn tag(&self) -> Option<&str> {
        match self.0.split_once('@') {
            Some((tag, _)) => Some(tag),
            None if self.0.starts_with("sha256:") => None,
            None => Some(&self.0),
        }
    }

    /// The digest part, if any (`sha256:…`).
    pub fn digest(&self) -> Option<&str> {
        match self.0.split_once('@') {
            Some((_, digest)) => Some(digest),
            None if self.0.starts_with("sha256:") => Some(&self.0),
            None => None,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Version {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Version {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Version::parse(s)
    }
}

/// Checks `s` against the version grammar, with a reason when it fails.
pub fn validate_version(s: &str) -> Result<(), VersionError> {
    if VERSION.is_match(s) {
        return Ok(());
    }
    Err(VersionError { reason: explain(s) })
}

/// Says which rule `s` breaks; only called on failure, so it can be slow and specific.
fn explain(s: &str) -> String {
    if s.is_empty() {
        return "the version is empty".into();
    }
    let (tag, digest) = match s.split_once('@') {
        Some((t, d)) => (Some(t), Some(d)),
        None if s.starts_with("sha256:") => (None, Some(s)),
        None => (Some(s), None),
    };
    if let Some(d) = digest {
        let hex = d.strip_prefix("sha256:");
        match hex {
            None => return format!("the digest {d:?} must start with sha256:"),
            Some(h) if h.len() != 64 => {
                return format!("the digest must have 64 hex digits, it has {}", h.len());
            }
            Some(h) if !h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) => {
                return "the digest must be lowercase hex (0-9, a-f)".into();
            }
            Some(_) => {}
        }
    }
    if let Some(t) = tag {
        if t.is_empty() {
            return "the tag before @ is empty".into();
        }
        if t.chars().count() > 128 {
            return format!(
                "the tag is {} characters long, at most 128 are allowed",
                t.chars().count()
            );
        }
        if t.contains(':') {
            return "':' is not allowed in a tag, and the only digest accepted is sha256:<64 hex>"
                .into();
        }
        if t.starts_with(['.', '-']) {
            return "a tag must start with a letter, a digit or _".into();
        }
        if let Some(c) = t
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return format!("{c:?} is not allowed in a tag (letters, digits, '.', '_', '-')");
        }
    }
    "it is not an OCI tag, a sha256 digest, or tag@sha256 digest".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn accepts_the_grammar() {
        let long = format!("a{}", "b".repeat(127));
        for ok in [
            "v1.2.3",
            "1.30",
            "_x",
            "sha-4f2e1c0",
            "A",
            long.as_str(),
            &format!("sha256:{HEX}"),
            &format!("v1@sha256:{HEX}"),
        ] {
            assert!(validate_version(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_everything_else_with_a_reason() {
        let too_long = format!("a{}", "b".repeat(128));
        let cases = [
            ("", "empty"),
            (".x", "must start"),
            ("-x", "must start"),
            ("a b", "' '"),
            ("a:b", "':'"),
            ("a\n", "'\\n'"),
            ("é", "'é'"),
            (too_long.as_str(), "at most 128"),
            ("sha256:abc", "64 hex"),
            (&format!("sha256:{}", HEX.to_uppercase()), "lowercase"),
            (&format!("sha512:{HEX}"), "sha256"),
            (&format!("@sha256:{HEX}"), "empty"),
            (&format!("v1@sha256:{HEX}x"), "64 hex"),
            ("v1@", "sha256"),
        ];
        for (bad, why) in cases {
            let err = validate_version(bad).expect_err(bad);
            assert!(
                err.reason.contains(why),
                "{bad:?}: {} (wanted {why})",
                err.reason
            );
        }
    }

    #[test]
    fn splits_tag_and_digest() {
        let pinned = Version::parse(&format!("v1@sha256:{HEX}")).expect("valid");
        assert_eq!(pinned.tag(), Some("v1"));
        assert_eq!(pinned.digest(), Some(format!("sha256:{HEX}").as_str()));
        let digest = Version::parse(&format!("sha256:{HEX}")).expect("valid");
        assert_eq!(digest.tag(), None);
        let tag = Version::parse("v2").expect("valid");
        assert_eq!((tag.tag(), tag.digest()), (Some("v2"), None));
    }
}
