//! Walking a path through the tree, with the rules that make a read or an edit exact.

use std::collections::HashMap;

use saphyr_parser::{Event, ScalarStyle, Tag};

use crate::doc::{Doc, NodeId, NodeKind};
use crate::error::ValuesErrorKind;
use crate::path::{Segment, ValuePath};

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
        cur =
            match (segment, &doc.nodes[cur].kind) {
                (Segment::Key(key), NodeKind::Mapping(children)) => {
                    find_key(doc, children, key, &at())?
                }
                (Segment::Index(index), NodeKind::Sequence(items)) => *items
                    .get(*index)
                    .ok_or_else(|| ValuesErrorKind::IndexOutOfRange {
                        index: *index,
                        at: at(),
                        len: items.len(),
                    })?,
                (segment, kind) => {
                    return Err(ValuesErrorKind::WrongShape {
                        at: at(),
                        expected: match segment {
                            Segment::Key(_) => "mapping",
                            Segment::Index(_) => "sequence",
                        },
                        found: describe(doc, cur, kind),
                        line: doc.line(cur),
                    });
                }
            };
    }
    let line = doc.line(cur);
    match (purpose, &doc.nodes[cur].kind) {
        (Purpose::Write, NodeKind::Alias(_)) => return Err(ValuesErrorKind::TargetAlias { line }),
        (Purpose::Read, NodeKind::Alias(_)) => {
            cur = enter(doc, cur, path, path.segments().len(), purpose)?
        }
        _ => {}
    }
    if purpose == Purpose::Write && doc.nodes[cur].anchor != 0 {
        return Err(ValuesErrorKind::TargetAnchor { line });
    }
    let Event::Scalar(value, style, _, tag) = doc.event(cur) else {
        return Err(ValuesErrorKind::NotScalar {
            found: doc.nodes[cur].kind.describe(),
            line: doc.line(cur),
        });
    };
    if let Some(tag) = tag.as_ref().filter(|t| !is_str_tag(t)) {
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
            if purpose == Purpose::Read
                && tag.is_none()
                && !crate::reading::reads_back_exactly(value) =>
        {
            return Err(ValuesErrorKind::NotAString {
                value: value.to_string(),
                reading: crate::reading::plain_reading(value).describe(),
                line: doc.line(cur),
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
    let node = &doc.nodes[id];
    match (purpose, &node.kind) {
        (Purpose::Read, NodeKind::Alias(anchor)) => {
            // The parser rejects aliases to unknown anchors, so the lookup only fails on a bug.
            doc.anchors
                .get(anchor)
                .copied()
                .ok_or_else(|| ValuesErrorKind::VerifyFailed {
                    detail: format!("alias at line {} has no anchor", doc.line(id)),
                })
        }
        (Purpose::Write, NodeKind::Alias(_)) if depth < path.segments().len() => {
            Err(ValuesErrorKind::ThroughAlias {
                at: path.prefix(depth),
                line: doc.line(id),
            })
        }
        (Purpose::Write, _)
            if node.anchor != 0
                && doc.aliased.contains(&node.anchor)
                && depth < path.segments().len() =>
        {
            Err(ValuesErrorKind::SharedAnchor {
                at: path.prefix(depth),
                line: doc.line(id),
            })
        }
        _ => Ok(id),
    }
}

/// Finds `key` among a mapping's keys; refuses duplicate keys anywhere in the mapping.
fn find_key(
    doc: &Doc<'_>,
    children: &[NodeId],
    key: &str,
    at: &str,
) -> Result<NodeId, ValuesErrorKind> {
    let mut seen: HashMap<&str, ()> = HashMap::with_capacity(children.len() / 2);
    let mut found = None;
    let mut merge_key = false;
    for pair in children.chunks(2) {
        let [k, v] = pair else { continue };
        // Only string keys match: untagged, `!` or `!!str` (a `!!int 1` key is not "1").
        let Event::Scalar(name, _, _, tag) = doc.event(*k) else {
            continue;
        };
        if !tag.as_ref().is_none_or(|t| is_str_tag(t)) {
            continue;
        }
        let name: &str = name;
        if seen.insert(name, ()).is_some() {
            return Err(ValuesErrorKind::DuplicateKey {
                key: name.to_owned(),
                at: at.to_owned(),
                line: doc.line(*k),
            });
        }
        if name == key {
            found = Some(*v);
        }
        if name == "<<" && matches!(doc.event(*k), Event::Scalar(_, ScalarStyle::Plain, ..)) {
            merge_key = true;
        }
    }
    found.ok_or_else(|| ValuesErrorKind::KeyMissing {
        key: key.to_owned(),
        at: at.to_owned(),
        merge_key,
    })
}

/// Names what sits where the path expected a collection, for messages.
fn describe(doc: &Doc<'_>, id: NodeId, kind: &NodeKind) -> &'static str {
    match (kind, doc.scalar(id)) {
        (NodeKind::Scalar, Some("")) => "empty value",
        _ => kind.describe(),
    }
}
