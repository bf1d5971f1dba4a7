//! The fast path against the full path on the same inputs: equal documents wherever the fast
//! reader accepts a file, and equal results (bytes, spans, errors) from every edit.

#[path = "../../tests/generate/mod.rs"]
mod generate;

use std::fmt::Write as _;
use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use super::{Keep, Unsupported, parse};
use crate::doc::{self, Kind};
use crate::{Edits, ValuesError, set_many_with};

/// Asserts that the fast reader's document equals the full parser's, if the fast reader
/// takes the file; returns whether it did.
fn same_document(src: &str) -> Result<bool, TestCaseError> {
    let fast = match parse(src, Keep::All) {
        Ok(doc) => doc,
        Err(Unsupported) => return Ok(false),
    };
    let full = doc::parse(src).map_err(|e| {
        TestCaseError::fail(format!("fast read a file the parser refuses ({e}):\n{src}"))
    })?;
    prop_assert_eq!(fast.events.len(), full.events.len(), "{}", src);
    prop_assert_eq!(fast.root, full.root);
    for (i, (f, p)) in fast.events.iter().zip(&full.events).enumerate() {
        let at = format!("event {i} ({p:?} / {f:?}) in\n{src}");
        prop_assert_eq!(f.kind, p.kind, "{}", at);
        prop_assert_eq!(&f.value, &p.value, "{}", at);
        prop_assert_eq!((f.anchor, &f.tag), (p.anchor, &p.tag), "{}", at);
        prop_assert_eq!((f.last, f.parent), (p.last, p.parent), "{}", at);
        if let Kind::Scalar(style) = p.kind {
            if !p.value.is_empty() {
                prop_assert_eq!(
                    fast.byte_offset(f.start),
                    full.byte_offset(p.start),
                    "{}",
                    at
                );
                prop_assert_eq!(f.line, p.line, "{}", at);
                if style == saphyr_parser::ScalarStyle::Plain {
                    prop_assert_eq!(fast.byte_offset(f.end), full.byte_offset(p.end), "{}", at);
                }
            }
            prop_assert_eq!(fast.in_flow(i), full.in_flow(i), "{}", at);
        }
    }
    Ok(true)
}

type Outcome = Result<Edits, ValuesError>;

/// Asserts that both paths give the same result; returns whether the fast path decided it.
fn same_edit(content: &[u8], fields: &[(&str, &str)]) -> Result<bool, TestCaseError> {
    let fast: Outcome = set_many_with("f.yaml", content, fields, true);
    let full: Outcome = set_many_with("f.yaml", content, fields, false);
    prop_assert_eq!(
        &fast,
        &full,
        "{:?} in\n{}",
        fields,
        String::from_utf8_lossy(content)
    );
    if let [(path, value)] = fields {
        // The pieces, joined, are what `set_many` returns, by either path.
        let joined = |fast| {
            crate::set_parts_with("f.yaml", content, path, value, fast)
                .map(crate::EditParts::into_edit)
        };
        let from_many = full.clone().map(|mut edits| {
            let field = edits.fields.pop().expect("one field");
            crate::Edit {
                content: edits.content,
                previous: field.previous,
                changed: field.changed,
                span: field.span,
            }
        });
        prop_assert_eq!(
            &joined(true),
            &from_many,
            "set_parts {} in\n{}",
            path,
            String::from_utf8_lossy(content)
        );
        prop_assert_eq!(&joined(false), &from_many, "set_parts {} (full path)", path);
    }
    for (path, _) in fields {
        let fast = crate::get_with("f.yaml", content, path, true);
        prop_assert_eq!(
            fast,
            crate::get_with("f.yaml", content, path, false),
            "get {}",
            path
        );
    }
    if let Ok(edits) = &fast {
        for (path, _) in fields {
            let fast = crate::get_with("f.yaml", &edits.content, path, true);
            let full = crate::get_with("f.yaml", &edits.content, path, false);
            prop_assert_eq!(fast, full, "get {} after the edit", path);
        }
    }
    let requests: Option<Vec<_>> = fields
        .iter()
        .map(|(p, v)| {
            crate::ValuePath::parse(p)
                .ok()
                .map(|parsed| (*p, parsed, *v))
        })
        .collect();
    let decided = match (std::str::from_utf8(content), requests) {
        (Ok(src), Some(requests)) => crate::try_fast("f.yaml", src, &requests).is_some(),
        _ => false,
    };
    Ok(decided)
}

#[derive(Default, Debug)]
struct Coverage {
    cases: usize,
    read: usize,
    edited: usize,
}

#[test]
fn fast_path_equals_full_path_on_generated_documents() {
    use generate::{document, render, version};
    let mut runner = TestRunner::new(Config {
        cases: 1500,
        ..Config::default()
    });
    let seen = std::cell::RefCell::new(Coverage::default());
    let strategy = (
        document(),
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        version(),
        version(),
    );
    runner
        .run(&strategy, |((root, layout), a, b, v1, v2)| {
            let (content, found) = render(&root, &layout);
            let src = String::from_utf8(content.clone())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut c = seen.borrow_mut();
            c.cases += 1;
            c.read += usize::from(same_document(&src)?);
            if found.is_empty() {
                return Ok(());
            }
            let (pa, pb) = (&a.get(&found).path, &b.get(&found).path);
            c.edited += usize::from(same_edit(&content, &[(pa, &v1)])?);
            same_edit(&content, &[(pa, &v1), (pb, &v2)])?;
            // The value it already holds, and a missing key, on the same document.
            same_edit(&content, &[(pa, generate::reads_as(&a.get(&found).leaf))])?;
            same_edit(&content, &[(&format!("{pa}.nope"), "v1")])?;
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let c = seen.into_inner();
    eprintln!("coverage {c:?}");
    // Without this the test could pass by never taking the fast path.
    assert!(c.read * 3 > c.cases, "the fast reader took only {c:?}");
    assert!(c.edited * 4 > c.cases, "the fast path edited only {c:?}");
}

/// One Helm-chart-shaped section, as in the bench.
fn section(out: &mut String, i: usize) {
    let _ = write!(
        out,
        "## Service {i}: the web frontend — ownership: team-{i} ✓\n\
         service{i}:\n  enabled: true\n  replicaCount: {}\n  image:\n    registry: ghcr.io\n\
         \x20   repository: acme/service-{i}\n    tag: \"1.{i}.0\" # bumped by CI\n\
         \x20 resources: {{limits: {{cpu: 500m, memory: 512Mi}}, requests: {{cpu: 100m}}}}\n\
         \x20 env:\n    - name: LOG_LEVEL\n      value: 'info'\n  podAnnotations: {{}}\n  tolerations: []\n\n",
        i % 5 + 1
    );
}

#[test]
fn the_bench_shape_takes_the_fast_path() {
    let mut src = String::from("# Values\n\n");
    for i in 0..40 {
        section(&mut src, i);
    }
    assert!(same_document(&src).expect("same document"));
    for (path, value) in [
        ("service39.image.tag", "2.0.0"),
        ("service39.image.tag", "1.39.0"),
        ("service3.env[0].value", "v2"),
        ("service3.resources.limits.cpu", "1.30"),
        (
            "service3.image.registry",
            "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ),
    ] {
        assert!(
            same_edit(src.as_bytes(), &[(path, value)]).expect("same edit"),
            "{path}"
        );
    }
    for fields in [
        &[("service1.image.tag", "v2"), ("service2.image.tag", "v3")][..],
        &[
            ("service1.resources.limits.cpu", "v2"),
            ("service1.resources.limits.memory", "v3"),
        ],
    ] {
        assert!(
            same_edit(src.as_bytes(), fields).expect("same edit"),
            "{fields:?}"
        );
    }
    // Refusals come from the full path, identical either way.
    for path in [
        "service1.image.nope",
        "service1.env",
        "service1.podAnnotations.x",
        "service1.env[5]",
    ] {
        assert!(
            !same_edit(src.as_bytes(), &[(path, "v2")]).expect("same refusal"),
            "{path}"
        );
    }
}

fn fixture_inputs() -> Vec<(String, Vec<u8>, Vec<serde_json::Value>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .collect();
    dirs.sort();
    for dir in dirs.into_iter().filter(|d| d.is_dir()) {
        let input = std::fs::read(dir.join("input.yaml")).expect("input.yaml");
        let cases = std::fs::read(dir.join("cases.json")).expect("cases.json");
        let cases = serde_json::from_slice(&cases).expect("cases parse");
        out.push((dir.display().to_string(), input, cases));
    }
    out
}

#[test]
fn fast_path_equals_full_path_on_the_fixture_corpus() {
    let mut decided = 0;
    for (name, input, cases) in fixture_inputs() {
        if let Ok(src) = std::str::from_utf8(&input) {
            same_document(src).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        for case in &cases {
            let fields: Vec<(String, String)> = match case["op"].as_str() {
                Some("set") => vec![(
                    case["path"].as_str().unwrap_or_default().to_owned(),
                    case["value"].as_str().unwrap_or_default().to_owned(),
                )],
                Some("set_many") => serde_json::from_value(case["fields"].clone()).expect("fields"),
                _ => continue,
            };
            let fields: Vec<(&str, &str)> = fields
                .iter()
                .map(|(p, v)| (p.as_str(), v.as_str()))
                .collect();
            let fast = same_edit(&input, &fields).unwrap_or_else(|e| panic!("{name}: {case}: {e}"));
            decided += usize::from(fast);
        }
    }
    assert!(
        decided >= 20,
        "the fast path decided only {decided} fixture edits"
    );
}

#[test]
fn fast_path_equals_full_path_on_mutated_files() {
    let mut inputs: Vec<(Vec<u8>, Vec<String>)> = fixture_inputs()
        .into_iter()
        .map(|(_, input, cases)| {
            let paths = cases
                .iter()
                .filter_map(|c| c["path"].as_str().map(str::to_owned))
                .collect();
            (input, paths)
        })
        .collect();
    let mut bench = String::new();
    for i in 0..3 {
        section(&mut bench, i);
    }
    inputs.push((
        bench.into_bytes(),
        vec!["service2.image.tag".into(), "service1.env[0].value".into()],
    ));
    let mut runner = TestRunner::new(Config {
        cases: 3000,
        ..Config::default()
    });
    let strategy = (
        prop::sample::select(inputs),
        any::<prop::sample::Index>(),
        prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                0u8..3,
                prop::sample::select(b":-#'\"{}[],\n\r\t&*!|>? %@`\\ax".to_vec()),
            ),
            1..4,
        ),
        generate::version(),
    );
    runner
        .run(&strategy, |((mut content, paths), pick, edits, value)| {
            if paths.is_empty() {
                return Ok(());
            }
            for (at, op, byte) in edits {
                let i = at.index(content.len() + 1);
                match op {
                    0 => content.insert(i, byte),
                    1 if i < content.len() => {
                        content.remove(i);
                    }
                    _ if i < content.len() => content[i] = byte,
                    _ => {}
                }
            }
            if let Ok(src) = std::str::from_utf8(&content) {
                same_document(src)?;
            }
            same_edit(&content, &[(pick.get(&paths).as_str(), value.as_str())])?;
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn local_check_refuses_a_changed_line() {
    let src = "a: v1 # c\nb: [v2, v3]\n";
    let doc = parse(src, Keep::All).expect("fast");
    let check = |value: &str| {
        let requests = vec![("a", crate::ValuePath::parse("a").expect("path"), value)];
        let plan = crate::plan_all("f", &doc, &requests, &String::new).expect("plan");
        super::verify_lines(src, &plan.sorted(), &[value])
    };
    assert!(check("v9"));
    let splice = |text: &str| crate::edit::Splice {
        range: 3..5,
        text: text.to_owned(),
        token_start: 0,
        previous: "v1".into(),
        changed: true,
    };
    for (text, value, why) in [
        ("v8", "v9", "another value"),
        ("1.30", "1.30", "reads as a float"),
        ("v9 c", "v9", "the line changed"),
        ("[v9]", "v9", "no longer a scalar"),
        ("v9:", "v9", "does not read"),
        ("v9\nb: x", "v9", "a line break in the token"),
        ("\"v9\r\"", "v9", "a carriage return in the token"),
    ] {
        assert!(
            !super::verify_lines(src, &[&splice(text)], &[value]),
            "{why}: {text:?}"
        );
    }
    // A splice that runs past its line is not checked line by line either.
    let long = crate::edit::Splice {
        range: 3..12,
        ..splice("v9")
    };
    assert!(!super::verify_lines(src, &[&long], &["v9"]));
}
