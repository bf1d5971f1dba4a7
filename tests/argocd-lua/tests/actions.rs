//! The actions in `actions/action_test.yaml`: what discovery offers, what each action writes,
//! and that what it writes is a Promotion the API server accepts.

use kube::core::cel::validate_cel;
use promote_api::Promotion;
use promote_argocd_lua::{ActionTests, Lua, action_names, argocd_dir, discovered, read_yaml};
use serde_json::Value;

fn tests() -> ActionTests {
    read_yaml(&argocd_dir().join("actions/action_test.yaml")).expect("action_test.yaml")
}

#[test]
fn discovery_offers_the_expected_actions() {
    let dir = argocd_dir().join("actions");
    let lua = Lua::system();
    let mut failures = Vec::new();
    for case in tests().discovery_tests {
        let obj: Value = read_yaml(&dir.join(&case.input_path)).expect("input reads");
        let result = lua
            .run(&dir.join("discovery.lua"), &obj)
            .unwrap_or_else(|e| panic!("{e}"));
        let got = discovered(&result);
        if got != case.result {
            failures.push(format!(
                "{}: got {got:?}, want {:?}",
                case.input_path.display(),
                case.result
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn discovery_names_exactly_the_defined_actions() {
    let dir = argocd_dir();
    let obj: Value =
        read_yaml(&dir.join("actions/testdata/awaiting_approval.yaml")).expect("reads");
    let result = Lua::system()
        .run(&dir.join("actions/discovery.lua"), &obj)
        .unwrap_or_else(|e| panic!("{e}"));
    let offered: Vec<String> = discovered(&result).into_iter().map(|a| a.name).collect();
    assert_eq!(offered, action_names(&dir).expect("actions/"));
}

#[test]
fn each_action_writes_the_expected_valid_promotion() {
    let dir = argocd_dir().join("actions");
    let lua = Lua::system();
    let cases = tests().action_tests;
    assert!(!cases.is_empty());
    for case in cases {
        let input: Value = read_yaml(&dir.join(&case.input_path)).expect("input reads");
        let want: Value = read_yaml(&dir.join(&case.expected_output_path)).expect("output reads");
        let script = dir.join(&case.action).join("action.lua");
        let got = lua.run(&script, &input).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            got,
            want,
            "{} on {}",
            case.action,
            case.input_path.display()
        );
        let promotion: Promotion = serde_json::from_value(got)
            .unwrap_or_else(|e| panic!("{}: not a Promotion: {e}", case.action));
        if let Err(e) = validate_cel(&promotion) {
            panic!("{}: the API server would reject it: {e:?}", case.action);
        }
    }
}

#[test]
fn approve_without_a_source_version_fails_with_a_reason() {
    let dir = argocd_dir().join("actions");
    let mut obj: Value = read_yaml(&dir.join("testdata/in_sync.yaml")).expect("reads");
    obj["status"]
        .as_object_mut()
        .expect("status")
        .remove("source");
    let err = Lua::system()
        .run(&dir.join("approve/action.lua"), &obj)
        .expect_err("nothing to approve");
    assert!(err.to_string().contains("no source version"), "{err}");
}

#[test]
fn every_fixture_is_used() {
    let dir = argocd_dir().join("actions");
    let t = tests();
    let used: Vec<_> = t
        .discovery_tests
        .iter()
        .map(|c| dir.join(&c.input_path))
        .chain(
            t.action_tests
                .iter()
                .flat_map(|c| [dir.join(&c.input_path), dir.join(&c.expected_output_path)]),
        )
        .collect();
    for entry in std::fs::read_dir(dir.join("testdata")).expect("testdata/") {
        let path = entry.expect("entry").path();
        assert!(
            used.contains(&path),
            "{} is not used by action_test.yaml",
            path.display()
        );
    }
}
