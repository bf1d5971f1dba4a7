//! The chart's alert rules and Grafana dashboard: off unless asked for; the rules come from
//! files/alerts.yaml, the file promtool and the operator's alerts test read.

use promote_chart_tests::{chart_dir, find, render};
use serde_json::json;
use serde_yaml::Value as Yaml;

/// charts/promote/files/alerts.yaml, parsed.
fn rules_file() -> Yaml {
    let path = chart_dir().join("files/alerts.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(&path).expect("alerts.yaml")).expect("YAML")
}

#[test]
fn neither_the_prometheus_rule_nor_the_dashboard_renders_by_default() {
    let docs = render(json!({})).expect("render");
    assert!(
        find(&docs, "PrometheusRule").is_none(),
        "PrometheusRule is off by default"
    );
    assert!(
        find(&docs, "ConfigMap").is_none(),
        "the dashboard is off by default"
    );
    let docs = render(json!({"metrics": {"serviceMonitor": {"enabled": true}}})).expect("render");
    assert!(find(&docs, "ServiceMonitor").is_some());
    assert!(
        find(&docs, "PrometheusRule").is_none(),
        "a ServiceMonitor alone adds no rules"
    );
}

#[test]
fn the_rules_file_names_each_alert_once_with_a_severity_and_a_summary() {
    let file = rules_file();
    let rules: Vec<&Yaml> = file["groups"]
        .as_sequence()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_sequence().expect("rules"))
        .collect();
    let mut names: Vec<&str> = rules
        .iter()
        .map(|r| r["alert"].as_str().expect("alert"))
        .collect();
    for want in [
        "PromoteTargetBehindApproval",
        "PromotePolicyViolated",
        "PromoteLaneStalled",
        "PromoteVerificationFailed",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    for rule in &rules {
        assert!(rule["labels"]["severity"].is_string(), "{rule:?}");
        assert!(rule["annotations"]["summary"].is_string(), "{rule:?}");
        assert!(
            rule["expr"]
                .as_str()
                .is_some_and(|e| e.contains("promote_lane_")),
            "{rule:?}"
        );
    }
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), rules.len(), "an alert name repeats");
}
