//! A parsed values file: saphyr-parser's event stream plus a tree over it.
//!
//! saphyr-parser reports positions in characters; [`Doc::byte_offset`] converts them
//! (a BOM and `\r` each count as one character, multibyte characters as one).

use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};

use saphyr_parser::{Event, Parser, Span};

use crate::error::ValuesErrorKind;

/// Index of a node in [`Doc::nodes`].
pub(crate) type NodeId = usize;

/// One node of the document.
#[derive(Debug)]
pub(crate) struct Node {
    pub kind: NodeKind,
    /// Index of the node's (start) event.
    pub event: usize,
    /// Index of the node's last event (the end event of a collection).
    pub end_event: usize,
    pub parent: Option<NodeId>,
    /// saphyr's anchor id, 0 when the node has no anchor.
    pub anchor: usize,
}

#[derive(Debug)]
pub(crate) enum NodeKind {
    Scalar,
    Alias(usize),
    Sequence(Vec<NodeId>),
    /// Keys and values alternate.
    Mapping(Vec<NodeId>),
}

impl NodeKind {
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            NodeKind::Scalar => "scalar",
            NodeKind::Alias(_) => "alias",
            NodeKind::Sequence(_) => "sequence",
            NodeKind::Mapping(_) => "mapping",
        }
    }
}

/// Characters between checkpoints of the char-to-byte table.
const CHECKPOINT: usize = 1024;

#[derive(Debug)]
pub(crate) struct Doc<'a> {
    pub src: &'a str,
    pub events: Vec<(Event<'a>, Span)>,
    pub nodes: Vec<Node>,
    pub root: NodeId,
    pub anchors: HashMap<usize, NodeId>,
    /// Anchor ids that some alias refers to.
    pub aliased: HashSet<usize>,
    /// Byte offset of every `CHECKPOINT`-th character; built on first use, for non-ASCII text.
    checkpoints: OnceCell<Vec<usize>>,
}

/// Parses the whole stream: exactly one document, valid YAML.
pub(crate) fn parse(src: &str) -> Result<Doc<'_>, ValuesErrorKind> {
    let events = events(src)?;
    let documents = events
        .iter()
        .filter(|(e, _)| matches!(e, Event::DocumentStart(_)))
        .count();
    match documents {
        0 => return Err(ValuesErrorKind::NoDocument),
        1 => {}
        count => return Err(ValuesErrorKind::MultipleDocuments { count }),
    }
    let mut nodes: Vec<Node> = Vec::new();
    let mut anchors = HashMap::new();
    let mut aliased = HashSet::new();
    let mut open: Vec<NodeId> = Vec::new();
    let mut root = None;
    for (i, (event, _)) in events.iter().enumerate() {
        let (kind, anchor) = match event {
            Event::Scalar(_, _, anchor, _) => (NodeKind::Scalar, *anchor),
            Event::Alias(id) => {
                aliased.insert(*id);
                (NodeKind::Alias(*id), 0)
            }
            Event::SequenceStart(anchor, _) => (NodeKind::Sequence(Vec::new()), *anchor),
            Event::MappingStart(anchor, _) => (NodeKind::Mapping(Vec::new()), *anchor),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(id) = open.pop() {
                    nodes[id].end_event = i;
                }
                continue;
            }
            _ => continue,
        };
        let id = nodes.len();
        let is_collection = matches!(kind, NodeKind::Sequence(_) | NodeKind::Mapping(_));
        let parent = open.last().copied();
        match parent {
            Some(p) => match &mut nodes[p].kind {
                NodeKind::Sequence(children) | NodeKind::Mapping(children) => children.push(id),
                NodeKind::Scalar | NodeKind::Alias(_) => {}
            },
            None => root = root.or(Some(id)),
        }
        if anchor != 0 {
            anchors.insert(anchor, id);
        }
        nodes.push(Node {
            kind,
            event: i,
            end_event: i,
            parent,
            anchor,
        });
        if is_collection {
            open.push(id);
        }
    }
    let root = root.ok_or(ValuesErrorKind::NoDocument)?;
    let doc = Doc {
        src,
        events,
        nodes,
        root,
        anchors,
        aliased,
        checkpoints: OnceCell::new(),
    };
    // A document that is only `---` or `--- # comment` holds nothing to read.
    if matches!(&doc.events[doc.nodes[root].event].0, Event::Scalar(v, saphyr_parser::ScalarStyle::Plain, 0, None) if v.is_empty())
    {
        return Err(ValuesErrorKind::NoDocument);
    }
    Ok(doc)
}

/// The full event stream, or the first parse error.
pub(crate) fn events(src: &str) -> Result<Vec<(Event<'_>, Span)>, ValuesErrorKind> {
    let mut parser = Parser::new_from_str(src);
    let mut out = Vec::new();
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|e| ValuesErrorKind::InvalidYaml {
            line: e.marker().line(),
            column: e.marker().col() + 1,
            message: e.info().to_owned(),
        })?;
        let end = matches!(event, Event::StreamEnd);
        out.push((event, span));
        if end {
            break;
        }
    }
    Ok(out)
}

impl<'a> Doc<'a> {
    /// The event a node starts with.
    pub(crate) fn event(&self, id: NodeId) -> &Event<'a> {
        &self.events[self.nodes[id].event].0
    }

    /// The span of the node's start event, in characters.
    pub(crate) fn span(&self, id: NodeId) -> Span {
        self.events[self.nodes[id].event].1
    }

    /// 1-based line where the node starts.
    pub(crate) fn line(&self, id: NodeId) -> usize {
        self.span(id).start.line()
    }

    /// The scalar value of a node, if it is a scalar.
    pub(crate) fn scalar(&self, id: NodeId) -> Option<&str> {
        match self.event(id) {
            Event::Scalar(value, ..) => Some(value),
            _ => None,
        }
    }

    /// Converts a character index from saphyr-parser into a byte offset into `src`.
    pub(crate) fn byte_offset(&self, char_index: usize) -> usize {
        if self.src.is_ascii() {
            return char_index.min(self.src.len());
        }
        let checkpoints = self.checkpoints.get_or_init(|| {
            self.src
                .char_indices()
                .step_by(CHECKPOINT)
                .map(|(b, _)| b)
                .collect()
        });
        let slot = char_index / CHECKPOINT;
        let Some(&base) = checkpoints.get(slot) else {
            return self.src.len();
        };
        self.src[base..]
            .char_indices()
            .nth(char_index - slot * CHECKPOINT)
            .map_or(self.src.len(), |(b, _)| base + b)
    }

    /// Whether the node is a flow collection (`{…}` or `[…]`), or sits inside one.
    pub(crate) fn in_flow(&self, id: NodeId) -> bool {
        let mut cur = Some(id);
        while let Some(n) = cur {
            if matches!(
                self.nodes[n].kind,
                NodeKind::Sequence(_) | NodeKind::Mapping(_)
            ) {
                // A flow collection's start event spans its properties and the opening bracket;
                // a block collection's spans at most its properties and the following blanks.
                let span = self.span(n);
                if span.end.index() > span.start.index() {
                    let at = self.byte_offset(span.end.index() - 1);
                    if matches!(self.src.as_bytes().get(at), Some(b'{' | b'[')) {
                        return true;
                    }
                }
            }
            cur = self.nodes[n].parent;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_indices_map_to_bytes_with_bom_crlf_and_multibyte_text() {
        // Long enough to cross several checkpoints.
        let mut src = String::from("\u{feff}# ünïcödé ✓ 🚀\r\n");
        for i in 0..300 {
            src.push_str(&format!("k{i}: \"värde-{i}\" # ☃ {i}\r\n"));
        }
        src.push_str("last: v🚀\r\n");
        let doc = parse(&src).expect("parses");
        for (event, span) in &doc.events {
            if let Event::Scalar(value, style, ..) = event {
                let start = doc.byte_offset(span.start.index());
                let text = &src[start..];
                let expected = match style {
                    saphyr_parser::ScalarStyle::DoubleQuoted => format!("\"{value}\""),
                    _ => value.to_string(),
                };
                assert!(
                    text.starts_with(&expected),
                    "{value:?} at byte {start}: {:?}",
                    &text[..20]
                );
            }
        }
    }

    #[test]
    fn detects_flow_context() {
        let src = "a: {b: [c, {d: e}], f: g}\nh:\n  i: j\nk: &x [1]\nl: &y\n  - [m]\n";
        let doc = parse(src).expect("parses");
        let flow: Vec<(String, bool)> = (0..doc.nodes.len())
            .filter_map(|n| doc.scalar(n).map(|v| (v.to_owned(), doc.in_flow(n))))
            .collect();
        let get = |name: &str| flow.iter().find(|(v, _)| v == name).map(|(_, f)| *f);
        for name in ["b", "c", "d", "e", "f", "g", "1", "m"] {
            assert_eq!(get(name), Some(true), "{name}");
        }
        for name in ["a", "h", "i", "j", "k", "l"] {
            assert_eq!(get(name), Some(false), "{name}");
        }
    }

    #[test]
    fn counts_documents() {
        assert!(matches!(
            parse("a: 1\n---\nb: 2\n"),
            Err(ValuesErrorKind::MultipleDocuments { count: 2 })
        ));
        assert!(matches!(
            parse("a: 1\n---\n"),
            Err(ValuesErrorKind::MultipleDocuments { count: 2 })
        ));
        assert!(matches!(
            parse("# nothing\n"),
            Err(ValuesErrorKind::NoDocument)
        ));
        assert!(matches!(
            parse("--- # c\n...\n"),
            Err(ValuesErrorKind::NoDocument)
        ));
        assert!(parse("--- # c\na: 1\n...\n# after\n").is_ok());
    }
}
