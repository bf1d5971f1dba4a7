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
    // The string keys with their position. Duplicates are found by sorting fingerprints, not
    // by hashing every key into a set (SipHash was a tenth of a `set` on a mapping with
    // thousands of keys): only keys with equal fingerprints are then compared, and even if
    // all of them collide this costs no more than sorting the keys.
    let mut names: Vec<(u64, NodeId)> = Vec::new();
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
        names.push((fingerprint(name), k));
        if name == key && found.is_none() {
            found = Some(v);
        }
        if name == "<<" && ev.kind == Kind::Scalar(ScalarStyle::Plain) {
            merge_key = true;
        }
    }
    if let Some(k) = first_duplicate(&mut names, |k| &doc.ev(k).value) {
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

/// The first key, in file order, whose name came before: the earliest second occurrence.
fn first_duplicate<'d>(
    names: &mut [(u64, NodeId)],
    name: impl Fn(NodeId) -> &'d str,
) -> Option<NodeId> {
    names.sort_unstable();
    let mut first: Option<NodeId> = None;
    let mut group = 0;
    while group < names.len() {
        let f = names[group].0;
        let len = names[group..].iter().take_while(|n| n.0 == f).count();
        if len > 1 {
            // Equal fingerprints: compare the names themselves.
            let mut same: Vec<(&str, NodeId)> = names[group..group + len]
                .iter()
                .map(|&(_, k)| (name(k), k))
                .collect();
            same.sort_unstable();
            let dup = same
                .windows(2)
                .filter(|w| w[0].0 == w[1].0)
                .map(|w| w[1].1)
                .min();
            first = match (first, dup) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        group += len;
    }
    first
}

/// A 64-bit fingerprint of a key: a multiply-rotate mix, eight bytes at a time.
fn fingerprint(name: &str) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = name.len() as u64;
    let mut chunks = name.as_bytes().chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(29);
    }
    let mut w = [0u8; 8];
    w[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(29);
    h ^ (h >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys 0.. named by `names`, every one with the fingerprint `fingerprint(i)`.
    fn duplicate_in(names: &[&str], fingerprint: impl Fn(usize) -> u64) -> Option<NodeId> {
        let mut keyed: Vec<(u64, NodeId)> = (0..names.len()).map(|i| (fingerprint(i), i)).collect();
        first_duplicate(&mut keyed, |k| names[k])
    }

    #[test]
    fn the_first_second_occurrence_is_reported_whatever_the_fingerprints() {
        let names = ["b", "a", "c", "a", "b", "c"];
        // The real fingerprints, all colliding, and some colliding.
        assert_eq!(duplicate_in(&names, |i| fingerprint(names[i])), Some(3));
        assert_eq!(duplicate_in(&names, |_| 7), Some(3));
        assert_eq!(
            duplicate_in(&names, |i| u64::from(names[i] == "a")),
            Some(3)
        );
        let unique = ["a", "b", "c", "d"];
        assert_eq!(duplicate_in(&unique, |_| 7), None);
        assert_eq!(duplicate_in(&unique, |i| fingerprint(unique[i])), None);
        assert_eq!(duplicate_in(&[], |_| 0), None);
    }
}
