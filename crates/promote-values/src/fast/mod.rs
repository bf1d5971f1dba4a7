//! The fast path: a line-based reader for the plain shape most values files have, building
//! the same event list as the full parser, and a check of an edit that re-reads only the
//! edited lines.
//!
//! Whatever it does not cover ([`line`] lists the subset) makes it step aside, and the caller
//! runs the full parser and the full re-parse. It never refuses anything itself: every
//! refusal, and every error message, comes from the full path.

mod line;

use std::ops::Range;

use saphyr_parser::ScalarStyle;

use crate::doc::{Doc, Ev, Kind, NO_PARENT};
use crate::edit::Splice;
use crate::path::Segment;
use crate::reading::{PlainReading, plain_reading};

pub(crate) use line::Unsupported;
use line::{Line, Tok, TokKind};

/// One block collection still open.
#[derive(Debug)]
struct Open {
    /// Its start event, if it was written out.
    start: Option<usize>,
    /// Whether its contents are written out (it lies on a requested path).
    inside: bool,
    /// The requested paths that lead to it, as bits; it is `depth` segments deep.
    paths: u64,
    depth: usize,
    /// The paths that lead to the value of the current key or item.
    child_paths: u64,
    /// Items read so far, for a sequence.
    items: usize,
    map: bool,
    indent: usize,
    /// A key (or `-`) was read whose value has not come yet.
    pending: bool,
    /// A sequence at the same indentation as the key that holds it.
    indentless: bool,
}

/// Which collections the builder writes out in full: all of them, or only those on these
/// paths (the others become an empty collection of the same kind, which is all that walking
/// a path needs of them).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Keep<'p> {
    // Only the tests read whole documents this way, to compare them with the full parser's.
    #[cfg_attr(not(test), allow(dead_code))]
    All,
    Paths(&'p [&'p [Segment]]),
}

/// At most this many paths are followed; more go to the full parse.
const MAX_PATHS: usize = 64;

struct Builder<'a, 'p> {
    src: &'a str,
    events: Vec<Ev<'a>>,
    stack: Vec<Open>,
    root: Option<usize>,
    line: usize,
    keep: Keep<'p>,
}

/// Parses `src` if it lies inside the fast subset. With [`Keep::All`] the result equals
/// [`crate::doc::parse`]'s in events, values and scalar positions (positions are bytes here);
/// with [`Keep::Paths`] only the collections on those paths have their contents.
pub(crate) fn parse<'a>(src: &'a str, keep: Keep<'_>) -> Result<Doc<'a>, Unsupported> {
    if matches!(keep, Keep::Paths(p) if p.len() > MAX_PATHS) {
        return Err(Unsupported);
    }
    let mut b = Builder {
        src,
        // About one event per dozen bytes when all are kept; a guess saves regrowth copies.
        events: Vec::with_capacity(match keep {
            Keep::All => src.len() / 12 + 8,
            // Mostly the keys of the mappings on the paths: a few per hundred bytes at most.
            Keep::Paths(_) => src.len() / 128 + 256,
        }),
        stack: Vec::new(),
        root: None,
        line: 1,
        keep,
    };
    b.push(Kind::StreamStart, 0, 0, "", NO_PARENT);
    let document_start = b.events.len();
    b.push(Kind::DocumentStart(false), 0, 0, "", NO_PARENT);
    let bytes = src.as_bytes();
    let mut toks = Vec::new();
    // A byte order mark is not part of the first line.
    let mut start = if src.starts_with('\u{feff}') { 3 } else { 0 };
    let mut explicit = false;
    // Line breaks found a vector at a time over the whole file, not one search per line.
    let mut newlines = memchr::memchr_iter(b'\n', bytes);
    while start < bytes.len() {
        let next = newlines.find(|&n| n >= start).unwrap_or(bytes.len());
        let end = line::content_end(bytes, start, next);
        if !explicit && b.root.is_none() && line::document_start(src, start, end) {
            explicit = true;
            b.events[document_start].kind = Kind::DocumentStart(true);
        } else if line::tokenize(src, start, end, &mut toks, b.all())? == Line::Content {
            b.content_line(&toks, start..end)?;
        }
        start = next + 1;
        b.line += 1;
    }
    while !b.stack.is_empty() {
        b.close_top(src.len());
    }
    let root = b.root.ok_or(Unsupported)?;
    b.push(Kind::DocumentEnd, src.len(), src.len(), "", NO_PARENT);
    b.push(Kind::StreamEnd, src.len(), src.len(), "", NO_PARENT);
    Ok(Doc::with_byte_positions(src, b.events, root))
}

impl<'a> Builder<'a, '_> {
    fn all(&self) -> bool {
        matches!(self.keep, Keep::All)
    }

    fn push(&mut self, kind: Kind, start: usize, end: usize, value: &'a str, parent: usize) {
        let i = self.events.len();
        self.events.push(Ev {
            kind,
            anchor: 0,
            value: value.into(),
            tag: None,
            start,
            end,
            line: self.line,
            last: i,
            parent,
        });
    }

    fn push_tok(&mut self, tok: &Tok<'a>, parent: usize) {
        let i = self.events.len();
        let style = match tok.kind {
            TokKind::Key(style) | TokKind::Scalar(style) => style,
            _ => ScalarStyle::Plain,
        };
        self.events.push(Ev {
            kind: Kind::Scalar(style),
            anchor: 0,
            value: tok.value.clone(),
            tag: None,
            start: tok.start,
            end: tok.end,
            line: self.line,
            last: i,
            parent,
        });
    }

    /// The collection on top, when its contents are written out.
    fn inside(&self) -> bool {
        self.stack.last().is_none_or(|o| o.inside)
    }

    fn parent(&self) -> usize {
        self.stack.last().and_then(|o| o.start).unwrap_or(NO_PARENT)
    }

    /// The paths among `paths` whose segment at `depth` is `matches`.
    fn follow(&self, paths: u64, depth: usize, matches: impl Fn(&Segment) -> bool) -> u64 {
        let Keep::Paths(all) = self.keep else {
            return u64::MAX;
        };
        if paths == 0 {
            return 0;
        }
        let mut out = 0;
        for (i, path) in all.iter().enumerate() {
            if paths & (1 << i) != 0 && path.get(depth).is_some_and(&matches) {
                out |= 1 << i;
            }
        }
        out
    }

    /// Opens a block collection as the value of the pending slot on top (or as the root).
    fn open(&mut self, map: bool, indent: usize, at: usize, indentless: bool) {
        let parent = self.parent();
        let (written, paths, depth) = match self.stack.last_mut() {
            Some(top) => {
                top.pending = false;
                (top.inside, top.child_paths, top.depth + 1)
            }
            None => (true, u64::MAX, 0),
        };
        let start = written.then_some(self.events.len());
        if let Some(start) = start {
            self.root.get_or_insert(start);
            let kind = if map {
                Kind::MappingStart
            } else {
                Kind::SequenceStart
            };
            self.push(kind, at, at, "", parent);
        }
        self.stack.push(Open {
            start,
            inside: written && paths != 0,
            paths,
            depth,
            child_paths: 0,
            items: 0,
            map,
            indent,
            pending: false,
            indentless,
        });
    }

    fn close_top(&mut self, at: usize) {
        let Some(top) = self.stack.pop() else {
            return;
        };
        let Some(start) = top.start else {
            return;
        };
        if top.pending && top.inside {
            self.push(Kind::Scalar(ScalarStyle::Plain), at, at, "", start);
        }
        let i = self.events.len();
        self.events[start].last = i;
        let kind = if top.map {
            Kind::MappingEnd
        } else {
            Kind::SequenceEnd
        };
        self.push(kind, at, at, "", NO_PARENT);
    }

    /// Closes the collections indented deeper than `col`; never the root.
    fn close_to(&mut self, col: usize, at: usize) -> Result<(), Unsupported> {
        while let Some(top) = self.stack.last() {
            if top.indent <= col {
                break;
            }
            if self.stack.len() == 1 {
                return Err(Unsupported);
            }
            self.close_top(at);
        }
        Ok(())
    }

    /// Fills the pending slot on top with an empty value, as YAML reads `key:` before a sibling.
    fn fill_pending(&mut self, at: usize) {
        let Some(top) = self.stack.last_mut() else {
            return;
        };
        if top.pending {
            top.pending = false;
            if let (true, Some(parent)) = (top.inside, top.start) {
                self.push(Kind::Scalar(ScalarStyle::Plain), at, at, "", parent);
            }
        }
    }

    fn content_line(&mut self, toks: &[Tok<'a>], line: Range<usize>) -> Result<(), Unsupported> {
        let line_start = line.start;
        let first = &toks[0];
        let col = first.start - line_start;
        let mut rest = &toks[1..];
        match first.kind {
            TokKind::Dash => {
                self.close_to(col, first.start)?;
                match self.stack.last() {
                    Some(top) if !top.map && top.indent == col => self.fill_pending(first.start),
                    Some(top) if top.map && top.indent == col && top.pending => {
                        self.open(false, col, first.start, true);
                    }
                    Some(top) if top.indent < col && top.pending => {
                        self.open(false, col, first.start, false)
                    }
                    None if self.root.is_none() => self.open(false, col, first.start, false),
                    _ => return Err(Unsupported),
                }
                self.item();
                if let Some(key) = rest.first().filter(|t| matches!(t.kind, TokKind::Key(_))) {
                    self.open(true, key.start - line_start, key.start, false);
                    self.key(key);
                    rest = &rest[1..];
                }
            }
            TokKind::Key(_) => {
                self.close_to(col, first.start)?;
                if self
                    .stack
                    .last()
                    .is_some_and(|t| t.indentless && t.indent == col)
                {
                    self.close_top(first.start);
                }
                match self.stack.last() {
                    Some(top) if top.map && top.indent == col => self.fill_pending(first.start),
                    Some(top) if top.indent < col && top.pending => {
                        self.open(true, col, first.start, false)
                    }
                    None if self.root.is_none() => self.open(true, col, first.start, false),
                    _ => return Err(Unsupported),
                }
                self.key(first);
            }
            _ => return Err(Unsupported),
        }
        if !rest.is_empty() {
            self.value(rest, toks.len() - rest.len(), line)?;
        }
        Ok(())
    }

    /// A `-` on the sequence on top: its next item is pending.
    fn item(&mut self) {
        let Some(top) = self.stack.last() else {
            return;
        };
        let index = top.items;
        let paths = self.follow(top.paths, top.depth, |s| *s == Segment::Index(index));
        if let Some(top) = self.stack.last_mut() {
            top.items += 1;
            top.child_paths = paths;
            top.pending = true;
        }
    }

    fn key(&mut self, key: &Tok<'a>) {
        if self.inside() {
            self.push_tok(key, self.parent());
        }
        let Some(top) = self.stack.last() else {
            return;
        };
        let name: &str = &key.value;
        let paths = self.follow(
            top.paths,
            top.depth,
            |s| matches!(s, Segment::Key(k) if k == name),
        );
        if let Some(top) = self.stack.last_mut() {
            top.child_paths = paths;
            top.pending = true;
        }
    }

    /// A scalar or one flow collection, the value of the pending slot on top: `toks`, which
    /// start at token `skip` of the line.
    fn value(
        &mut self,
        toks: &[Tok<'a>],
        skip: usize,
        line: Range<usize>,
    ) -> Result<(), Unsupported> {
        let parent = self.parent();
        let all = self.all();
        let Some(top) = self.stack.last_mut() else {
            return Ok(());
        };
        top.pending = false;
        if !top.inside {
            return Ok(());
        }
        let brackets;
        let whole;
        let toks = match (top.child_paths, toks) {
            // A flow collection off the requested paths: its brackets only.
            (0, [open, .., close]) => {
                brackets = [open.clone(), close.clone()];
                &brackets[..]
            }
            // One on a path, read with only its brackets: read its line again, whole.
            (_, [_, _, ..]) if !all => {
                let mut again = Vec::new();
                line::tokenize(self.src, line.start, line.end, &mut again, true)?;
                whole = again;
                whole.get(skip..).ok_or(Unsupported)?
            }
            _ => toks,
        };
        let mut flow: Vec<usize> = Vec::new();
        for tok in toks {
            let inner = flow.last().copied().unwrap_or(parent);
            match tok.kind {
                TokKind::FlowMapStart | TokKind::FlowSeqStart => {
                    let kind = match tok.kind {
                        TokKind::FlowMapStart => Kind::MappingStart,
                        _ => Kind::SequenceStart,
                    };
                    flow.push(self.events.len());
                    self.push(kind, tok.start, tok.end, "", inner);
                }
                TokKind::FlowMapEnd | TokKind::FlowSeqEnd => {
                    let kind = match tok.kind {
                        TokKind::FlowMapEnd => Kind::MappingEnd,
                        _ => Kind::SequenceEnd,
                    };
                    if let Some(start) = flow.pop() {
                        let i = self.events.len();
                        self.events[start].last = i;
                    }
                    self.push(kind, tok.start, tok.end, "", NO_PARENT);
                }
                _ => self.push_tok(tok, inner),
            }
        }
        Ok(())
    }
}

/// Checks an edit by re-reading only the lines it touched: each, rebuilt with its new tokens,
/// must cut into the same tokens as before, except that each edited scalar now holds its new
/// value and reads as a string. The new file is not needed, so the caller may never build it.
///
/// Every other byte is unchanged (the splices replace only their ranges), and the fast
/// reader's structure depends only on the tokens of each line and the columns of the tokens
/// before the first value, so equal tokens mean an equal document apart from the values. A
/// new token with a line break in it would move the lines after it: such an edit, like any
/// other this check cannot prove, is left to the full re-parse (the result is false).
pub(crate) fn verify_lines(old: &str, splices: &[&Splice], values: &[&str]) -> bool {
    let ob = old.as_bytes();
    // Lines as the reader cuts them: after a byte order mark, before `\r\n` or `\n`.
    let bom = if old.starts_with('\u{feff}') { 3 } else { 0 };
    let line_start = |at: usize| memchr::memrchr(b'\n', &ob[..at]).map_or(bom, |n| n + 1);
    let line_end = |at: usize| {
        let next = memchr::memchr(b'\n', &ob[at..]).map_or(ob.len(), |n| at + n);
        line::content_end(ob, at, next)
    };
    let mut k = 0;
    while k < splices.len() {
        let first = splices[k];
        if first.range.is_empty() || first.token_start != 0 || first.range.end > ob.len() {
            return false;
        }
        let (ls, le) = (line_start(first.range.start), line_end(first.range.end));
        let group_end = k + splices[k..]
            .iter()
            .take_while(|s| s.range.start < le)
            .count();
        let Some(new_line) = rebuild_line(old, ls..le, &splices[k..group_end]) else {
            return false;
        };
        let (mut old_toks, mut new_toks) = (Vec::new(), Vec::new());
        let read_old = line::tokenize(old, ls, le, &mut old_toks, true);
        let read_new = line::tokenize(&new_line, 0, new_line.len(), &mut new_toks, true);
        if read_old != Ok(Line::Content)
            || read_new != Ok(Line::Content)
            || old_toks.len() != new_toks.len()
        {
            return false;
        }
        let mut matched = 0;
        for (o, n) in old_toks.iter().zip(&new_toks) {
            let edit = (k..group_end).find(|&e| splices[e].range.start == o.start);
            match edit {
                Some(e) => {
                    let TokKind::Scalar(style) = n.kind else {
                        return false;
                    };
                    if !matches!(o.kind, TokKind::Scalar(_))
                        || n.value != values[e]
                        || (style == ScalarStyle::Plain
                            && plain_reading(&n.value) != PlainReading::String)
                    {
                        return false;
                    }
                    matched += 1;
                }
                None => {
                    let same_column = matched > 0 || o.start - ls == n.start;
                    if o.kind != n.kind || o.value != n.value || !same_column {
                        return false;
                    }
                }
            }
        }
        if matched != group_end - k {
            return false;
        }
        k = group_end;
    }
    true
}

/// The line `line` of `old` (without its break) with `splices`, which lie on it in file
/// order, applied; `None` if one runs past the line, holds a line break or cuts a character.
fn rebuild_line(old: &str, line: Range<usize>, splices: &[&Splice]) -> Option<String> {
    let grow: usize = splices.iter().map(|s| s.text.len()).sum();
    let mut out = String::with_capacity(line.len() + grow);
    let mut at = line.start;
    for s in splices {
        if s.range.start < at || s.range.end > line.end || s.text.contains(['\n', '\r']) {
            return None;
        }
        out.push_str(old.get(at..s.range.start)?);
        out.push_str(&s.text);
        at = s.range.end;
    }
    out.push_str(old.get(at..line.end)?);
    Some(out)
}

#[cfg(test)]
mod tests;
