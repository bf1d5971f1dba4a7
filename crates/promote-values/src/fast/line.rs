//! One line of the fast subset, cut into tokens. Anything the subset does not cover is
//! `Unsupported`, and the caller hands the whole file to the full parser.
//!
//! The subset: spaces for indentation (no tabs, no `\r`), comments, `- ` items (one per
//! line), keys that are plain words or one-line quoted strings followed by `: `, and values
//! that are one-line plain, quoted or flow scalars. No anchors, aliases, tags, block scalars,
//! directives, document markers or multi-line scalars: those start with characters the
//! tokenizer refuses.

use std::borrow::Cow;

use saphyr_parser::ScalarStyle;

/// The fast path does not cover this input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unsupported;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokKind {
    /// `- ` of a block sequence item.
    Dash,
    /// A block mapping key (followed by `:`).
    Key(ScalarStyle),
    /// A scalar value, or a key or value inside a flow collection.
    Scalar(ScalarStyle),
    FlowMapStart,
    FlowMapEnd,
    FlowSeqStart,
    FlowSeqEnd,
}

/// One token: its kind, byte range in the file, and decoded value (scalars only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tok<'a> {
    pub kind: TokKind,
    pub start: usize,
    pub end: usize,
    pub value: Cow<'a, str>,
}

/// What a line holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Line {
    /// Only spaces, or a comment.
    Empty,
    /// Tokens were pushed.
    Content,
}

/// Nesting depth of flow collections on one line beyond which the full parser takes over.
const MAX_FLOW_DEPTH: usize = 32;
/// YAML limits implicit keys to 1024 characters; stay well inside.
const MAX_KEY: usize = 512;

/// The index of the next `\n` at or after `from`, or the length: eight bytes at a time.
pub(crate) fn find_newline(b: &[u8], from: usize) -> usize {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    const NEWLINES: u64 = u64::from_le_bytes([b'\n'; 8]);
    let mut i = from;
    let mut chunk = [0u8; 8];
    while i + 8 <= b.len() {
        chunk.copy_from_slice(&b[i..i + 8]);
        let x = u64::from_le_bytes(chunk) ^ NEWLINES;
        // Some byte of `x` is zero.
        if x.wrapping_sub(ONES) & !x & HIGH != 0 {
            break;
        }
        i += 8;
    }
    b[i..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |n| i + n)
}

/// Where a line's content ends: before its `\n`, and before a `\r` right ahead of it.
pub(crate) fn content_end(b: &[u8], start: usize, end: usize) -> usize {
    if end > start && b[end - 1] == b'\r' {
        end - 1
    } else {
        end
    }
}

/// Whether the line is a `---` that starts the document (alone, or with a comment).
pub(crate) fn document_start(src: &str, start: usize, end: usize) -> bool {
    let b = src.as_bytes();
    if !b[start..end].starts_with(b"---") {
        return false;
    }
    let mut t = Cursor {
        src,
        b,
        end,
        p: start + 3,
    };
    t.spaces_then_end() == Ok(true)
}

/// Tokenizes `src[start..end]` (one line without its line break) into `toks` (cleared first).
pub(crate) fn tokenize<'a>(
    src: &'a str,
    start: usize,
    end: usize,
    toks: &mut Vec<Tok<'a>>,
) -> Result<Line, Unsupported> {
    toks.clear();
    let b = src.as_bytes();
    let mut p = start;
    while p < end && b[p] == b' ' {
        p += 1;
    }
    if p == end {
        return Ok(Line::Empty);
    }
    if b[p] == b'#' {
        check_comment(src, p, end)?;
        return Ok(Line::Empty);
    }
    let head = &b[p..end];
    if p == start && (b[p] == b'%' || head.starts_with(b"---") || head.starts_with(b"...")) {
        // Directives and document markers.
        return Err(Unsupported);
    }
    let mut t = Cursor { src, b, end, p };
    if t.at(b'-') && matches!(t.peek(1), None | Some(b' ')) {
        toks.push(tok(TokKind::Dash, t.p, t.p + 1, ""));
        t.p += 1;
        if t.spaces_then_end()? {
            return Ok(Line::Content);
        }
        if t.at(b'-') && matches!(t.peek(1), None | Some(b' ')) {
            return Err(Unsupported);
        }
    }
    if let Some(key) = t.block_key()? {
        toks.push(key);
        if t.spaces_then_end()? {
            return Ok(Line::Content);
        }
    } else if toks.is_empty() {
        // A bare scalar on its own line: a root scalar or a multi-line value.
        return Err(Unsupported);
    }
    match t.cur() {
        Some(b'{' | b'[') => t.flow_node(toks, 0)?,
        Some(b'"' | b'\'') => toks.push(t.quoted()?),
        Some(_) => toks.push(t.block_plain()?),
        None => return Err(Unsupported),
    }
    if !t.spaces_then_end()? {
        return Err(Unsupported);
    }
    Ok(Line::Content)
}

fn tok<'a>(kind: TokKind, start: usize, end: usize, value: &'a str) -> Tok<'a> {
    Tok {
        kind,
        start,
        end,
        value: Cow::Borrowed(value),
    }
}

/// Comments may hold tabs and any printable text, but no other control characters.
fn check_comment(src: &str, from: usize, end: usize) -> Result<(), Unsupported> {
    let text = &src[from..end];
    if text.is_ascii() {
        return match text
            .bytes()
            .all(|c| c == b'\t' || (b' '..=b'~').contains(&c))
        {
            true => Ok(()),
            false => Err(Unsupported),
        };
    }
    match text.chars().all(|c| c == '\t' || printable(c)) {
        true => Ok(()),
        false => Err(Unsupported),
    }
}

/// Printable in YAML and never a line break or byte order mark to any reader.
fn printable(c: char) -> bool {
    matches!(
        c,
        ' '..='~'
            | '\u{a0}'..='\u{2027}'
            | '\u{202a}'..='\u{d7ff}'
            | '\u{e000}'..='\u{fefe}'
            | '\u{ff00}'..='\u{fffd}'
            | '\u{10000}'..='\u{10ffff}'
    )
}

fn word_start(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'/' | b'~' | b'+' | b'$' | b'(')
}

/// Characters of a plain key or a plain scalar in a flow collection.
fn word(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'_' | b'.' | b'/' | b'~' | b'+' | b'$' | b'(' | b')' | b'@' | b'-'
        )
}

/// Characters a block plain scalar may hold after its first (spaces, `:` and `#` are checked
/// in context).
fn block_plain_char(c: u8) -> bool {
    word(c)
        || matches!(
            c,
            b' ' | b':'
                | b'#'
                | b'='
                | b'^'
                | b'<'
                | b'>'
                | b';'
                | b'?'
                | b'!'
                | b'%'
                | b'&'
                | b'*'
                | b'|'
        )
}

struct Cursor<'a> {
    src: &'a str,
    b: &'a [u8],
    end: usize,
    p: usize,
}

impl<'a> Cursor<'a> {
    fn cur(&self) -> Option<u8> {
        (self.p < self.end).then(|| self.b[self.p])
    }

    fn peek(&self, n: usize) -> Option<u8> {
        (self.p + n < self.end).then(|| self.b[self.p + n])
    }

    fn at(&self, c: u8) -> bool {
        self.cur() == Some(c)
    }

    fn skip_spaces(&mut self) -> usize {
        let from = self.p;
        while self.at(b' ') {
            self.p += 1;
        }
        self.p - from
    }

    /// Skips spaces; true at the end of the line or at a comment (which needs a space first).
    fn spaces_then_end(&mut self) -> Result<bool, Unsupported> {
        let spaces = self.skip_spaces();
        match self.cur() {
            None => Ok(true),
            Some(b'#') if spaces > 0 => {
                check_comment(self.src, self.p, self.end)?;
                Ok(true)
            }
            Some(_) if spaces > 0 => Ok(false),
            Some(_) => Err(Unsupported),
        }
    }

    /// A block mapping key followed by `:` and a space or the end of the line, if one starts here.
    fn block_key(&mut self) -> Result<Option<Tok<'a>>, Unsupported> {
        let from = self.p;
        let key = match self.cur() {
            Some(b'"' | b'\'') => self.quoted()?,
            Some(c) if word_start(c) => {
                while self.cur().is_some_and(word) {
                    self.p += 1;
                }
                tok(
                    TokKind::Key(ScalarStyle::Plain),
                    from,
                    self.p,
                    &self.src[from..self.p],
                )
            }
            _ => return Ok(None),
        };
        if self.at(b':') && matches!(self.peek(1), None | Some(b' ')) && self.p - from <= MAX_KEY {
            self.p += 1;
            let TokKind::Scalar(style) = key.kind else {
                return Ok(Some(key));
            };
            return Ok(Some(Tok {
                kind: TokKind::Key(style),
                ..key
            }));
        }
        self.p = from;
        Ok(None)
    }

    /// A plain scalar in block context, up to a comment or the end of the line.
    fn block_plain(&mut self) -> Result<Tok<'a>, Unsupported> {
        let from = self.p;
        if !self.cur().is_some_and(word_start) {
            return Err(Unsupported);
        }
        let mut last = self.p;
        while let Some(c) = self.cur() {
            if !block_plain_char(c) {
                return Err(Unsupported);
            }
            match c {
                b' ' if self.peek(1) == Some(b'#') => break,
                b':' if matches!(self.peek(1), None | Some(b' ')) => return Err(Unsupported),
                b' ' => {}
                _ => last = self.p + 1,
            }
            self.p += 1;
        }
        self.p = last;
        Ok(tok(
            TokKind::Scalar(ScalarStyle::Plain),
            from,
            last,
            &self.src[from..last],
        ))
    }

    /// A one-line quoted scalar; the token spans the quotes.
    fn quoted(&mut self) -> Result<Tok<'a>, Unsupported> {
        let quote = self.b[self.p];
        let from = self.p;
        self.p += 1;
        let body = self.p;
        let src = self.src;
        let mut owned: Option<String> = None;
        let push = |s: &str, at: usize, owned: &mut Option<String>| {
            owned
                .get_or_insert_with(|| src[body..at].to_owned())
                .push_str(s);
        };
        loop {
            let Some(c) = self.cur() else {
                return Err(Unsupported);
            };
            match c {
                _ if c == quote && quote == b'\'' && self.peek(1) == Some(b'\'') => {
                    push("'", self.p, &mut owned);
                    self.p += 2;
                    continue;
                }
                _ if c == quote => break,
                b'\\' if quote == b'"' => {
                    let decoded = match self.peek(1) {
                        Some(b'"') => "\"",
                        Some(b'\\') => "\\",
                        Some(b'/') => "/",
                        Some(b't') => "\t",
                        Some(b'n') => "\n",
                        _ => return Err(Unsupported),
                    };
                    push(decoded, self.p, &mut owned);
                    self.p += 2;
                    continue;
                }
                b' '..=b'~' => {
                    if let Some(s) = owned.as_mut() {
                        s.push(char::from(c));
                    }
                    self.p += 1;
                }
                0x80.. => {
                    let ch = self.src[self.p..].chars().next().ok_or(Unsupported)?;
                    if !printable(ch) {
                        return Err(Unsupported);
                    }
                    if let Some(s) = owned.as_mut() {
                        s.push(ch);
                    }
                    self.p += ch.len_utf8();
                }
                _ => return Err(Unsupported),
            }
        }
        let value_end = self.p;
        self.p += 1;
        let style = match quote {
            b'"' => ScalarStyle::DoubleQuoted,
            _ => ScalarStyle::SingleQuoted,
        };
        Ok(Tok {
            kind: TokKind::Scalar(style),
            start: from,
            end: self.p,
            value: owned.map_or(Cow::Borrowed(&self.src[body..value_end]), Cow::Owned),
        })
    }

    /// A scalar or a collection inside (or opening) flow context.
    fn flow_node(&mut self, toks: &mut Vec<Tok<'a>>, depth: usize) -> Result<(), Unsupported> {
        if depth > MAX_FLOW_DEPTH {
            return Err(Unsupported);
        }
        let (open, close, is_map) = match self.cur() {
            Some(b'{') => (TokKind::FlowMapStart, TokKind::FlowMapEnd, true),
            Some(b'[') => (TokKind::FlowSeqStart, TokKind::FlowSeqEnd, false),
            Some(b'"' | b'\'') => {
                toks.push(self.quoted()?);
                return Ok(());
            }
            _ => {
                toks.push(self.flow_plain()?);
                return Ok(());
            }
        };
        let close_byte = if is_map { b'}' } else { b']' };
        toks.push(tok(open, self.p, self.p + 1, ""));
        self.p += 1;
        self.skip_spaces();
        if !self.at(close_byte) {
            loop {
                if is_map {
                    match self.cur() {
                        Some(b'"' | b'\'') => toks.push(self.quoted()?),
                        _ => toks.push(self.flow_plain()?),
                    }
                    if !(self.at(b':') && self.peek(1) == Some(b' ')) {
                        return Err(Unsupported);
                    }
                    self.p += 1;
                    self.skip_spaces();
                }
                self.flow_node(toks, depth + 1)?;
                self.skip_spaces();
                match self.cur() {
                    Some(b',') => {
                        self.p += 1;
                        self.skip_spaces();
                        if self.at(close_byte) {
                            return Err(Unsupported);
                        }
                    }
                    Some(c) if c == close_byte => break,
                    _ => return Err(Unsupported),
                }
            }
        }
        toks.push(tok(close, self.p, self.p + 1, ""));
        self.p += 1;
        Ok(())
    }

    /// A plain scalar in flow context: one word, no spaces or `:`.
    fn flow_plain(&mut self) -> Result<Tok<'a>, Unsupported> {
        let from = self.p;
        if !self.cur().is_some_and(word_start) {
            return Err(Unsupported);
        }
        while self.cur().is_some_and(word) {
            self.p += 1;
        }
        Ok(tok(
            TokKind::Scalar(ScalarStyle::Plain),
            from,
            self.p,
            &self.src[from..self.p],
        ))
    }
}
