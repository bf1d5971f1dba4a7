//! The public API's contract, case by case: spans, previous values, change flags, messages.

use promote_values::{
    Segment, ValuePath, ValuesErrorKind, Version, get, set, set_many, set_parts, validate_version,
};

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[test]
fn span_covers_the_token_with_its_quotes() {
    let src = "a: \"v1\" # c\nb: 'v1'\nc: v1\n";
    let edit = set("f", src.as_bytes(), "a", "v22").expect("set");
    assert_eq!(&edit.content[edit.span.clone()], b"\"v22\"");
    let edit = set("f", src.as_bytes(), "b", "v22").expect("set");
    assert_eq!(&edit.content[edit.span.clone()], b"'v22'");
    let edit = set("f", src.as_bytes(), "c", "v22").expect("set");
    assert_eq!(&edit.content[edit.span.clone()], b"v22");
    let edit = set("f", src.as_bytes(), "c", "1.30").expect("set");
    assert_eq!(&edit.content[edit.span.clone()], b"\"1.30\"");
    // Unchanged: the span is the existing token.
    let edit = set("f", src.as_bytes(), "a", "v1").expect("set");
    assert!(!edit.changed);
    assert_eq!(&edit.content[edit.span.clone()], b"\"v1\"");
}

#[test]
fn spans_are_bytes_after_multibyte_text_and_a_bom() {
    let src = "\u{feff}# ✓ ünïcode 🚀\r\nkey: \"ö\" # 日本\r\ntag: v1\r\n";
    let edit = set("f", src.as_bytes(), "tag", "v2").expect("set");
    assert_eq!(&edit.content[edit.span.clone()], b"v2");
    let edit = set("f", src.as_bytes(), "key", "v2").expect("set");
    assert_eq!(&edit.content[edit.span.clone()], b"\"v2\"");
    assert_eq!(edit.previous, "ö");
    assert_eq!(edit.content, src.replace("\"ö\"", "\"v2\"").into_bytes());
}

#[test]
fn previous_is_the_decoded_old_value() {
    let src = "a: \"v1\\u002e0\\t\"\nb: 'it''s'\nc: ~\nd:\ne: plain\n  folded\n";
    let cases = [
        ("a", "v1.0\t"),
        ("b", "it's"),
        ("c", "~"),
        ("d", ""),
        ("e", "plain folded"),
    ];
    for (path, previous) in cases {
        let edit = set("f", src.as_bytes(), path, "v9").expect(path);
        assert_eq!(edit.previous, previous, "{path}");
        assert!(edit.changed, "{path}");
    }
}

#[test]
fn setting_the_current_value_is_a_no_op() {
    let src = b"image:\n  tag: v1 # keep\n  other: \"1.30\"\n";
    for (path, value) in [("image.tag", "v1"), ("image.other", "1.30")] {
        let edit = set("f", src, path, value).expect(path);
        assert!(!edit.changed, "{path}");
        assert_eq!(edit.content, src);
    }
}

#[test]
fn errors_name_file_path_and_reason() {
    let err = set(
        "deploy/env/release-prod/web.yaml",
        b"image:\n  tag: v1\n",
        "image.digest",
        "v2",
    )
    .expect_err("missing");
    assert_eq!(err.file, "deploy/env/release-prod/web.yaml");
    assert_eq!(err.path, "image.digest");
    assert!(!err.is_retryable());
    assert!(err.kind.is_missing());
    assert_eq!(err.kind.label(), "KeyMissing");
    let message = err.to_string();
    assert!(
        message.starts_with(
            "deploy/env/release-prod/web.yaml: image.digest: the key \"digest\" does not exist"
        ),
        "{message}"
    );
    assert!(message.contains("add it to the file first"), "{message}");
}

#[test]
fn versions_are_checked_before_the_file() {
    // Even a file that is not YAML reports the bad version first: nothing is read for it.
    let err = set("f", b"\xff\xfe", "a", "v 1").expect_err("bad version");
    assert!(
        matches!(err.kind, ValuesErrorKind::InvalidVersion { .. }),
        "{err}"
    );
    for ok in ["v1", DIGEST, &format!("v1@{DIGEST}")] {
        assert!(validate_version(ok).is_ok());
        assert_eq!(Version::parse(ok).map(|v| v.to_string()).as_deref(), Ok(ok));
    }
}

#[test]
fn set_many_reports_each_field_in_request_order() {
    let src = b"a: v1\nb: \"v2\"\nc: v3 # c\n";
    let edits = set_many("f", src, &[("c", "v30"), ("a", "v1"), ("b", "1.0")]).expect("set_many");
    assert!(edits.changed);
    assert_eq!(edits.content, b"a: v1\nb: \"1.0\"\nc: v30 # c\n");
    let summary: Vec<(&str, &str, bool)> = edits
        .fields
        .iter()
        .map(|f| (f.path.as_str(), f.previous.as_str(), f.changed))
        .collect();
    assert_eq!(
        summary,
        [("c", "v3", true), ("a", "v1", false), ("b", "v2", true)]
    );
    for f in &edits.fields {
        let token = std::str::from_utf8(&edits.content[f.span.clone()]).expect("utf-8");
        assert_eq!(token.trim_matches('"'), f.value);
    }
    let none = set_many("f", src, &[("a", "v1")]).expect("no-op");
    assert!(!none.changed);
    assert_eq!(none.content, src);
}

#[test]
fn set_many_refuses_the_same_value_twice() {
    let err =
        set_many("f", b"a:\n  b: v1\n", &[("a.b", "v2"), ("a.\"b\"", "v3")]).expect_err("twice");
    assert!(
        matches!(&err.kind, ValuesErrorKind::SameValueTwice { other } if other == "a.b"),
        "{err}"
    );
    assert_eq!(err.path, "a.\"b\"");
}

#[test]
fn get_follows_aliases_and_reads_canonical_scalars() {
    let src = b"base: &b {tag: v1}\ncopy: *b\nn: 3\nt: true\nq: \"1.30\"\ns: !!str 1.30\nblock: |\n  text\n";
    assert_eq!(get("f", src, "copy.tag").as_deref(), Ok("v1"));
    assert_eq!(get("f", src, "n").as_deref(), Ok("3"));
    assert_eq!(get("f", src, "t").as_deref(), Ok("true"));
    assert_eq!(get("f", src, "q").as_deref(), Ok("1.30"));
    assert_eq!(get("f", src, "s").as_deref(), Ok("1.30"));
    assert_eq!(get("f", src, "block").as_deref(), Ok("text\n"));
}

#[test]
fn paths_parse_into_segments() {
    let path: ValuePath = "sidecars[1].labels.\"app.kubernetes.io/version\""
        .parse()
        .expect("valid");
    assert_eq!(
        path.segments(),
        [
            Segment::Key("sidecars".into()),
            Segment::Index(1),
            Segment::Key("labels".into()),
            Segment::Key("app.kubernetes.io/version".into()),
        ]
    );
}

#[test]
fn set_parts_joined_is_set() {
    let src = "# c\nimage:\n  tag: \"v1\" # bumped\n  pullPolicy: IfNotPresent\n";
    let parts = set_parts("f", src.as_bytes(), "image.tag", "v2").expect("set_parts");
    // The input around the token is borrowed, not copied.
    assert_eq!(&*parts.parts[0], b"# c\nimage:\n  tag: ");
    assert_eq!(&*parts.parts[1], b"\"v2\"");
    assert_eq!(&*parts.parts[2], b" # bumped\n  pullPolicy: IfNotPresent\n");
    assert!(matches!(parts.parts[0], std::borrow::Cow::Borrowed(_)));
    let edit = set("f", src.as_bytes(), "image.tag", "v2").expect("set");
    assert_eq!(parts.clone().into_edit(), edit);
    // Filling in an empty value goes by the full path: one whole piece, the same result.
    let src = "a:\nb: v1\n";
    let parts = set_parts("f", src.as_bytes(), "a", "v2").expect("set_parts");
    assert_eq!(parts.parts[0].as_ref(), b"a: v2\nb: v1\n");
    assert!(parts.parts[1].is_empty() && parts.parts[2].is_empty());
    assert_eq!(
        parts.into_edit(),
        set("f", src.as_bytes(), "a", "v2").expect("set")
    );
    let err = set_parts("f", src.as_bytes(), "nope", "v2").expect_err("missing");
    assert_eq!(
        err,
        set("f", src.as_bytes(), "nope", "v2").expect_err("missing")
    );
}
