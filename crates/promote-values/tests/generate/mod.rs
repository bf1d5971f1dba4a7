//! Random values documents for property tests: random shape, quoting and layout, and the
//! path of every scalar in them. Shared by the integration tests and the fast path's unit
//! tests, each of which uses part of it.
#![allow(dead_code)]

use std::fmt::Write as _;

use proptest::prelude::*;

/// A generated scalar: how it is written and what it reads as.
#[derive(Debug, Clone)]
pub enum Leaf {
    Plain(String),
    Single(String),
    Double(String),
}

#[derive(Debug, Clone)]
pub enum Node {
    Leaf(Leaf),
    Map(Vec<(Key, Node)>),
    Seq(Vec<Node>),
}

#[derive(Debug, Clone)]
pub struct Key {
    pub name: String,
    pub quoted: bool,
}

/// Layout choices that must never matter.
#[derive(Debug, Clone)]
pub struct Layout {
    pub crlf: bool,
    pub bom: bool,
    pub final_newline: bool,
    pub doc_start: bool,
    pub indent: usize,
    /// Pseudo-random bits that decide comments, blank lines, flow style, spacing.
    pub noise: Vec<u8>,
}

pub fn leaf() -> impl Strategy<Value = Leaf> {
    prop_oneof![
        3 => "[a-z][a-z0-9._-]{0,10}".prop_map(Leaf::Plain),
        1 => prop::sample::select(vec!["1.30", "yes", "~", "null", "0755", "true", "42", "1e3", "2024-01-01", ""])
            .prop_map(|s| Leaf::Plain(s.to_owned())),
        2 => "[ -~äöü✓🚀日本]{0,12}".prop_map(Leaf::Single),
        2 => "[ -~äöü✓🚀日本\t]{0,12}".prop_map(Leaf::Double),
    ]
}

pub fn key() -> impl Strategy<Value = Key> {
    prop_oneof![
        4 => "[a-z][a-z0-9_]{0,6}".prop_map(|name| Key { name, quoted: false }),
        1 => "[a-z]{1,3}\\.[a-z]{1,3}/[a-z]{1,3}".prop_map(|name| Key { name, quoted: true }),
    ]
}

/// A mapping of `entries`, keeping the first of each key: keys are unique within a mapping.
fn unique_map(entries: Vec<(Key, Node)>) -> Node {
    let mut seen = std::collections::HashSet::new();
    Node::Map(
        entries
            .into_iter()
            .filter(|(k, _)| seen.insert(k.name.clone()))
            .collect(),
    )
}

pub fn node() -> impl Strategy<Value = Node> {
    let leaf_node = leaf().prop_map(Node::Leaf);
    leaf_node.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec((key(), inner.clone()), 1..5).prop_map(unique_map),
            prop::collection::vec(inner, 1..4).prop_map(Node::Seq),
        ]
    })
}

pub fn document() -> impl Strategy<Value = (Node, Layout)> {
    let root = prop::collection::vec((key(), node()), 1..6).prop_map(unique_map);
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
pub struct Found {
    pub path: String,
    pub in_flow: bool,
    pub leaf: Leaf,
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

pub fn render(root: &Node, layout: &Layout) -> (Vec<u8>, Vec<Found>) {
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

pub fn version() -> impl Strategy<Value = String> {
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

pub fn reads_as(leaf: &Leaf) -> &str {
    match leaf {
        Leaf::Plain(s) | Leaf::Single(s) | Leaf::Double(s) => s,
    }
}
