//! The one error type: which file, which path, and why the editor refused.

use std::fmt;

/// A refusal: the file, the path, and the reason. The input is never changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValuesError {
    /// The label the caller gave for the file (usually its path).
    pub file: String,
    /// The path as the caller wrote it.
    pub path: String,
    /// What went wrong.
    pub kind: ValuesErrorKind,
}

impl fmt::Display for ValuesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.path, self.kind)
    }
}

impl ValuesError {
    pub(crate) fn new(file: &str, path: &str, kind: ValuesErrorKind) -> Self {
        ValuesError {
            file: file.to_owned(),
            path: path.to_owned(),
            kind,
        }
    }

    /// Never retryable: the same bytes give the same refusal. A caller re-reads the file
    /// (which may have changed) rather than retrying.
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }
}

/// Why a value could not be read or written exactly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValuesErrorKind {
    /// The path string does not parse.
    #[error(
        "invalid path: {reason}; write keys separated by dots, indexes as [N], and double-quote keys that hold dots or brackets (labels.\"app.kubernetes.io/version\")"
    )]
    InvalidPath {
        /// What is wrong with it.
        reason: String,
    },
    /// The new value is not a version.
    #[error(
        "refusing to write {value:?}: {reason}; a version is an OCI tag ([A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}), sha256:<64 hex>, or tag@sha256:<64 hex>"
    )]
    InvalidVersion {
        /// The refused value.
        value: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// The file is not UTF-8.
    #[error("the file is not valid UTF-8 (at byte {offset}); values files must be UTF-8")]
    NotUtf8 {
        /// Byte offset of the first invalid sequence.
        offset: usize,
    },
    /// The file does not parse as YAML.
    #[error("not valid YAML at line {line} column {column}: {message}; fix the file first")]
    InvalidYaml {
        /// 1-based line.
        line: usize,
        /// 1-based column, in characters.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// More than one YAML document in the file.
    #[error(
        "the file holds {count} YAML documents (separated by ---); only single-document values files are read or edited"
    )]
    MultipleDocuments {
        /// How many documents.
        count: usize,
    },
    /// The file holds no YAML document at all (empty or only comments).
    #[error("the file holds no YAML document; add the key to the file first")]
    NoDocument,
    /// A key on the path does not exist.
    #[error("{}", missing_message(key, at, *merge_key))]
    KeyMissing {
        /// The missing key.
        key: String,
        /// The path of the mapping that lacks it.
        at: String,
        /// Whether that mapping has a merge key (`<<`), which may be where the key comes from.
        merge_key: bool,
    },
    /// An index on the path is past the end of the sequence.
    #[error("index {index} is out of range: the sequence at {at} has {len} items")]
    IndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// The path of the sequence.
        at: String,
        /// Its length.
        len: usize,
    },
    /// The path expects a mapping or a sequence where the file has something else.
    #[error(
        "the path expects a {expected} at {at}, but the file has a {found} there (line {line})"
    )]
    WrongShape {
        /// Where.
        at: String,
        /// `mapping` or `sequence`.
        expected: &'static str,
        /// What is there.
        found: &'static str,
        /// 1-based line of the node.
        line: usize,
    },
    /// A mapping on the path has the same key twice.
    #[error(
        "the mapping at {at} has the key {key:?} more than once (again at line {line}); YAML readers disagree on duplicate keys: remove one"
    )]
    DuplicateKey {
        /// The duplicated key.
        key: String,
        /// The path of the mapping.
        at: String,
        /// 1-based line of the second occurrence.
        line: usize,
    },
    /// A node on the path is an alias of another node.
    #[error(
        "{at} is an alias (*) of a node anchored elsewhere (line {line}); editing through it would change the anchored node and every alias of it: edit the anchored node instead"
    )]
    ThroughAlias {
        /// The path of the alias.
        at: String,
        /// 1-based line.
        line: usize,
    },
    /// A node on the path carries an anchor that is aliased elsewhere.
    #[error(
        "{at} carries an anchor (&, line {line}) that is aliased elsewhere; the edit would change those places too: replace the alias with a copy first"
    )]
    SharedAnchor {
        /// The path of the anchored node.
        at: String,
        /// 1-based line.
        line: usize,
    },
    /// The value is an alias.
    #[error(
        "the value is an alias (*) of a node anchored elsewhere (line {line}); edit the anchored node, or replace the alias with the value"
    )]
    TargetAlias {
        /// 1-based line.
        line: usize,
    },
    /// The value carries an anchor.
    #[error(
        "the value carries an anchor (&, line {line}); other places may alias it: remove the anchor, or edit those places explicitly"
    )]
    TargetAnchor {
        /// 1-based line.
        line: usize,
    },
    /// The value is a literal (`|`) or folded (`>`) block scalar.
    #[error(
        "the value is a block scalar (| or >, line {line}), which cannot hold a version exactly: write it on one line (key: value)"
    )]
    BlockScalar {
        /// 1-based line.
        line: usize,
    },
    /// The value is a mapping or a sequence.
    #[error(
        "the value is a {found}, not a scalar (line {line}); point the path at a scalar, e.g. image.tag"
    )]
    NotScalar {
        /// `mapping` or `sequence`.
        found: &'static str,
        /// 1-based line.
        line: usize,
    },
    /// The value carries a tag other than `!!str`.
    #[error(
        "the value carries the tag {tag} (line {line}); only untagged or !!str scalars are read and edited"
    )]
    Tagged {
        /// The tag.
        tag: String,
        /// 1-based line.
        line: usize,
    },
    /// A plain value that readers take for something other than its text.
    #[error("{}", not_a_string_message(value, reading, *line))]
    NotAString {
        /// The text.
        value: String,
        /// What it reads as (`float`, `null`…).
        reading: &'static str,
        /// 1-based line.
        line: usize,
    },
    /// An empty value where the editor cannot insert one exactly.
    #[error(
        "the value is empty (line {line}) in a place where a value cannot be inserted exactly; write key: \"\" first"
    )]
    EmptyValue {
        /// 1-based line.
        line: usize,
    },
    /// Two paths of one `set_many` name the same value.
    #[error("the same value is named twice in one edit (also as {other}); give each field once")]
    SameValueTwice {
        /// The other spelling.
        other: String,
    },
    /// The edited file did not re-read as the original with one value changed.
    #[error("the edit could not be verified ({detail}); nothing was written")]
    VerifyFailed {
        /// What differed.
        detail: String,
    },
}

fn missing_message(key: &str, at: &str, merge_key: bool) -> String {
    if merge_key {
        format!(
            "the key {key:?} is not written in the mapping at {at}, which takes keys from a merge key (<<); the editor does not follow merge keys, because editing the merged node would change every mapping that merges it: add the key explicitly"
        )
    } else {
        format!(
            "the key {key:?} does not exist in the mapping at {at}; the editor never adds keys: add it to the file first"
        )
    }
}

fn not_a_string_message(value: &str, reading: &str, line: usize) -> String {
    if value.is_empty() {
        format!(
            "the value is empty (line {line}), which YAML reads as null; there is no version to read"
        )
    } else {
        format!(
            "the plain value {value:?} (line {line}) reads as a {reading} in YAML, so readers disagree on its text; quote it in the file (\"{value}\") to read it exactly"
        )
    }
}

impl ValuesErrorKind {
    /// Never retryable: refusals come from the bytes and the request, not from the moment.
    pub fn is_retryable(&self) -> bool {
        false
    }

    /// A short, stable label for metrics and Event reasons.
    pub fn label(&self) -> &'static str {
        match self {
            ValuesErrorKind::InvalidPath { .. } => "InvalidPath",
            ValuesErrorKind::InvalidVersion { .. } => "InvalidVersion",
            ValuesErrorKind::NotUtf8 { .. } => "NotUtf8",
            ValuesErrorKind::InvalidYaml { .. } => "InvalidYaml",
            ValuesErrorKind::MultipleDocuments { .. } => "MultipleDocuments",
            ValuesErrorKind::NoDocument => "NoDocument",
            ValuesErrorKind::KeyMissing { .. } => "KeyMissing",
            ValuesErrorKind::IndexOutOfRange { .. } => "IndexOutOfRange",
            ValuesErrorKind::WrongShape { .. } => "WrongShape",
            ValuesErrorKind::DuplicateKey { .. } => "DuplicateKey",
            ValuesErrorKind::ThroughAlias { .. } => "ThroughAlias",
            ValuesErrorKind::SharedAnchor { .. } => "SharedAnchor",
            ValuesErrorKind::TargetAlias { .. } => "TargetAlias",
            ValuesErrorKind::TargetAnchor { .. } => "TargetAnchor",
            ValuesErrorKind::BlockScalar { .. } => "BlockScalar",
            ValuesErrorKind::NotScalar { .. } => "NotScalar",
            ValuesErrorKind::Tagged { .. } => "Tagged",
            ValuesErrorKind::NotAString { .. } => "NotAString",
            ValuesErrorKind::EmptyValue { .. } => "EmptyValue",
            ValuesErrorKind::SameValueTwice { .. } => "SameValueTwice",
            ValuesErrorKind::VerifyFailed { .. } => "VerifyFailed",
        }
    }

    /// Whether the key or index is simply absent (the caller may treat that as "not set").
    pub fn is_missing(&self) -> bool {
        matches!(
            self,
            ValuesErrorKind::KeyMissing { .. }
                | ValuesErrorKind::IndexOutOfRange { .. }
                | ValuesErrorKind::NoDocument
        )
    }
}
