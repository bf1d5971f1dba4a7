//! Runs the fixture corpus: real-world-shaped values files, each with a `cases.json` of
//! reads, edits and refusals, and the expected output of every edit byte for byte.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use promote_values::{get, set, set_many};
use serde_json::Value;

fn str_field<'a>(case: &'a Value, name: &str) -> &'a str {
    case[name]
        .as_str()
        .unwrap_or_else(|| panic!("case {case} lacks {name}"))
}

/// The new bytes, whether they changed, and each edited field's path, value and span.
type Outcome = (Vec<u8>, bool, Vec<(String, String, std::ops::Range<usize>)>);

#[test]
fn fixture_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut dirs: Vec<_> = fs::read_dir(&root)
        .expect("fixtures directory")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 25,
        "the corpus shrank to {} fixtures",
        dirs.len()
    );
    let mut errors_seen = BTreeSet::new();
    let mut checked = 0;
    let mut independent = 0;
    for dir in dirs {
        let name = dir
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let input = fs::read(dir.join("input.yaml")).expect("input.yaml");
        let cases: Vec<Value> =
            serde_json::from_slice(&fs::read(dir.join("cases.json")).expect("cases.json"))
                .expect("cases.json parses");
        for case in cases {
            let label = format!("{name}: {case}");
            let file = format!("{name}/input.yaml");
            let result: Result<Outcome, _> = match str_field(&case, "op") {
                "get" => {
                    let r = get(&file, &input, str_field(&case, "path"));
                    match (&r, case.get("expect")) {
                        (Ok(v), Some(want)) => {
                            assert_eq!(Some(v.as_str()), want.as_str(), "{label}")
                        }
                        (Ok(v), None) => panic!("{label}: read {v:?}, wanted a refusal"),
                        (Err(_), _) => {}
                    }
                    r.map(|_| (input.clone(), false, Vec::new()))
                }
                "set" => {
                    let (path, value) = (str_field(&case, "path"), str_field(&case, "value"));
                    set(&file, &input, path, value).map(|e| {
                        if let Some(prev) = case.get("previous") {
                            assert_eq!(
                                Some(e.previous.as_str()),
                                prev.as_str(),
                                "{label}: previous"
                            );
                        }
                        (
                            e.content,
                            e.changed,
                            vec![(path.to_owned(), value.to_owned(), e.span)],
                        )
                    })
                }
                "set_many" => {
                    let fields: Vec<(String, String)> =
                        serde_json::from_value(case["fields"].clone())
                            .expect("fields are [path, value] pairs");
                    set_many(&file, &input, &fields).map(|e| {
                        let spans = e
                            .fields
                            .into_iter()
                            .map(|f| (f.path, f.value, f.span))
                            .collect();
                        (e.content, e.changed, spans)
                    })
                }
                other => panic!("{label}: unknown op {other}"),
            };
            match result {
                Err(err) => {
                    let want = case
                        .get("error")
                        .and_then(Value::as_str)
                        .unwrap_or_else(|| panic!("{label}: refused: {err}"));
                    assert_eq!(err.kind.label(), want, "{label}: {err}");
                    let message = err.to_string();
                    assert!(
                        message.starts_with(&format!("{file}: ")),
                        "{label}: {message}"
                    );
                    if let Some(part) = case.get("message_contains").and_then(Value::as_str) {
                        assert!(message.contains(part), "{label}: {message}");
                    }
                    errors_seen.insert(want.to_owned());
                }
                Ok((content, changed, spans)) => {
                    assert!(
                        case.get("error").is_none(),
                        "{label}: succeeded, wanted a refusal"
                    );
                    if case.get("unchanged").and_then(Value::as_bool) == Some(true) {
                        assert!(!changed, "{label}: reported a change");
                        assert_eq!(content, input, "{label}: bytes changed");
                    } else if let Some(expect) = case.get("expect_file").and_then(Value::as_str) {
                        let want = fs::read(dir.join(expect)).expect("expected file");
                        assert!(changed, "{label}: reported no change");
                        assert!(
                            content == want,
                            "{label}: output differs from {expect}:\n{}",
                            String::from_utf8_lossy(&content)
                        );
                        for (path, value, span) in &spans {
                            let token = String::from_utf8_lossy(&content[span.clone()]);
                            assert!(
                                token.contains(value.as_str()),
                                "{label}: span {span:?} holds {token:?}"
                            );
                            // Readable again, by us and by an independent reader.
                            assert_eq!(
                                get(&file, &content, path).as_deref(),
                                Ok(value.as_str()),
                                "{label}"
                            );
                        }
                        if let [(path, value, span)] = spans.as_slice() {
                            support::only_span_changed(&input, &content, span);
                            if support::same_except(&input, &content, path, value) {
                                independent += 1;
                            }
                        }
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 50, "only {checked} successful cases ran");
    assert!(
        independent > 40,
        "serde_yaml confirmed only {independent} edits"
    );
    let all = [
        "InvalidPath",
        "InvalidVersion",
        "NotUtf8",
        "InvalidYaml",
        "MultipleDocuments",
        "NoDocument",
        "KeyMissing",
        "IndexOutOfRange",
        "WrongShape",
        "DuplicateKey",
        "ThroughAlias",
        "SharedAnchor",
        "TargetAlias",
        "TargetAnchor",
        "BlockScalar",
        "NotScalar",
        "Tagged",
        "NotAString",
        "EmptyValue",
        "SameValueTwice",
    ];
    for kind in all {
        assert!(
            errors_seen.contains(kind),
            "no fixture exercises the refusal {kind}"
        );
    }
}
