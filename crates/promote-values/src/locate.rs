//! Walking a path through the document, with the rules that make a read or an edit exact.

use saphyr_parser::{ScalarStyle, Tag};

use crate::doc::{Doc, Kind, NodeId};
use crate::error::ValuesErrorKind;
use crate::path::{Segment, ValuePath};
use crate::reading::{plain_reading, reads_back_exactly};

/// What the walk is for: reads may follow aliases, writes may not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Read,
    Write,
}

/// Finds the scalar node at `path`, refusing anything that would make the result inexact.
pub(crate) fn locate(
    doc: &Doc<'_>,
    path: &ValuePath,
    purpose: Purpose,
) -> Result<NodeId, ValuesErrorKind> {
    let mut cur = doc.root;
    for (depth, segment) in path.segments().iter().enumerate() {
        cur = enter(doc, cur, path, depth, purpose)?;
        let at = || path.prefix(depth);
        let kind = doc.ev(cur).kind;
        cur = match (segment, kind) {
            (Segment::Key(key), Kind::MappingStart) => find_key(doc, cur, key, &at())?,
            (Segment::Index(index), Kind::SequenceStart) => doc
                .children(cur)
                .nth(*index)
                .ok_or_else(|| ValuesErrorKind::IndexOutOfRange {
                    index: *index,
                    at: at(),
                    len: doc.children(cur).count(),
                })?,
            (segment, _) => {
                return Err(ValuesErrorKind::WrongShape {
                    at: at(),
                    expected: match segment {
                        Segment::Key(_) => "mapping",
                        Segment::Index(_) => "sequence",
                    },
                    found: doc.ev(cur).describe(),
                    line: doc.line(cur),
                });
            }
        };
    }
    let line = doc.line(cur);
    if let Kind::Alias(_) = doc.ev(cur).kind {
        match purpose {
            Purpose::Write => return Err(ValuesErrorKind::TargetAlias { line }),
            Purpose::Read => cur = enter(doc, cur, path, path.segments().len(), purpose)?,
        }
    }
    let ev = doc.ev(cur);
    if purpose == Purpose::Write && ev.anchor != 0 {
        return Err(ValuesErrorKind::TargetAnchor { line });
    }
    let Kind::Scalar(style) = ev.kind else {
        return Err(ValuesErrorKind::NotScalar {
            found: ev.describe(),
            line: ev.line,
        });
    };
    if let Some(tag) = ev.tag.as_deref().filter(|t| !is_str_tag(t)) {
        return Err(ValuesErrorKind::Tagged {
            tag: tag.to_string(),
            line,
        });
    }
    match style {
        ScalarStyle::Literal | ScalarStyle::Folded if purpose == Purpose::Write => {
            return Err(ValuesErrorKind::BlockScalar { line });
        }
        ScalarStyle::Plain
            if purpose == Purpose::Read && ev.tag.is_none() && !reads_back_exactly(&ev.value) =>
        {
            return Err(ValuesErrorKind::NotAString {
                value: ev.value.to_string(),
                reading: plain_reading(&ev.value).describe(),
                line: ev.line,
            });
        }
        _ => {}
    }
    Ok(cur)
}

/// Whether a tag keeps a scalar a string: `!!str`, or the non-specific `!`.
fn is_str_tag(tag: &Tag) -> bool {
    (tag.is_yaml_core_schema() && tag.suffix == "str")
        || (tag.handle == "!" && tag.suffix.is_empty())
}

/// Steps onto a node of the path: reads follow aliases; writes refuse aliases and shared anchors.
fn enter(
    doc: &Doc<'_>,
    id: NodeId,
    path: &ValuePath,
    depth: usize,
    purpose: Purpose,
) -> Result<NodeId, ValuesErrorKind> {
    let ev = doc.ev(id);
    let inside = depth < path.segments().len();
    match (purpose, ev.kind) {
        (Purpose::Read, Kind::Alias(anchor)) => {
            // The parser rejects aliases to unknown anchors, so the lookup only fails on a bug.
            doc.anchors
                .get(&anchor)
                .copied()
                .ok_or_else(|| ValuesErrorKind::VerifyFailed {
                    detail: format!("alias at line {} has no anchor", ev.line),
                })
        }
        (Purpose::Write, Kind::Alias(_)) if inside => Err(ValuesErrorKind::ThroughAlias {
            at: path.prefix(depth),
            line: ev.line,
        }),
        (Purpose::Write, _) if inside && ev.anchor != 0 && doc.aliased.contains(&ev.anchor) => {
            Err(ValuesErrorKind::SharedAnchor {
                at: path.prefix(depth),
                line: ev.line,
            })
        }
        _ => Ok(id),
    }
}

/// Finds `key` among a mapping's keys; refuses duplicate keys anywhere in the mapping.
fn find_key(
    doc: &Doc<'_>,
    mapping: NodeId,
    key: &str,
    at: &str,
) -> Result<NodeId, ValuesErrorKind> {
    // The string keys with their position, sorted to find duplicates: no hashing (a tenth of
    // a `set` on a mapping with thousands of keys), and no worst case slower than the sort.
    let mut names: Vec<(&str, NodeId)> = Vec::new();
    let mut found = None;
    let mut merge_key = false;
    let mut children = doc.children(mapping);
    while let (Some(k), Some(v)) = (children.next(), children.next()) {
        let ev = doc.ev(k);
        // Only string keys match: untagged, `!` or `!!str` (a `!!int 1` key is not "1").
        if !matches!(ev.kind, Kind::Scalar(_)) || !ev.tag.as_deref().is_none_or(is_str_tag) {
            continue;
        }
        let name: &str = &ev.value;
        names.push((name, k));
        if name == key && found.is_none() {
            found = Some(v);
        }
        if name == "<<" && ev.kind == Kind::Scalar(ScalarStyle::Plain) {
            merge_key = true;
        }
    }
    names.sort_unstable();
    // The first key, in file order, whose name came before: the earliest second occurrence.
    let duplicate = names
        .windows(2)
        .filter(|w| w[0].0 == w[1].0)
        .map(|w| w[1].1)
        .min();
    if let Some(k) = duplicate {
        let ev = doc.ev(k);
        return Err(ValuesErrorKind::DuplicateKey {
            key: ev.value.to_string(),
            at: at.to_owned(),
            line: ev.line,
        });
    }
    found.ok_or_else(|| ValuesErrorKind::KeyMissing {
        key: key.to_owned(),
        at: at.to_owned(),
        merge_key,
    })
}
