//! The chart's alert rules and Grafana dashboard: off unless asked for; the rules come from
//! files/alerts.yaml, the file promtool and the operator's alerts test read.

use promote_chart_tests::{chart_dir, find, helm, render};
use serde_json::{Value, json};
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

/// The PrometheusRule with every knob set: the rules of files/alerts.yaml, each `for:` from
/// the values, the labels Prometheus selects on; and the dashboard's ConfigMap.
fn on() -> Value {
    json!({"metrics": {
        "prometheusRule": {"enabled": true, "labels": {"release": "prom"},
                           "targetNotApprovedMinutes": 45, "policyViolatedMinutes": 20,
                           "stalledMinutes": 7, "parityViolatedMinutes": 90},
        "dashboard": {"enabled": true, "namespace": "grafana"},
    }})
}

#[test]
fn the_prometheus_rule_carries_the_rules_file_with_each_for_from_the_values() {
    let docs = render(on()).expect("render");
    let rule = find(&docs, "PrometheusRule").expect("a PrometheusRule");
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(rule["metadata"]["labels"]["release"], "prom");
    assert_eq!(rule["metadata"]["namespace"], "promote");
    let file = rules_file();
    let rendered = rule["spec"]["groups"].as_sequence().expect("groups");
    let shipped = file["groups"].as_sequence().expect("groups in alerts.yaml");
    assert_eq!(rendered.len(), shipped.len());
    let mut seen = Vec::new();
    for (got, want) in rendered.iter().zip(shipped) {
        let got_rules = got["rules"].as_sequence().expect("rules");
        let want_rules = want["rules"].as_sequence().expect("rules");
        assert_eq!(got_rules.len(), want_rules.len());
        for (g, w) in got_rules.iter().zip(want_rules) {
            let alert = g["alert"].as_str().expect("alert").to_owned();
            assert_eq!(g["alert"], w["alert"]);
            assert_eq!(g["expr"], w["expr"], "{alert}");
            assert_eq!(g["labels"], w["labels"], "{alert}");
            assert_eq!(g["annotations"], w["annotations"], "{alert}");
            let want_for = match alert.as_str() {
                "PromoteTargetBehindApproval" => Some("45m"),
                "PromotePolicyViolated" => Some("20m"),
                "PromoteLaneStalled" => Some("7m"),
                "PromoteParityViolated" => Some("90m"),
                _ => w["for"].as_str(),
            };
            assert_eq!(g["for"].as_str(), want_for, "{alert}");
            seen.push(alert);
        }
    }
    assert!(
        seen.iter().any(|a| a == "PromoteVerificationFailed"),
        "{seen:?}"
    );
}

#[test]
fn defaults_of_the_prometheus_rule_are_the_rules_files() {
    let docs = render(json!({"metrics": {"prometheusRule": {"enabled": true}}})).expect("render");
    let rule = find(&docs, "PrometheusRule").expect("a PrometheusRule");
    assert_eq!(rule["spec"]["groups"], rules_file()["groups"]);
    assert!(
        find(&docs, "ConfigMap").is_none(),
        "the dashboard stays off"
    );
}

#[test]
fn the_dashboard_config_map_holds_the_dashboard_for_grafanas_sidecar() {
    let docs = render(on()).expect("render");
    let cm = find(&docs, "ConfigMap").expect("the dashboard's ConfigMap");
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(cm["metadata"]["namespace"], "grafana");
    let json = cm["data"]["promote-lanes.json"]
        .as_str()
        .expect("the dashboard");
    let got: Value = serde_json::from_str(json).expect("JSON");
    let path = chart_dir().join("files/dashboard.json");
    let want: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("dashboard.json"))
        .expect("JSON");
    assert_eq!(got, want);
}

#[test]
fn lint_is_clean_with_the_rule_and_the_dashboard_on() {
    let report = helm("lint", on()).expect("lint");
    assert_eq!(report["errors"], json!([]), "{report}");
    let warnings: Vec<&Value> = report["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["severity"].as_i64().unwrap_or(0) >= 2)
        .collect();
    assert!(warnings.is_empty(), "{warnings:?}");
}
