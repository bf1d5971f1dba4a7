//! Byte-exact get and set of one scalar in a YAML values file.
//!
//! Only the bytes of the edited scalar change: comments, quoting, key order, indentation,
//! blank lines, CRLF, a BOM and a missing final newline all survive. Whatever cannot be
//! edited exactly is refused with a [`ValuesError`] that names the file, the path and the
//! reason, and the caller writes nothing. After every edit the new text is parsed again and
//! compared with the old one: only the edited values may differ.
//!
//! Parsing is saphyr-parser (pure Rust, YAML 1.2, passes the YAML test suite). Its spans
//! are in characters, and a quoted scalar's span can run past the closing quote, so the
//! editor converts offsets itself and finds quoted tokens' ends by scanning.
//!
//! ```
//! let file = b"image:\n  repository: web\n  tag: v1.29 # bumped by CI\n";
//! let edit = promote_values::set("values.yaml", file, "image.tag", "1.30")?;
//! // `1.30` would read as the float 1.3, so it is written quoted; nothing else changes.
//! assert_eq!(edit.content, b"image:\n  repository: web\n  tag: \"1.30\" # bumped by CI\n");
//! assert_eq!(edit.previous, "v1.29");
//! assert_eq!(promote_values::get("values.yaml", &edit.content, "image.tag")?, "1.30");
//! # Ok::<(), promote_values::ValuesError>(())
//! ```
//!
//! This crate does no I/O and must not depend on the Kubernetes, git or async crates: the
//! operator, the git engine and the CLI all call it on bytes they read themselves.

mod doc;
mod edit;
mod error;
mod fast;
mod locate;
mod path;
mod reading;
mod version;

use std::borrow::Cow;
use std::ops::Range;

pub use error::{ValuesError, ValuesErrorKind};
pub use path::{PathError, Segment, ValuePath};
pub use reading::{PlainReading, plain_reading};
pub use version::{Version, VersionError, validate_version};

use locate::Purpose;

/// The result of [`set`]: the new file and what happened to the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The whole file after the edit (equal to the input when nothing changed).
    pub content: Vec<u8>,
    /// The value before the edit (decoded; empty for an empty value).
    pub previous: String,
    /// Whether any byte changed.
    pub changed: bool,
    /// Byte range of the value's token in `content`, quotes included.
    pub span: Range<usize>,
}

/// The result of [`set_many`]: the new file and what happened to each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edits {
    /// The whole file after all edits (equal to the input when nothing changed).
    pub content: Vec<u8>,
    /// One entry per requested field, in request order.
    pub fields: Vec<FieldEdit>,
    /// Whether any byte changed.
    pub changed: bool,
}

/// What happened to one field of a [`set_many`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldEdit {
    /// The path as given.
    pub path: String,
    /// The value before the edit.
    pub previous: String,
    /// The value written.
    pub value: String,
    /// Whether this field's bytes changed.
    pub changed: bool,
    /// Byte range of the value's token in [`Edits::content`], quotes included.
    pub span: Range<usize>,
}

/// Reads the scalar at `path`. `file` only labels errors.
///
/// Follows aliases and reads block scalars, but refuses a plain value that YAML readers
/// take for something other than its text (`1.30` is the float 1.3 to Helm, `yes` a bool
/// to YAML 1.1, an empty value is null); canonical integers and `true`/`false` are read.
pub fn get(file: &str, content: &[u8], path: &str) -> Result<String, ValuesError> {
    get_with(file, content, path, true)
}

/// [`get`], with the fast reader first (`fast`) or with only the full parse.
fn get_with(file: &str, content: &[u8], path: &str, fast: bool) -> Result<String, ValuesError> {
    let err = |kind| ValuesError::new(file, path, kind);
    let parsed = ValuePath::parse(path).map_err(|e| {
        err(ValuesErrorKind::InvalidPath {
            reason: e.to_string(),
        })
    })?;
    let src = utf8(content).map_err(err)?;
    if fast {
        // Refusals, as for set, come from the full parse.
        let read = fast::parse(src, fast::Keep::Paths(&[parsed.segments()]))
            .ok()
            .and_then(|doc| {
                let node = locate::locate(&doc, &parsed, Purpose::Read).ok()?;
                Some(doc.scalar(node).unwrap_or_default().to_owned())
            });
        if let Some(value) = read {
            return Ok(value);
        }
    }
    let doc = doc::parse(src).map_err(err)?;
    let node = locate::locate(&doc, &parsed, Purpose::Read).map_err(err)?;
    Ok(doc.scalar(node).unwrap_or_default().to_owned())
}

/// Writes the version `value` at `path`, changing only that scalar's bytes.
///
/// Setting the value the scalar already holds succeeds with `changed: false`.
pub fn set(file: &str, content: &[u8], path: &str, value: &str) -> Result<Edit, ValuesError> {
    set_parts(file, content, path, value).map(EditParts::into_edit)
}

/// The result of [`set_parts`]: the new file in three pieces, without a copy of the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditParts<'c> {
    /// The new file is these, one after the other: usually the input before the value's
    /// token, the new token and the input after it; or the whole new file and two empty
    /// pieces, when the file had to be built to be checked.
    pub parts: [Cow<'c, [u8]>; 3],
    /// The value before the edit (decoded; empty for an empty value).
    pub previous: String,
    /// Whether any byte changed.
    pub changed: bool,
    /// Byte range of the value's token in the new file, quotes included.
    pub span: Range<usize>,
}

impl EditParts<'_> {
    /// The new file in one buffer, as [`set`] returns it.
    pub fn into_edit(self) -> Edit {
        let [a, b, c] = self.parts;
        let content = match a {
            Cow::Owned(whole) if b.is_empty() && c.is_empty() => whole,
            a => {
                // One allocation and one copy of each piece.
                let mut content = Vec::with_capacity(a.len() + b.len() + c.len());
                content.extend_from_slice(&a);
                content.extend_from_slice(&b);
                content.extend_from_slice(&c);
                content
            }
        };
        Edit {
            content,
            previous: self.previous,
            changed: self.changed,
            span: self.span,
        }
    }
}

/// [`set`], with the new file left in pieces for a caller that writes it out: the same
/// checks, refusals and bytes, without building a copy of the whole file.
pub fn set_parts<'c>(
    file: &str,
    content: &'c [u8],
    path: &str,
    value: &str,
) -> Result<EditParts<'c>, ValuesError> {
    set_parts_with(file, content, path, value, true)
}

/// [`set_parts`], with the fast path (`fast`) or with only the full parse and re-parse.
fn set_parts_with<'c>(
    file: &str,
    content: &'c [u8],
    path: &str,
    value: &str,
    fast: bool,
) -> Result<EditParts<'c>, ValuesError> {
    let fields = [(path, value)];
    let requests = requests(file, &fields)?;
    apply_fields(file, content, &requests, fast)?
        .into_parts()
        .ok_or_else(|| {
            ValuesError::new(
                file,
                path,
                ValuesErrorKind::VerifyFailed {
                    detail: "no field was edited".into(),
                },
            )
        })
}

/// Writes several versions into one file in one pass: all of them, or none.
pub fn set_many<P: AsRef<str>, V: AsRef<str>>(
    file: &str,
    content: &[u8],
    fields: &[(P, V)],
) -> Result<Edits, ValuesError> {
    set_many_with(file, content, fields, true)
}

/// [`set_many`], with the fast path (`fast`) or with only the full parse and full re-parse,
/// which the tests hold the fast path against.
fn set_many_with<P: AsRef<str>, V: AsRef<str>>(
    file: &str,
    content: &[u8],
    fields: &[(P, V)],
    fast: bool,
) -> Result<Edits, ValuesError> {
    let requests = requests(file, fields)?;
    Ok(apply_fields(file, content, &requests, fast)?.into_edits())
}

/// Parses every path and validates every value, in request order.
fn requests<'f, P: AsRef<str>, V: AsRef<str>>(
    file: &str,
    fields: &'f [(P, V)],
) -> Result<Vec<Request<'f>>, ValuesError> {
    let mut requests = Vec::with_capacity(fields.len());
    for (path, value) in fields {
        let (path, value) = (path.as_ref(), value.as_ref());
        let err = |kind| ValuesError::new(file, path, kind);
        let p = ValuePath::parse(path).map_err(|e| {
            err(ValuesErrorKind::InvalidPath {
                reason: e.to_string(),
            })
        })?;
        validate_version(value).map_err(|e| {
            err(ValuesErrorKind::InvalidVersion {
                value: value.to_owned(),
                reason: e.reason,
            })
        })?;
        requests.push((path, p, value));
    }
    Ok(requests)
}

/// Plans and checks every edit; the new bytes are built here only where the full re-parse
/// needs them.
fn apply_fields<'c, 'r>(
    file: &str,
    content: &'c [u8],
    requests: &'r [Request<'r>],
    fast: bool,
) -> Result<Applied<'c, 'r>, ValuesError> {
    let all_paths = || {
        let paths: Vec<&str> = requests.iter().map(|(p, ..)| *p).collect();
        paths.join(", ")
    };
    let src = utf8(content).map_err(|k| ValuesError::new(file, &all_paths(), k))?;
    if fast {
        // Anything the fast path does not cover, refusals included, is decided below.
        if let Some(plan) = try_fast(file, src, requests) {
            return Ok(Applied {
                src,
                built: None,
                plan,
            });
        }
    }
    let doc = doc::parse(src).map_err(|k| ValuesError::new(file, &all_paths(), k))?;
    let plan = plan_all(file, &doc, requests, &all_paths)?;
    let (new_content, sorted_spans) = edit::apply(src, &plan.sorted());
    if plan.changed() {
        let new_src = std::str::from_utf8(&new_content).map_err(|e| {
            ValuesError::new(
                file,
                &all_paths(),
                ValuesErrorKind::VerifyFailed {
                    detail: format!("the edited text is not UTF-8 ({e})"),
                },
            )
        })?;
        let targets: Vec<(doc::NodeId, &str)> =
            plan.fields.iter().map(|(_, n, v, _)| (*n, *v)).collect();
        edit::verify(&doc, new_src, &targets)
            .map_err(|k| ValuesError::new(file, &all_paths(), k))?;
    }
    Ok(Applied {
        src,
        built: Some((new_content, sorted_spans)),
        plan,
    })
}

/// The fast path's checked plan, or `None` to leave the decision to the full parse.
fn try_fast<'r>(file: &str, src: &str, requests: &'r [Request<'r>]) -> Option<Plan<'r>> {
    let paths: Vec<&[Segment]> = requests.iter().map(|(_, p, _)| p.segments()).collect();
    // The plan owns all it needs, so the events go before anything else is allocated: the
    // call then holds little besides the input.
    let plan = {
        let doc = fast::parse(src, fast::Keep::Paths(&paths)).ok()?;
        plan_all(file, &doc, requests, &String::new).ok()?
    };
    let sorted = plan.sorted();
    // Filling in an empty value inserts a token where there was none: the full path checks it.
    if sorted.iter().any(|s| s.range.is_empty()) {
        return None;
    }
    if plan.changed() {
        let values: Vec<&str> = plan.order.iter().map(|&i| plan.fields[i].2).collect();
        if !fast::verify_lines(src, &sorted, &values) {
            return None;
        }
    }
    Some(plan)
}

/// A checked edit: the input and the plan, and the new bytes with the tokens' spans where
/// the full path built them.
struct Applied<'c, 'r> {
    src: &'c str,
    built: Option<(Vec<u8>, Vec<Range<usize>>)>,
    plan: Plan<'r>,
}

impl<'c> Applied<'c, '_> {
    fn into_edits(self) -> Edits {
        let (content, spans) = match self.built {
            Some(built) => built,
            None => edit::apply(self.src, &self.plan.sorted()),
        };
        self.plan.finish(content, spans)
    }

    /// The edit of the one field, in pieces; `None` if there is not exactly one.
    fn into_parts(self) -> Option<EditParts<'c>> {
        let [(_, _, _, splice)] = <[_; 1]>::try_from(self.plan.fields).ok()?;
        let (parts, span) = match self.built {
            Some((content, spans)) => {
                let span = spans.into_iter().next()?;
                let empty = || Cow::Borrowed(&[][..]);
                ([Cow::Owned(content), empty(), empty()], span)
            }
            None => {
                let bytes = self.src.as_bytes();
                let token = splice.range.start + splice.token_start;
                let span = token..splice.range.start + splice.text.len();
                let parts = [
                    Cow::Borrowed(bytes.get(..splice.range.start)?),
                    Cow::Owned(splice.text.into_bytes()),
                    Cow::Borrowed(bytes.get(splice.range.end..)?),
                ];
                (parts, span)
            }
        };
        Some(EditParts {
            parts,
            previous: splice.previous,
            changed: splice.changed,
            span,
        })
    }
}

/// One requested field: the path as given, parsed, and the value.
type Request<'r> = (&'r str, ValuePath, &'r str);

/// Every field located and planned on one document.
struct Plan<'r> {
    fields: Vec<(&'r str, doc::NodeId, &'r str, edit::Splice)>,
    /// Indexes into `fields` in file order.
    order: Vec<usize>,
}

impl<'r> Plan<'r> {
    fn sorted(&self) -> Vec<&edit::Splice> {
        self.order.iter().map(|&i| &self.fields[i].3).collect()
    }

    fn changed(&self) -> bool {
        self.fields.iter().any(|(.., s)| s.changed)
    }

    fn finish(self, content: Vec<u8>, sorted_spans: Vec<Range<usize>>) -> Edits {
        let changed = self.changed();
        let mut spans = vec![0..0; self.fields.len()];
        for (sorted, &i) in self.order.iter().enumerate() {
            spans[i] = sorted_spans[sorted].clone();
        }
        let fields = self
            .fields
            .into_iter()
            .zip(spans)
            .map(|((path, _, value, splice), span)| FieldEdit {
                path: path.to_owned(),
                previous: splice.previous,
                value: value.to_owned(),
                changed: splice.changed,
                span,
            })
            .collect();
        Edits {
            content,
            fields,
            changed,
        }
    }
}

/// Locates and plans every field; refuses two fields on one value and overlapping tokens.
fn plan_all<'r>(
    file: &str,
    doc: &doc::Doc<'_>,
    requests: &'r [Request<'r>],
    all_paths: &dyn Fn() -> String,
) -> Result<Plan<'r>, ValuesError> {
    let mut fields: Vec<(&str, doc::NodeId, &str, edit::Splice)> =
        Vec::with_capacity(requests.len());
    for (path, p, value) in requests {
        let err = |kind| ValuesError::new(file, path, kind);
        let node = locate::locate(doc, p, Purpose::Write).map_err(err)?;
        if let Some((other, ..)) = fields.iter().find(|(_, n, ..)| *n == node) {
            return Err(err(ValuesErrorKind::SameValueTwice {
                other: (*other).to_owned(),
            }));
        }
        let splice = edit::plan(doc, node, value).map_err(err)?;
        fields.push((*path, node, *value, splice));
    }
    let mut order: Vec<usize> = (0..fields.len()).collect();
    order.sort_by_key(|&i| fields[i].3.range.start);
    if order
        .windows(2)
        .any(|w| fields[w[0]].3.range.end > fields[w[1]].3.range.start)
    {
        return Err(ValuesError::new(
            file,
            &all_paths(),
            ValuesErrorKind::VerifyFailed {
                detail: "two values overlap in the file".into(),
            },
        ));
    }
    Ok(Plan { fields, order })
}

fn utf8(content: &[u8]) -> Result<&str, ValuesErrorKind> {
    std::str::from_utf8(content).map_err(|e| ValuesErrorKind::NotUtf8 {
        offset: e.valid_up_to(),
    })
}
