//! Finding a scalar's exact bytes, writing the new token, and proving nothing else changed.

use std::ops::Range;

use saphyr_parser::{Event, Parser, ScalarStyle};

use crate::doc::{Doc, Ev, Kind, NodeId};
use crate::error::ValuesErrorKind;
use crate::reading::{PlainReading, plain_is_safe, plain_reading};

/// One planned replacement of bytes `range` by `text`.
#[derive(Debug)]
pub(crate) struct Splice {
    pub range: Range<usize>,
    /// The bytes that go in; for a filled-in empty value this may start with a space.
    pub text: String,
    /// Where the scalar token starts inside `text`.
    pub token_start: usize,
    pub previous: String,
    pub changed: bool,
}

/// Plans writing `value` over the scalar `node`.
pub(crate) fn plan(doc: &Doc<'_>, node: NodeId, value: &str) -> Result<Splice, ValuesErrorKind> {
    let ev = doc.ev(node);
    let Kind::Scalar(style) = ev.kind else {
        return Err(ValuesErrorKind::NotScalar {
            found: ev.describe(),
            line: ev.line,
        });
    };
    let (old, style, tag, line) = (&ev.value, &style, &ev.tag, ev.line);
    let in_flow = doc.in_flow(node);
    let src = doc.src;
    let bytes = src.as_bytes();
    let mut start = doc.byte_offset(ev.start);

    if old.is_empty() && *style == ScalarStyle::Plain {
        let refuse = tag.is_some() || in_flow || ev.start != ev.end;
        return plan_fill_empty(
            bytes,
            start,
            value,
            refuse || !fillable_here(doc, node),
            line,
        );
    }
    if tag.is_some() {
        start = skip_properties(bytes, start);
    }
    let unlocated = |what: &str| ValuesErrorKind::VerifyFailed {
        detail: format!("could not find the exact bytes of the value at line {line}: {what}"),
    };
    let end = match style {
        ScalarStyle::Plain => {
            let end = doc.byte_offset(ev.end);
            let text = src
                .get(start..end)
                .ok_or_else(|| unlocated("span outside the file"))?;
            if fold_plain(text) != *old {
                return Err(unlocated("the text does not read as the value"));
            }
            end
        }
        ScalarStyle::SingleQuoted => {
            quoted_end(bytes, start, b'\'').ok_or_else(|| unlocated("no closing quote"))?
        }
        ScalarStyle::DoubleQuoted => {
            quoted_end(bytes, start, b'"').ok_or_else(|| unlocated("no closing quote"))?
        }
        ScalarStyle::Literal | ScalarStyle::Folded => {
            return Err(ValuesErrorKind::BlockScalar { line });
        }
    };
    let unchanged = *old == value
        && (*style != ScalarStyle::Plain
            || tag.is_some()
            || plain_reading(old) == PlainReading::String);
    let text = if unchanged {
        src[start..end].to_owned()
    } else {
        match style {
            ScalarStyle::SingleQuoted => format!("'{value}'"),
            ScalarStyle::DoubleQuoted => format!("\"{}\"", escape_double(value)),
            _ if plain_is_safe(value, in_flow) => value.to_owned(),
            _ => format!("\"{}\"", escape_double(value)),
        }
    };
    if text.starts_with('\'') && value.contains('\'') {
        // Versions never hold quotes; refuse rather than write a broken token.
        return Err(unlocated("the value cannot be single-quoted"));
    }
    Ok(Splice {
        range: start..end,
        text,
        token_start: 0,
        previous: old.to_string(),
        changed: !unchanged,
    })
}

/// Whether an empty value can be filled in where saphyr places it: a mapping value whose key
/// is on the same line (saphyr marks the value at that line's ':'), or a sequence item.
fn fillable_here(doc: &Doc<'_>, node: NodeId) -> bool {
    let Some(parent) = doc.parent(node) else {
        return false;
    };
    match doc.ev(parent).kind {
        Kind::MappingStart => {
            let children: Vec<NodeId> = doc.children(parent).collect();
            match children.iter().position(|&c| c == node) {
                Some(i) if i % 2 == 1 => doc.line(children[i - 1]) == doc.line(node),
                _ => false,
            }
        }
        Kind::SequenceStart => true,
        _ => false,
    }
}

/// Plans filling in an empty value (`key:` or `-` with nothing after it).
fn plan_fill_empty(
    bytes: &[u8],
    at: usize,
    value: &str,
    refuse: bool,
    line: usize,
) -> Result<Splice, ValuesErrorKind> {
    let empty = || ValuesErrorKind::EmptyValue { line };
    if refuse {
        return Err(empty());
    }
    let token = if plain_is_safe(value, false) {
        value.to_owned()
    } else {
        format!("\"{}\"", escape_double(value))
    };
    let blank_or_end = |i: usize| matches!(bytes.get(i), None | Some(b' ' | b'\t' | b'\r' | b'\n'));
    let line_end = |i: usize| matches!(bytes.get(i), None | Some(b'\r' | b'\n'));
    // saphyr places an empty mapping value at its ':' and an empty sequence item after the '-'.
    let (insert_at, space) = match (bytes.get(at), at.checked_sub(1).and_then(|p| bytes.get(p))) {
        (Some(b':'), _) if blank_or_end(at + 1) => (at + 1, true),
        (_, Some(b'-')) if line_end(at) => (at, true),
        (_, Some(b' ')) if line_end(at) && at >= 2 && bytes[at - 2] == b'-' => (at, false),
        _ => return Err(empty()),
    };
    let text = if space { format!(" {token}") } else { token };
    Ok(Splice {
        range: insert_at..insert_at,
        token_start: usize::from(space),
        text,
        previous: String::new(),
        changed: true,
    })
}

/// Skips a tag (`!!str`) and the blanks, line breaks and comments after it.
fn skip_properties(bytes: &[u8], mut i: usize) -> usize {
    while matches!(bytes.get(i), Some(b'!' | b'&')) {
        while !matches!(bytes.get(i), None | Some(b' ' | b'\t' | b'\r' | b'\n')) {
            i += 1;
        }
        loop {
            match bytes.get(i) {
                Some(b' ' | b'\t' | b'\r' | b'\n') => i += 1,
                Some(b'#') => {
                    while !matches!(bytes.get(i), None | Some(b'\r' | b'\n')) {
                        i += 1;
                    }
                }
                _ => break,
            }
        }
    }
    i
}

/// The end (exclusive) of a quoted scalar that starts at `start` with `quote`.
/// saphyr's span for a quoted scalar may run past the closing quote, so this finds it.
fn quoted_end(bytes: &[u8], start: usize, quote: u8) -> Option<usize> {
    if bytes.get(start) != Some(&quote) {
        return None;
    }
    let mut i = start + 1;
    while let Some(&b) = bytes.get(i) {
        match b {
            // UTF-8 continuation bytes are never ASCII, so byte steps cannot land on a false quote.
            b'\\' if quote == b'"' => i += 2,
            b'\'' if quote == b'\'' && bytes.get(i + 1) == Some(&b'\'') => i += 2,
            _ if b == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Reads a plain scalar's text the way YAML folds it: lines trimmed, single breaks become
/// spaces, n+1 breaks become n newlines.
fn fold_plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut breaks = 0usize;
    // CRLF, LF and a lone CR are all line breaks.
    for (n, raw) in text
        .split("\r\n")
        .flat_map(|l| l.split(['\n', '\r']))
        .enumerate()
    {
        let line = raw.trim_matches([' ', '\t']);
        if n == 0 {
            out.push_str(line);
            continue;
        }
        if line.is_empty() {
            breaks += 1;
            continue;
        }
        if breaks == 0 {
            out.push(' ');
        }
        out.extend(std::iter::repeat_n('\n', breaks));
        breaks = 0;
        out.push_str(line);
    }
    out
}

/// Escapes what a double-quoted scalar cannot hold as is.
fn escape_double(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// Applies non-overlapping splices (sorted by position) and returns the new bytes and each
/// token's new span.
pub(crate) fn apply(src: &str, splices: &[&Splice]) -> (Vec<u8>, Vec<Range<usize>>) {
    let grow: usize = splices.iter().map(|s| s.text.len()).sum();
    let mut out = Vec::with_capacity(src.len() + grow);
    let mut spans = Vec::with_capacity(splices.len());
    let mut at = 0;
    for s in splices {
        out.extend_from_slice(&src.as_bytes()[at..s.range.start]);
        let token = out.len() + s.token_start;
        out.extend_from_slice(s.text.as_bytes());
        spans.push(token..out.len());
        at = s.range.end;
    }
    out.extend_from_slice(&src.as_bytes()[at..]);
    (out, spans)
}

/// Re-reads the edited text and compares it with the original: the event streams must be
/// equal except for the edited scalars, which must now be strings holding the new values.
///
/// Equal event streams resolve to equal documents, so the resolved comparison only has to
/// cover what the streams do not show: that each new scalar resolves to a string under
/// every reader, and that no alias expands to an edited node (which would change the
/// resolved document in more than one place).
pub(crate) fn verify(
    old: &Doc<'_>,
    new_src: &str,
    targets: &[(NodeId, &str)],
) -> Result<(), ValuesErrorKind> {
    let fail = |detail: String| ValuesErrorKind::VerifyFailed { detail };
    for &(node, _) in targets {
        let expanded = old
            .aliased
            .iter()
            .filter_map(|anchor| old.anchors.get(anchor))
            .any(|&anchored| (anchored..=old.ev(anchored).last).contains(&node));
        if expanded {
            return Err(fail(format!(
                "an alias expands to the value at line {}",
                old.line(node)
            )));
        }
        if matches!(old.ev(node).kind, Kind::Alias(_)) {
            return Err(fail("the value is an alias".into()));
        }
    }
    let mut target_at: Vec<(usize, &str)> = targets.to_vec();
    target_at.sort_unstable();

    let mut parser = Parser::new_from_str(new_src);
    let mut i = 0;
    while let Some(next) = parser.next_event() {
        let (event, span) =
            next.map_err(|e| fail(format!("the edited text does not parse: {e}")))?;
        let Some(expected) = old.events.get(i) else {
            return Err(fail(format!(
                "the edited text has more events (line {})",
                span.start.line()
            )));
        };
        match target_at.binary_search_by_key(&i, |(e, _)| *e) {
            Ok(t) => check_edited(expected, &event, target_at[t].1)
                .map_err(|why| fail(format!("{why} at line {}", span.start.line())))?,
            Err(_) if !expected.same_as(&event) => {
                return Err(fail(format!(
                    "the document changed at line {}",
                    span.start.line()
                )));
            }
            Err(_) => {}
        }
        let end = matches!(event, Event::StreamEnd);
        i += 1;
        if end {
            break;
        }
    }
    if i != old.events.len() {
        return Err(fail("the edited text has fewer events".into()));
    }
    Ok(())
}

/// The edited scalar keeps its anchor and tag and now reads as exactly `value`, a string.
fn check_edited(old: &Ev<'_>, new: &Event<'_>, value: &str) -> Result<(), &'static str> {
    let (Kind::Scalar(_), Event::Scalar(v, style, anchor, tag)) = (old.kind, new) else {
        return Err("the edited value is no longer a scalar");
    };
    if old.anchor != *anchor || old.tag.as_deref() != tag.as_deref() {
        return Err("the edited value's anchor or tag changed");
    }
    if v != value {
        return Err("the edited value does not read back as the new value");
    }
    match style {
        ScalarStyle::Plain if tag.is_none() && plain_reading(v) != PlainReading::String => {
            Err("the edited value would not read as a string")
        }
        ScalarStyle::Literal | ScalarStyle::Folded => Err("the edited value became a block scalar"),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_closing_quotes() {
        assert_eq!(quoted_end(br#""a\"b" # c"#, 0, b'"'), Some(6));
        assert_eq!(quoted_end(br#""a\\" # "c""#, 0, b'"'), Some(5));
        assert_eq!(quoted_end(b"'it''s' # 'c'", 0, b'\''), Some(7));
        assert_eq!(quoted_end("\"é\\u00e9\" #".as_bytes(), 0, b'"'), Some(10));
        assert_eq!(quoted_end(b"\"open", 0, b'"'), None);
        assert_eq!(quoted_end(b"x\"", 0, b'"'), None);
    }

    #[test]
    fn folds_plain_text() {
        assert_eq!(fold_plain("a"), "a");
        assert_eq!(fold_plain("a\n  b"), "a b");
        assert_eq!(fold_plain("a\r\n  b\r\n\r\n  c"), "a b\nc");
        assert_eq!(fold_plain("a\n\n\n b"), "a\n\nb");
        assert_eq!(fold_plain("a\r  b\r\rc"), "a b\nc");
    }

    fn target(doc: &Doc<'_>, path: &str) -> NodeId {
        let path = crate::ValuePath::parse(path).expect("valid path");
        crate::locate::locate(doc, &path, crate::locate::Purpose::Write).expect("found")
    }

    #[test]
    fn verify_refuses_any_other_difference() {
        let src = "a: v1 # c\nb: [v2, v3]\n";
        let doc = crate::doc::parse(src).expect("parses");
        let a = target(&doc, "a");
        let ok = verify(&doc, "a: v9 # c\nb: [v2, v3]\n", &[(a, "v9")]);
        assert_eq!(ok, Ok(()));
        for (new, why) in [
            ("a: v9 # c\nb: [v2, v4]\n", "the document changed"),
            ("a: v9 # c\nb: [v2, v3, v4]\n", "the document changed"),
            ("a: v9 # c\nb: [v2]\n", "the document changed"),
            ("a: v8 # c\nb: [v2, v3]\n", "does not read back"),
            ("a: 1.30 # c\nb: [v2, v3]\n", "does not read back"),
            ("a: &x v9 # c\nb: [v2, v3]\n", "anchor or tag"),
            ("a: [v9] # c\nb: [v2, v3]\n", "no longer a scalar"),
            ("a: v9 # c\nb: [v2, v3\n", "does not parse"),
            ("a: v9\n---\nb: [v2, v3]\n", "the document changed"),
        ] {
            let err = verify(&doc, new, &[(a, "v9")]).expect_err(new);
            assert!(
                matches!(&err, ValuesErrorKind::VerifyFailed { detail } if detail.contains(why)),
                "{new:?}: {err}"
            );
        }
        let float = verify(&doc, "a: 1.30 # c\nb: [v2, v3]\n", &[(a, "1.30")])
            .expect_err("reads as a float");
        assert!(
            float.to_string().contains("would not read as a string"),
            "{float}"
        );
    }

    #[test]
    fn verify_refuses_values_that_aliases_expand() {
        let src = "base: &b {tag: v1}\ncopy: *b\n";
        let doc = crate::doc::parse(src).expect("parses");
        // locate() refuses this path; verify() must refuse it on its own too.
        let path = crate::ValuePath::parse("base.tag").expect("valid");
        let node =
            crate::locate::locate(&doc, &path, crate::locate::Purpose::Read).expect("readable");
        let err =
            verify(&doc, "base: &b {tag: v2}\ncopy: *b\n", &[(node, "v2")]).expect_err("aliased");
        assert!(err.to_string().contains("alias expands"), "{err}");
    }

    #[test]
    fn skips_tags_and_comments() {
        let src = b"!!str # c\r\n  v";
        assert_eq!(skip_properties(src, 0), src.len() - 1);
        assert_eq!(skip_properties(b"! v", 0), 2);
    }
}
