//! A parsed values file: saphyr-parser's event stream, kept compact, with enough structure
//! (each collection's last event, each node's parent) to walk it like a tree.
//!
//! saphyr-parser reports positions in characters; [`Doc::byte_offset`] converts them
//! (a BOM and `\r` each count as one character, multibyte characters as one).

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

use crate::error::ValuesErrorKind;

/// A node is named by the index of its (start) event.
pub(crate) type NodeId = usize;

/// Parent of top-level nodes.
pub(crate) const NO_PARENT: usize = usize::MAX;

/// What an event is, without its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    StreamStart,
    StreamEnd,
    DocumentStart(bool),
    DocumentEnd,
    /// An alias of the anchor with this id.
    Alias(usize),
    Scalar(ScalarStyle),
    SequenceStart,
    SequenceEnd,
    MappingStart,
    MappingEnd,
}

/// One event, as much of it as the editor needs, in a quarter of saphyr's footprint.
#[derive(Debug)]
pub(crate) struct Ev<'a> {
    pub kind: Kind,
    /// Anchor id defined on this node, 0 for none.
    pub anchor: usize,
    /// A scalar's value (empty for other events).
    pub value: Cow<'a, str>,
    pub tag: Option<Box<Tag>>,
    /// Character positions of the event's span.
    pub start: usize,
    pub end: usize,
    /// 1-based line of the span's start.
    pub line: usize,
    /// Index of the node's last event: the end event of a collection, itself otherwise.
    pub last: usize,
    /// The enclosing collection's start event, [`NO_PARENT`] at the top.
    pub parent: usize,
}

impl Ev<'_> {
    /// Whether a freshly parsed event is this one (positions aside).
    pub(crate) fn same_as(&self, event: &Event<'_>) -> bool {
        let (kind, anchor, value, tag) = describe(event);
        kind == self.kind
            && anchor == self.anchor
            && value == self.value.as_ref()
            && tag == self.tag.as_deref()
    }

    pub(crate) fn is_collection(&self) -> bool {
        matches!(self.kind, Kind::SequenceStart | Kind::MappingStart)
    }

    /// A word for messages.
    pub(crate) fn describe(&self) -> &'static str {
        match self.kind {
            Kind::Scalar(_) if self.value.is_empty() => "empty value",
            Kind::Scalar(_) => "scalar",
            Kind::Alias(_) => "alias",
            Kind::SequenceStart => "sequence",
            Kind::MappingStart => "mapping",
            _ => "document marker",
        }
    }
}

/// Splits an event into kind, anchor, scalar value and tag.
fn describe<'e>(event: &'e Event<'_>) -> (Kind, usize, &'e str, Option<&'e Tag>) {
    match event {
        Event::Scalar(value, style, anchor, tag) => {
            (Kind::Scalar(*style), *anchor, value, tag.as_deref())
        }
        Event::Alias(id) => (Kind::Alias(*id), 0, "", None),
        Event::SequenceStart(anchor, tag) => (Kind::SequenceStart, *anchor, "", tag.as_deref()),
        Event::MappingStart(anchor, tag) => (Kind::MappingStart, *anchor, "", tag.as_deref()),
        Event::SequenceEnd => (Kind::SequenceEnd, 0, "", None),
        Event::MappingEnd => (Kind::MappingEnd, 0, "", None),
        Event::DocumentStart(explicit) => (Kind::DocumentStart(*explicit), 0, "", None),
        Event::DocumentEnd => (Kind::DocumentEnd, 0, "", None),
        Event::StreamStart | Event::Nothing => (Kind::StreamStart, 0, "", None),
        Event::StreamEnd => (Kind::StreamEnd, 0, "", None),
    }
}

/// Characters between checkpoints of the char-to-byte table.
const CHECKPOINT: usize = 1024;

#[derive(Debug)]
pub(crate) struct Doc<'a> {
    pub src: &'a str,
    pub events: Vec<Ev<'a>>,
    pub root: NodeId,
    /// Anchor id to the node that defines it.
    pub anchors: HashMap<usize, NodeId>,
    /// Anchor ids that some alias refers to.
    pub aliased: HashSet<usize>,
    /// Whether positions are byte offsets already: `src` is ASCII, or the events came from
    /// the fast reader, which counts bytes.
    ascii: bool,
    /// Byte offset of every `CHECKPOINT`-th character; built on first use, for non-ASCII text.
    checkpoints: OnceCell<Vec<usize>>,
}

/// Parses the whole stream: exactly one document, valid YAML.
pub(crate) fn parse(src: &str) -> Result<Doc<'_>, ValuesErrorKind> {
    let mut parser = Parser::new_from_str(src);
    let mut events: Vec<Ev<'_>> = Vec::new();
    let mut anchors = HashMap::new();
    let mut aliased = HashSet::new();
    let mut open: Vec<NodeId> = Vec::new();
    let mut root = None;
    let mut documents = 0;
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|e| ValuesErrorKind::InvalidYaml {
            line: e.marker().line(),
            column: e.marker().col() + 1,
            message: e.info().to_owned(),
        })?;
        let i = events.len();
        let (kind, anchor, _, _) = describe(&event);
        match kind {
            Kind::DocumentStart(_) => documents += 1,
            Kind::SequenceEnd | Kind::MappingEnd => {
                if let Some(start) = open.pop() {
                    events[start].last = i;
                }
            }
            _ => {}
        }
        let is_node = matches!(
            kind,
            Kind::Scalar(_) | Kind::Alias(_) | Kind::SequenceStart | Kind::MappingStart
        );
        if is_node {
            root = root.or(Some(i));
            if anchor != 0 {
                anchors.insert(anchor, i);
            }
            if let Kind::Alias(id) = kind {
                aliased.insert(id);
            }
        }
        let parent = if is_node {
            open.last().copied().unwrap_or(NO_PARENT)
        } else {
            NO_PARENT
        };
        if matches!(kind, Kind::SequenceStart | Kind::MappingStart) {
            open.push(i);
        }
        let end = matches!(kind, Kind::StreamEnd);
        events.push(compact(event, span, i, parent));
        if end {
            break;
        }
    }
    match documents {
        0 => return Err(ValuesErrorKind::NoDocument),
        1 => {}
        count => return Err(ValuesErrorKind::MultipleDocuments { count }),
    }
    let root = root.ok_or(ValuesErrorKind::NoDocument)?;
    // A document that is only `---` or `--- # comment` holds nothing to read.
    let r = &events[root];
    if r.kind == Kind::Scalar(ScalarStyle::Plain)
        && r.value.is_empty()
        && r.tag.is_none()
        && r.anchor == 0
    {
        return Err(ValuesErrorKind::NoDocument);
    }
    Ok(Doc {
        src,
        events,
        root,
        anchors,
        aliased,
        ascii: src.is_ascii(),
        checkpoints: OnceCell::new(),
    })
}

impl<'a> Doc<'a> {
    /// A document whose event positions are byte offsets into `src`.
    pub(crate) fn with_byte_positions(src: &'a str, events: Vec<Ev<'a>>, root: NodeId) -> Self {
        Doc {
            src,
            events,
            root,
            anchors: HashMap::new(),
            aliased: HashSet::new(),
            ascii: true,
            checkpoints: OnceCell::new(),
        }
    }
}

fn compact<'a>(event: Event<'a>, span: Span, index: usize, parent: usize) -> Ev<'a> {
    let (kind, anchor, _, _) = describe(&event);
    let (value, tag) = match event {
        Event::Scalar(value, _, _, tag) => (value, tag),
        Event::SequenceStart(_, tag) | Event::MappingStart(_, tag) => (Cow::Borrowed(""), tag),
        _ => (Cow::Borrowed(""), None),
    };
    Ev {
        kind,
        anchor,
        value,
        tag: tag.map(|t| Box::new(t.into_owned())),
        start: span.start.index(),
        end: span.end.index(),
        line: span.start.line(),
        last: index,
        parent,
    }
}

impl<'a> Doc<'a> {
    /// The node's (start) event.
    pub(crate) fn ev(&self, id: NodeId) -> &Ev<'a> {
        &self.events[id]
    }

    /// 1-based line where the node starts.
    pub(crate) fn line(&self, id: NodeId) -> usize {
        self.events[id].line
    }

    /// The collection that holds the node, if any.
    pub(crate) fn parent(&self, id: NodeId) -> Option<NodeId> {
        let p = self.events[id].parent;
        (p != NO_PARENT).then_some(p)
    }

    /// The direct children of a collection, in order (keys and values alternate in a mapping).
    pub(crate) fn children(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        let last = self.events[id].last;
        let mut next = if self.events[id].is_collection() {
            id + 1
        } else {
            last
        };
        std::iter::from_fn(move || {
            if next >= last {
                return None;
            }
            let child = next;
            next = self.events[child].last + 1;
            Some(child)
        })
    }

    /// The scalar value of a node, if it is a scalar.
    pub(crate) fn scalar(&self, id: NodeId) -> Option<&str> {
        let ev = &self.events[id];
        matches!(ev.kind, Kind::Scalar(_)).then_some(ev.value.as_ref())
    }

    /// Converts a character index from saphyr-parser into a byte offset into `src`.
    pub(crate) fn byte_offset(&self, char_index: usize) -> usize {
        if self.ascii {
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
            let ev = &self.events[n];
            // A flow collection's start event spans its properties and the opening bracket;
            // a block collection's spans at most its properties and the following blanks.
            if ev.is_collection() && ev.end > ev.start {
                let at = self.byte_offset(ev.end - 1);
                if matches!(self.src.as_bytes().get(at), Some(b'{' | b'[')) {
                    return true;
                }
            }
            cur = self.parent(n);
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
        let mut seen = 0;
        for ev in &doc.events {
            if let Kind::Scalar(style) = ev.kind {
                let start = doc.byte_offset(ev.start);
                let text = &src[start..];
                let expected = match style {
                    ScalarStyle::DoubleQuoted => format!("\"{}\"", ev.value),
                    _ => ev.value.to_string(),
                };
                assert!(
                    text.starts_with(&expected),
                    "{:?} at byte {start}",
                    ev.value
                );
                seen += 1;
            }
        }
        assert_eq!(seen, 602);
    }

    #[test]
    fn walks_like_a_tree() {
        let doc = parse("a: {b: [c, d]}\ne: f\n").expect("parses");
        let values = |id| {
            doc.children(id)
                .map(|c| doc.ev(c).describe())
                .collect::<Vec<_>>()
        };
        assert_eq!(values(doc.root), ["scalar", "mapping", "scalar", "scalar"]);
        let inner = doc.children(doc.root).nth(1).expect("a's value");
        let seq = doc.children(inner).nth(1).expect("b's value");
        let items: Vec<_> = doc.children(seq).filter_map(|c| doc.scalar(c)).collect();
        assert_eq!(items, ["c", "d"]);
        assert_eq!(doc.parent(seq), Some(inner));
        assert_eq!(doc.parent(doc.root), None);
        assert_eq!(
            doc.children(doc.children(seq).next().expect("c")).count(),
            0
        );
    }

    #[test]
    fn detects_flow_context() {
        let src = "a: {b: [c, {d: e}], f: g}\nh:\n  i: j\nk: &x [1]\nl: &y\n  - [m]\n";
        let doc = parse(src).expect("parses");
        let flow: Vec<(String, bool)> = (0..doc.events.len())
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

    #[test]
    fn compares_events_exactly() {
        let doc = parse("a: &x !!str v\nb: *x\n").expect("parses");
        let mut parser = Parser::new_from_str("a: &x !!str v\nb: *x\n");
        for ev in &doc.events {
            let (event, _) = parser.next_event().expect("event").expect("parses");
            assert!(ev.same_as(&event), "{ev:?} vs {event:?}");
        }
        let mut other = Parser::new_from_str("a: &x v\nb: *x\n");
        let differs = doc.events.iter().any(|ev| {
            let (event, _) = other.next_event().expect("event").expect("parses");
            !ev.same_as(&event)
        });
        assert!(differs, "a dropped tag must show");
    }
}
