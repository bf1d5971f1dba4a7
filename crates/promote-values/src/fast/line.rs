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
        b: &b[..end],
        p: start + 3,
        full: true,
    };
    t.spaces_then_end() == Ok(true)
}

/// Tokenizes `src[start..end]` (one line without its line break) into `toks` (cleared first).
/// Unless `full`, a flow collection is checked whole but only its outer brackets are pushed.
pub(crate) fn tokenize<'a>(
    src: &'a str,
    start: usize,
    end: usize,
    toks: &mut Vec<Tok<'a>>,
    full: bool,
) -> Result<Line, Unsupported> {
    toks.clear();
    let b = src.as_bytes();
    let p = b[start..end]
        .iter()
        .position(|&c| c != b' ')
        .map_or(end, |n| start + n);
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
    if simple_line(src, p, end, toks) {
        return Ok(Line::Content);
    }
    let mut t = Cursor {
        src,
        b: &b[..end],
        p,
        full,
    };
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

/// The commonest lines, `key:`, `key: word` and `- key: word` (one space each, words of
/// [`word`] characters), cut straight into the tokens the cursor would give; false, with
/// nothing pushed, for any other line.
fn simple_line<'a>(src: &'a str, p: usize, end: usize, toks: &mut Vec<Tok<'a>>) -> bool {
    let b = &src.as_bytes()[..end];
    let word_end = |from: usize| {
        from + b[from..]
            .iter()
            .position(|&c| !word(c))
            .unwrap_or(b.len() - from)
    };
    let dash = b[p] == b'-' && b.get(p + 1) == Some(&b' ');
    let key = if dash { p + 2 } else { p };
    if !b.get(key).is_some_and(|&c| word_start(c)) {
        return false;
    }
    let colon = word_end(key);
    if b.get(colon) != Some(&b':') || colon - key > MAX_KEY {
        return false;
    }
    let value = colon + 2;
    let has_value = colon + 1 < end;
    if has_value
        && (b[colon + 1] != b' '
            || !b.get(value).is_some_and(|&c| word_start(c))
            || word_end(value) != end)
    {
        return false;
    }
    if dash {
        toks.push(tok(TokKind::Dash, p, p + 1, ""));
    }
    toks.push(tok(
        TokKind::Key(ScalarStyle::Plain),
        key,
        colon,
        &src[key..colon],
    ));
    if has_value {
        toks.push(tok(
            TokKind::Scalar(ScalarStyle::Plain),
            value,
            end,
            &src[value..end],
        ));
    }
    true
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
    let b = &src.as_bytes()[from..end];
    let mut i = 0;
    loop {
        i += printable_ascii_run(&b[i..]);
        let Some(&c) = b.get(i) else {
            return Ok(());
        };
        if CLASS[usize::from(c)] & COMMENT == 0 {
            return Err(Unsupported);
        }
        // The multibyte characters `printable` refuses all start with one of these bytes.
        if matches!(c, 0xc2 | 0xe2 | 0xef) {
            let ch = src[from + i..].chars().next().ok_or(Unsupported)?;
            if !printable(ch) {
                return Err(Unsupported);
            }
            i += ch.len_utf8();
        } else {
            i += 1;
        }
    }
}

/// How many bytes at the start of `b` are printable ASCII (0x20..=0x7e): eight at a time.
fn printable_ascii_run(b: &[u8]) -> usize {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    let mut i = 0;
    let mut chunk = [0u8; 8];
    while i + 8 <= b.len() {
        chunk.copy_from_slice(&b[i..i + 8]);
        let x = u64::from_le_bytes(chunk);
        let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        let del_or_high = (x ^ (ONES * 0x7f)).wrapping_sub(ONES) & !(x ^ (ONES * 0x7f)) & HIGH;
        if x & HIGH != 0 || below_space != 0 || del_or_high != 0 {
            break;
        }
        i += 8;
    }
    i + b[i..]
        .iter()
        .position(|&c| !(b' '..=b'~').contains(&c))
        .unwrap_or(b.len() - i)
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

/// Byte classes, one bit each, looked up rather than matched: the reader's inner loops.
const WORD_START: u8 = 1;
const WORD: u8 = 2;
const BLOCK_PLAIN: u8 = 4;
const COMMENT: u8 = 8;
const QUOTED_PLAIN: u8 = 16;

static CLASS: [u8; 256] = classes();

const fn classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        let alnum = b.is_ascii_alphanumeric();
        let start = alnum || matches!(b, b'_' | b'.' | b'/' | b'~' | b'+' | b'$' | b'(');
        let word = start || matches!(b, b')' | b'@' | b'-');
        let plain = word
            || matches!(
                b,
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
            );
        let comment = b == b'\t' || (b >= b' ' && b <= b'~') || b >= 0x80;
        let quoted = b >= b' ' && b <= b'~' && !matches!(b, b'\'' | b'"' | b'\\');
        t[c] = (start as u8 * WORD_START)
            | (quoted as u8 * QUOTED_PLAIN)
            | (word as u8 * WORD)
            | (plain as u8 * BLOCK_PLAIN)
            | (comment as u8 * COMMENT);
        c += 1;
    }
    t
}

#[inline]
fn word_start(c: u8) -> bool {
    CLASS[usize::from(c)] & WORD_START != 0
}

/// Characters of a plain key or a plain scalar in a flow collection.
#[inline]
fn word(c: u8) -> bool {
    CLASS[usize::from(c)] & WORD != 0
}

/// Characters a block plain scalar may hold after its first (spaces, `:` and `#` are checked
/// in context).
#[inline]
fn block_plain_char(c: u8) -> bool {
    CLASS[usize::from(c)] & BLOCK_PLAIN != 0
}

/// A position in one line: `b` ends where the line's content ends.
struct Cursor<'a> {
    src: &'a str,
    b: &'a [u8],
    p: usize,
    /// Whether to push the tokens inside flow collections (or only their outer brackets).
    full: bool,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn cur(&self) -> Option<u8> {
        self.b.get(self.p).copied()
    }

    #[inline]
    fn peek(&self, n: usize) -> Option<u8> {
        self.b.get(self.p + n).copied()
    }

    #[inline]
    fn at(&self, c: u8) -> bool {
        self.cur() == Some(c)
    }

    fn skip_spaces(&mut self) -> usize {
        let n = self.run(|c| c == b' ');
        self.p += n;
        n
    }

    /// How many bytes from here on satisfy `f`.
    #[inline]
    fn run(&self, f: impl Fn(u8) -> bool) -> usize {
        let rest = self.b.get(self.p..).unwrap_or_default();
        rest.iter().position(|&c| !f(c)).unwrap_or(rest.len())
    }

    /// Skips spaces; true at the end of the line or at a comment (which needs a space first).
    fn spaces_then_end(&mut self) -> Result<bool, Unsupported> {
        let spaces = self.skip_spaces();
        match self.cur() {
            None => Ok(true),
            Some(b'#') if spaces > 0 => {
                check_comment(self.src, self.p, self.b.len())?;
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
                self.p += self.run(word);
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
        loop {
            // Runs of word characters need no look-around.
            let n = self.run(word);
            if n > 0 {
                self.p += n;
                last = self.p;
            }
            let Some(c) = self.cur() else {
                break;
            };
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
        // Printable ASCII other than quotes and backslashes needs no decoding: skip it at once.
        self.p += self.run(|c| CLASS[usize::from(c)] & QUOTED_PLAIN != 0);
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
    /// Pushes a token inside a flow collection, if the tokens inside are wanted.
    fn keep(&self, toks: &mut Vec<Tok<'a>>, t: Tok<'a>) {
        if self.full {
            toks.push(t);
        }
    }

    fn flow_node(&mut self, toks: &mut Vec<Tok<'a>>, depth: usize) -> Result<(), Unsupported> {
        if depth > MAX_FLOW_DEPTH {
            return Err(Unsupported);
        }
        let (open, close, is_map) = match self.cur() {
            Some(b'{') => (TokKind::FlowMapStart, TokKind::FlowMapEnd, true),
            Some(b'[') => (TokKind::FlowSeqStart, TokKind::FlowSeqEnd, false),
            Some(b'"' | b'\'') => {
                let t = self.quoted()?;
                self.keep(toks, t);
                return Ok(());
            }
            _ => {
                let t = self.flow_plain()?;
                self.keep(toks, t);
                return Ok(());
            }
        };
        let close_byte = if is_map { b'}' } else { b']' };
        let outer = depth == 0;
        if self.full || outer {
            toks.push(tok(open, self.p, self.p + 1, ""));
        }
        self.p += 1;
        self.skip_spaces();
        if !self.at(close_byte) {
            loop {
                if is_map {
                    let key = match self.cur() {
                        Some(b'"' | b'\'') => self.quoted()?,
                        _ => self.flow_plain()?,
                    };
                    self.keep(toks, key);
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
        if self.full || outer {
            toks.push(tok(close, self.p, self.p + 1, ""));
        }
        self.p += 1;
        Ok(())
    }

    /// A plain scalar in flow context: one word, no spaces or `:`.
    fn flow_plain(&mut self) -> Result<Tok<'a>, Unsupported> {
        let from = self.p;
        if !self.cur().is_some_and(word_start) {
            return Err(Unsupported);
        }
        self.p += self.run(word);
        Ok(tok(
            TokKind::Scalar(ScalarStyle::Plain),
            from,
            self.p,
            &self.src[from..self.p],
        ))
    }
}
