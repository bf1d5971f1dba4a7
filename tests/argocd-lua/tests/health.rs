//! `health.lua` gives every Promotion in `health_test.yaml` the expected status and message.

use std::collections::BTreeSet;

use promote_argocd_lua::{HealthTests, Lua, argocd_dir, read_yaml};

const STATUSES: [&str; 5] = ["Healthy", "Progressing", "Degraded", "Suspended", "Missing"];

#[test]
fn every_case_gets_its_health() {
    let dir = argocd_dir();
    let lua = Lua::system();
    let cases: HealthTests = read_yaml(&dir.join("health_test.yaml")).expect("health_test.yaml");
    assert!(!cases.tests.is_empty());
    let mut failures = Vec::new();
    for case in &cases.tests {
        let input = dir.join(&case.input_path);
        let obj: serde_json::Value = read_yaml(&input).expect("input reads");
        let hs = lua
            .run(&dir.join("health.lua"), &obj)
            .unwrap_or_else(|e| panic!("{e}"));
        let status = hs["status"].as_str().unwrap_or_default();
        let message = hs["message"].as_str().unwrap_or_default();
        assert!(
            STATUSES.contains(&status),
            "{}: {status:?} is not an Argo CD health status",
            case.input_path.display()
        );
        assert!(
            !message.is_empty(),
            "{}: no message",
            case.input_path.display()
        );
        if status != case.health_status.status || !message.contains(&case.health_status.message) {
            failures.push(format!(
                "{}: got {status} {message:?}, want {} containing {:?}",
                case.input_path.display(),
                case.health_status.status,
                case.health_status.message
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_fixture_has_a_case() {
    let dir = argocd_dir();
    let cases: HealthTests = read_yaml(&dir.join("health_test.yaml")).expect("health_test.yaml");
    let listed: BTreeSet<_> = cases
        .tests
        .iter()
        .map(|c| dir.join(&c.input_path))
        .collect();
    for entry in std::fs::read_dir(dir.join("testdata")).expect("testdata/") {
        let path = entry.expect("entry").path();
        assert!(
            listed.contains(&path),
            "{} is not listed in health_test.yaml",
            path.display()
        );
    }
}

#[test]
fn a_missing_interpreter_says_how_to_install_it() {
    let err = Lua::at("/nonexistent/lua5.1")
        .run(&argocd_dir().join("health.lua"), &serde_json::json!({}))
        .expect_err("no interpreter there");
    assert!(
        err.to_string().contains("apt-get install -y lua5.1"),
        "{err}"
    );
}

#[test]
fn fallbacks_still_say_something() {
    let dir = argocd_dir();
    let base: serde_json::Value =
        read_yaml(&dir.join("testdata/healthy_inSync.yaml")).expect("reads");
    let health = |obj: &serde_json::Value| {
        let hs = Lua::system()
            .run(&dir.join("health.lua"), obj)
            .unwrap_or_else(|e| panic!("{e}"));
        (
            hs["status"].as_str().unwrap_or_default().to_owned(),
            hs["message"].as_str().unwrap_or_default().to_owned(),
        )
    };

    let mut no_phase = base.clone();
    no_phase["status"]
        .as_object_mut()
        .expect("status")
        .remove("phase");
    let (status, message) = health(&no_phase);
    assert_eq!(status, "Progressing");
    assert!(message.contains("report a phase"), "{message}");

    // Ready but not at the goal, in a phase with no rule of its own: Healthy, and says so.
    let mut behind = base;
    behind["status"]["source"]["version"] = "sha-8e1f0b2".into();
    behind["status"]["phase"] = "Promoted".into();
    let (status, message) = health(&behind);
    assert_eq!(status, "Healthy");
    assert!(message.starts_with("Waiting: "), "{message}");
}
