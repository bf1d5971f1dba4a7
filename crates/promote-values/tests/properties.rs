//! Properties over generated documents of random shape and over mutated real files.

mod support;

use std::fmt::Write as _;

use promote_values::{ValuesErrorKind, get, set, set_many};
use proptest::prelude::*;

/// A generated scalar: how it is written and what it reads as.
#[derive(Debug, Clone)]
enum Leaf {
    Plain(String),
    Single(String),
    Double(String),
}

#[derive(Debug, Clone)]
enum Node {
    Leaf(Leaf),
    Map(Vec<(Key, Node)>),
    Seq(Vec<Node>),
}

#[derive(Debug, Clone)]
struct Key {
    name: String,
    quoted: bool,
}

/// Layout choices that must never matter.
#[derive(Debug, Clone)]
struct Layout {
    crlf: bool,
    bom: bool,
    final_newline: bool,
    doc_start: bool,
    indent: usize,
    /// Pseudo-random bits that decide comments, blank lines, flow style, spacing.
    noise: Vec<u8>,
}

fn leaf() -> impl Strategy<Value = Leaf> {
    prop_oneof![
        3 => "[a-z][a-z0-9._-]{0,10}".prop_map(Leaf::Plain),
        1 => prop::sample::select(vec!["1.30", "yes", "~", "null", "0755", "true", "42", "1e3", "2024-01-01", ""])
            .prop_map(|s| Leaf::Plain(s.to_owned())),
        2 => "[ -~äöü✓🚀日本]{0,12}".prop_map(Leaf::Single),
        2 => "[ -~äöü✓🚀日本\t]{0,12}".prop_map(Leaf::Double),
    ]
}

fn key() -> impl Strategy<Value = Key> {
    prop_oneof![
        4 => "[a-z][a-z0-9_]{0,6}".prop_map(|name| Key { name, quoted: false }),
        1 => "[a-z]{1,3}\\.[a-z]{1,3}/[a-z]{1,3}".prop_map(|name| Key { name, quoted: true }),
    ]
}

fn node() -> impl Strategy<Value = Node> {
    let leaf_node = leaf().prop_map(Node::Leaf);
    leaf_node.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec((key(), inner.clone()), 1..5).prop_map(|entries| {
                // Keys must be unique within a mapping.
                let mut seen = std::collections::HashSet::new();
                Node::Map(
                    entries
                        .into_iter()
                        .filter(|(k, _)| seen.insert(k.name.clone()))
                        .collect(),
                )
            }),
            prop::collection::vec(inner, 1..4).prop_map(Node::Seq),
        ]
    })
}

fn document() -> impl Strategy<Value = (Node, Layout)> {
    let root = prop::collection::vec((key(), node()), 1..6).prop_map(|entries| {
        let mut seen = std::collections::HashSet::new();
        Node::Map(
            entries
                .into_iter()
                .filter(|(k, _)| seen.insert(k.name.clone()))
                .collect(),
        )
    });
    let layout = (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::sample::select(vec![2usize, 4]),
        prop::collection::vec(any::<u8>(), 64),
    )
        .prop_map(
            |(crlf, bom, final_newline, doc_start, indent, noise)| Layout {
                crlf,
                bom,
                final_newline,
                doc_start,
                indent,
                noise,
            },
        );
    (root, layout)
}

/// A scalar in the generated document: its path, whether it sits in flow context, its leaf.
#[derive(Debug, Clone)]
struct Found {
    path: String,
    in_flow: bool,
    leaf: Leaf,
}

struct Renderer<'a> {
    layout: &'a Layout,
    at: usize,
    out: String,
    found: Vec<Found>,
}

impl Renderer<'_> {
    fn bit(&mut self, one_in: u8) -> bool {
        let b = self.layout.noise[self.at % self.layout.noise.len()]
            .wrapping_add((self.at / 64) as u8 * 37);
        self.at += 1;
        b.is_multiple_of(one_in)
    }

    fn eol(&mut self) {
        self.out
            .push_str(if self.layout.crlf { "\r\n" } else { "\n" });
    }

    fn comment_lines(&mut self, indent: usize) {
        if self.bit(4) {
            self.out.push_str(&" ".repeat(indent));
            self.out.push_str("# a comment ✓\twith a tab");
            self.eol();
        }
        if self.bit(6) {
            self.eol();
        }
    }

    fn trailing_comment(&mut self) {
        if self.bit(3) {
            self.out.push_str("  # trailing: \"x\" 'y' é");
        }
    }

    fn scalar(&mut self, leaf: &Leaf) {
        match leaf {
            Leaf::Plain(s) => self.out.push_str(s),
            Leaf::Single(s) => {
                let _ = write!(self.out, "'{}'", s.replace('\'', "''"));
            }
            Leaf::Double(s) => {
                self.out.push('"');
                for c in s.chars() {
                    match c {
                        '"' => self.out.push_str("\\\""),
                        '\\' => self.out.push_str("\\\\"),
                        '\t' => self.out.push_str("\\t"),
                        c => self.out.push(c),
                    }
                }
                self.out.push('"');
            }
        }
    }

    fn key(&mut self, key: &Key) {
        if key.quoted {
            let _ = write!(self.out, "\"{}\"", key.name);
        } else {
            self.out.push_str(&key.name);
        }
    }

    fn child_path(path: &str, key: &Key) -> String {
        let seg = if key.quoted {
            format!("\"{}\"", key.name)
        } else {
            key.name.clone()
        };
        if path.is_empty() {
            seg
        } else {
            format!("{path}.{seg}")
        }
    }

    fn flow(&mut self, node: &Node, path: &str) {
        match node {
            Node::Leaf(leaf) => {
                self.scalar(leaf);
                self.found.push(Found {
                    path: path.to_owned(),
                    in_flow: true,
                    leaf: leaf.clone(),
                });
            }
            Node::Map(entries) => {
                self.out.push('{');
                for (n, (k, v)) in entries.iter().enumerate() {
                    if n > 0 {
                        let sep = if self.bit(2) { ", " } else { " ,  " };
                        self.out.push_str(sep);
                    }
                    self.key(k);
                    self.out.push_str(": ");
                    self.flow(v, &Self::child_path(path, k));
                }
                self.out.push('}');
            }
            Node::Seq(items) => {
                self.out.push('[');
                for (n, v) in items.iter().enumerate() {
                    if n > 0 {
                        self.out.push_str(", ");
                    }
                    match v {
                        // `[, a]` is not YAML: keep generated flow items non-empty.
                        Node::Leaf(Leaf::Plain(s)) if s.is_empty() => {
                            self.flow(
                                &Node::Leaf(Leaf::Plain("x".into())),
                                &format!("{path}[{n}]"),
                            );
                        }
                        _ => self.flow(v, &format!("{path}[{n}]")),
                    }
                }
                self.out.push(']');
            }
        }
    }

    /// Writes a block mapping's or sequence's entries at `indent`.
    fn block(&mut self, node: &Node, indent: usize, path: &str) {
        let pad = " ".repeat(indent);
        match node {
            Node::Map(entries) => {
                for (k, v) in entries {
                    self.comment_lines(indent);
                    self.out.push_str(&pad);
                    self.key(k);
                    self.out.push(':');
                    self.value(v, indent, &Self::child_path(path, k), true);
                }
            }
            Node::Seq(items) => {
                for (n, v) in items.iter().enumerate() {
                    self.comment_lines(indent);
                    self.out.push_str(&pad);
                    self.out.push('-');
                    self.value(v, indent, &format!("{path}[{n}]"), false);
                }
            }
            Node::Leaf(_) => unreachable!("block() is only called on collections"),
        }
    }

    /// Writes what follows `key:` or `-`.
    fn value(&mut self, v: &Node, indent: usize, path: &str, in_map: bool) {
        match v {
            Node::Leaf(Leaf::Plain(s)) if s.is_empty() && !in_map => {
                // An empty sequence item reads fine, but keep generated items non-empty.
                self.out.push_str(" x");
                self.found.push(Found {
                    path: path.to_owned(),
                    in_flow: false,
                    leaf: Leaf::Plain("x".into()),
                });
                self.trailing_comment();
                self.eol();
            }
            Node::Leaf(leaf) => {
                if !matches!(leaf, Leaf::Plain(s) if s.is_empty()) {
                    self.out.push(' ');
                }
                self.scalar(leaf);
                self.found.push(Found {
                    path: path.to_owned(),
                    in_flow: false,
                    leaf: leaf.clone(),
                });
                self.trailing_comment();
                self.eol();
            }
            _ if self.bit(4) => {
                self.out.push(' ');
                self.flow(v, path);
                self.trailing_comment();
                self.eol();
            }
            Node::Seq(_) if in_map && self.bit(2) => {
                // An indentless sequence under a key.
                self.trailing_comment();
                self.eol();
                self.block(v, indent, path);
            }
            _ => {
                self.trailing_comment();
                self.eol();
                self.block(v, indent + self.layout.indent, path);
            }
        }
    }
}

fn render(root: &Node, layout: &Layout) -> (Vec<u8>, Vec<Found>) {
    let mut r = Renderer {
        layout,
        at: 0,
        out: String::new(),
        found: Vec::new(),
    };
    if layout.bom {
        r.out.push('\u{feff}');
    }
    if layout.doc_start {
        r.out.push_str("--- # start");
        r.eol();
    }
    r.block(root, 0, "");
    if !layout.final_newline {
        let trimmed = r.out.trim_end_matches(['\r', '\n']).len();
        r.out.truncate(trimmed);
    }
    (r.out.into_bytes(), r.found)
}

fn version() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9_][A-Za-z0-9._-]{0,20}",
        prop::sample::select(vec![
            "1.30",
            "1e3",
            "0755",
            "yes",
            "on",
            "null",
            "2024-01-01",
            "1_000",
            "0x1F",
            "y",
            "n",
            "1"
        ])
        .prop_map(str::to_owned),
        "[a-f0-9]{64}".prop_map(|h| format!("sha256:{h}")),
        ("[a-z0-9][a-z0-9.]{0,7}", "[a-f0-9]{64}").prop_map(|(t, h)| format!("{t}@sha256:{h}")),
    ]
}

fn reads_as(leaf: &Leaf) -> &str {
    match leaf {
        Leaf::Plain(s) | Leaf::Single(s) | Leaf::Double(s) => s,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Set, then get, on a random scalar of a random document: the value reads back, only its
    /// bytes changed, an independent reader sees exactly that change, and setting it again is
    /// a no-op.
    #[test]
    fn set_then_get_on_generated_documents(
        (root, layout) in document(),
        pick in any::<prop::sample::Index>(),
        value in version(),
    ) {
        let (content, found) = render(&root, &layout);
        prop_assume!(!found.is_empty());
        let target = pick.get(&found);
        let text = String::from_utf8_lossy(&content).into_owned();
        let result = set("gen.yaml", &content, &target.path, &value);
        let empty = matches!(&target.leaf, Leaf::Plain(s) if s.is_empty());
        if empty && target.in_flow {
            let err = result.expect_err("an empty flow value is refused");
            prop_assert_eq!(err.kind.label(), "EmptyValue");
            return Ok(());
        }
        let edit = result.map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&edit.previous, reads_as(&target.leaf));
        let read = get("gen.yaml", &edit.content, &target.path);
        prop_assert_eq!(read.as_deref(), Ok(value.as_str()), "{}", text);
        if edit.changed {
            support::only_span_changed(&content, &edit.content, &edit.span);
        } else {
            prop_assert_eq!(&edit.content, &content);
        }
        prop_assert!(support::same_except(&content, &edit.content, &target.path, &value), "serde_yaml cannot read:\n{}", text);

        let again = set("gen.yaml", &edit.content, &target.path, &value).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(!again.changed);
        prop_assert_eq!(again.content, edit.content);
    }

    /// Setting two scalars at once equals setting them one after the other.
    #[test]
    fn set_many_equals_sequential_sets(
        (root, layout) in document(),
        picks in (any::<prop::sample::Index>(), any::<prop::sample::Index>()),
        values in (version(), version()),
    ) {
        let (content, found) = render(&root, &layout);
        let editable: Vec<&Found> = found.iter().filter(|f| !(f.in_flow && reads_as(&f.leaf).is_empty())).collect();
        if editable.len() < 2 {
            return Ok(());
        }
        let i = picks.0.index(editable.len());
        let j = picks.1.index(editable.len() - 1);
        let (a, b) = (editable[i], editable[if j >= i { j + 1 } else { j }]);
        let many = set_many("gen.yaml", &content, &[(&a.path, &values.0), (&b.path, &values.1)])
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let first = set("gen.yaml", &content, &a.path, &values.0).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let second = set("gen.yaml", &first.content, &b.path, &values.1).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&many.content, &second.content);
        for field in &many.fields {
            prop_assert_eq!(std::str::from_utf8(&many.content[field.span.clone()]).map(|t| t.contains(field.value.as_str())), Ok(true));
        }
    }

    /// Random damage to real files never panics, and whenever the editor still accepts the
    /// file, it changes only the value's bytes and the value reads back. (A refusal cannot
    /// change the input: it is borrowed read-only; the CLI tests check the file on disk.)
    #[test]
    fn mutated_files_edit_exactly_or_refuse(
        (base, path) in prop::sample::select(vec![
            ("helm-chart-values", "image.tag"), ("helm-chart-values", "sidecars[1].image.tag"),
            ("release-file-windows", "image.tag"), ("flow-style", "multi.tag"), ("flow-style", "sidecars[1].tag"),
            ("quoted-keys", "podLabels.\"app.kubernetes.io/version\""), ("escapes-and-multiline", "b"),
            ("escapes-and-multiline", "e"), ("empty-values", "image.digest"), ("empty-values", "list[1]"),
            ("anchors", "lonely.tag"), ("comment-between-key-and-value", "image.tag"), ("unicode", "image.ключ"),
            ("explicit-keys", "image.repository"), ("tabs-in-comments", "image.tag"), ("document-markers", "image.tag"),
        ]),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, prop::sample::select(b":-#'\"{}[],\n\r\t&*!|>? %@`\\ax".to_vec())), 1..4),
        value in version(),
    ) {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(base).join("input.yaml");
        let mut content = std::fs::read(file).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (at, op, byte) in edits {
            let i = at.index(content.len() + 1);
            match op {
                0 => content.insert(i, byte),
                1 if i < content.len() => { content.remove(i); }
                _ if i < content.len() => content[i] = byte,
                _ => {}
            }
        }
        match set("mutated.yaml", &content, path, &value) {
            Ok(edit) => {
                let read = get("mutated.yaml", &edit.content, path);
                prop_assert_eq!(read.as_deref(), Ok(value.as_str()));
                if edit.changed {
                    support::only_span_changed(&content, &edit.content, &edit.span);
                }
                support::same_except(&content, &edit.content, path, &value);
            }
            Err(err) => {
                prop_assert_ne!(err.kind.label(), "VerifyFailed", "{}", err);
                prop_assert!(err.to_string().starts_with("mutated.yaml: "));
            }
        }
    }
}

#[test]
fn set_many_is_all_or_nothing() {
    let src = b"a: v1\nb: &x v2\nc: *x\n";
    let err = set_many("f.yaml", src, &[("a", "v3"), ("b", "v4")]).expect_err("b is anchored");
    assert_eq!(err.path, "b");
    assert!(matches!(err.kind, ValuesErrorKind::TargetAnchor { .. }));
    let err =
        set_many("f.yaml", src, &[("a", "v3"), ("a", "bad value")]).expect_err("invalid version");
    assert!(matches!(err.kind, ValuesErrorKind::InvalidVersion { .. }));
}
