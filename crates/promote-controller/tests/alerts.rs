//! The lane gauges and the chart's alert rules end to end: the operator drives lanes into a
//! rolled-back verification with a self-heal policy mismatch, a stall (a missing credentials
//! Secret) and an approval held back by a gate; `/metrics` is scraped and parsed with a
//! Prometheus text-format parser; the scraped samples, held over time, become a promtool unit
//! test of charts/promote/files/alerts.yaml that says which alerts fire and which do not.
//! promtool comes from Debian's `prometheus` package (scripts/test installs it); without it
//! the test is skipped unless `PROMOTE_REQUIRE_PROMTOOL` is set.

mod world;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::api::{DeleteParams, PostParams};
use promote_api::{Phase, Promotion};
use promote_controller::operator::Operator;
use promote_testsupport::wait_until;
use serde_json::{Value, json};
use world::health::{Mode, serve};
use world::*;

const STAGE_RELEASE: &str = "deploy/env/release-stage/web.yaml";

fn rules_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../charts/promote/files/alerts.yaml")
}

/// promtool, or None when the test may be skipped without it.
fn promtool() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("promtool"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("PROMOTE_REQUIRE_PROMTOOL").is_none(),
            "PROMOTE_REQUIRE_PROMTOOL is set but promtool is not on PATH: install Debian's prometheus package"
        );
        eprintln!(
            "SKIPPED: promtool is not on PATH (Debian's prometheus package; scripts/test installs it)"
        );
    }
    found
}

/// One sample as scraped: metric name, labels, value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The lane samples of one scrape, parsed by a Prometheus text-format parser.
async fn scrape(addr: SocketAddr) -> Vec<Sample> {
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("scrape /metrics")
        .text()
        .await
        .expect("the metrics text");
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("Prometheus text format");
    parsed
        .samples
        .into_iter()
        .filter(|s| s.metric.starts_with("promote_lane_"))
        .map(|s| {
            let value = match s.value {
                prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
                other => panic!("{}: a lane metric is a gauge, got {other:?}", s.metric),
            };
            let labels = s
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Sample {
                name: s.metric,
                labels,
                value,
            }
        })
        .collect()
}

/// The value of `name` for lane `promotion` whose labels include `with`.
fn value(samples: &[Sample], name: &str, promotion: &str, with: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && s.labels.get("promotion").map(String::as_str) == Some(promotion)
                && with
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(v))
        })
        .map(|s| s.value)
}

fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address")
}

/// A Promotion next to the world's own, with `spec` merged over the world's dev lane.
async fn create_lane(w: &World, name: &str, spec: Value) {
    let mut full = json!({
        "repository": {"url": w.url, "credentials": {"secretName": "web-core-git"}},
        "source": {"environment": "dev", "valuesFile": DEV_RELEASE,
                   "application": {"name": "web-dev", "namespace": w.env.ns()}},
        "target": {"environment": "stage", "valuesFile": STAGE_RELEASE},
        "trigger": "Manual",
    });
    if let (Some(full), Some(spec)) = (full.as_object_mut(), spec.as_object()) {
        full.extend(spec.clone());
    }
    let p: Promotion = serde_json::from_value(json!({
        "apiVersion": "promote.dev/v1alpha1", "kind": "Promotion",
        "metadata": {"name": name}, "spec": full,
    }))
    .expect("promotion");
    w.promotions()
        .create(&PostParams::default(), &p)
        .await
        .expect("create the Promotion");
}

/// The alerts' annotations with `{{ $labels.x }}` filled in, as Prometheus would.
fn annotations(rule: &serde_yaml::Value, labels: &BTreeMap<String, String>) -> Value {
    let mut out = serde_json::Map::new();
    if let Some(map) = rule["annotations"].as_mapping() {
        for (k, v) in map {
            let mut text = v.as_str().expect("annotation text").to_owned();
            for (name, value) in labels {
                text = text.replace(&format!("{{{{ $labels.{name} }}}}"), value);
            }
            assert!(
                !text.contains("{{"),
                "an annotation uses more than labels: {text}"
            );
            out.insert(k.as_str().expect("key").to_owned(), Value::String(text));
        }
    }
    Value::Object(out)
}

/// A promtool unit test: every scraped lane sample held for 90 minutes; at each evaluation
/// time, for every rule, the alerts `fires(alert, eval minute)` says, by lane and labels.
fn unit_test(
    samples: &[Sample],
    rules: &serde_yaml::Value,
    fires: impl Fn(&str, u32) -> BTreeSet<BTreeMap<String, String>>,
) -> Value {
    let series: Vec<Value> = samples
        .iter()
        .map(|s| {
            let labels: Vec<String> = s
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={}", Value::String(v.clone())))
                .collect();
            json!({"series": format!("{}{{{}}}", s.name, labels.join(",")),
                   "values": format!("{}x90", s.value)})
        })
        .collect();
    let mut tests = Vec::new();
    for minute in [5, 60] {
        for rule in rules["groups"][0]["rules"].as_sequence().expect("rules") {
            let alert = rule["alert"].as_str().expect("alert name");
            let exp: Vec<Value> = fires(alert, minute)
                .into_iter()
                .map(|mut labels| {
                    if let Some(rule_labels) = rule["labels"].as_mapping() {
                        for (k, v) in rule_labels {
                            let (k, v) = (k.as_str().expect("key"), v.as_str().expect("value"));
                            labels.insert(k.to_owned(), v.to_owned());
                        }
                    }
                    json!({"exp_labels": labels, "exp_annotations": annotations(rule, &labels)})
                })
                .collect();
            tests.push(
                json!({"eval_time": format!("{minute}m"), "alertname": alert,
                              "exp_alerts": exp}),
            );
        }
    }
    json!({
        "rule_files": [rules_file()],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": series, "alert_rule_test": tests}],
    })
}

fn run(tool: &Path, args: &[&str]) {
    let out = std::process::Command::new(tool)
        .args(args)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn lane_labels(ns: &str, promotion: &str, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        ("namespace".to_owned(), ns.to_owned()),
        ("promotion".to_owned(), promotion.to_owned()),
    ]);
    labels.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    labels
}

/// The rules file, checked by promtool and parsed.
fn checked_rules(promtool: &Path) -> serde_yaml::Value {
    let path = rules_file();
    run(promtool, &["check", "rules", &path.to_string_lossy()]);
    let text = std::fs::read_to_string(&path).expect("alerts.yaml");
    serde_yaml::from_str(&text).expect("alerts.yaml is YAML")
}

/// A running operator serving `/metrics` on `addr`, with three lanes beside the world's:
/// web-prod (Auto; every health probe fails, so sha-2 is rolled back), web-stalled (its
/// credentials Secret does not exist) and web-gated (sha-2 approved, held by an hour's soak
/// time). Dev runs with self-heal on where the lanes expect it off.
async fn three_lanes(w: &World, addr: SocketAddr) -> Replica {
    w.repo
        .commit_files(
            "main",
            &[(STAGE_RELEASE, &release_file("sha-1", "promoted"))],
            "stage release file",
        )
        .expect("stage release file");
    let (health, _) = serve(Mode::AlwaysFail).await;
    let mut config = w.operator_config("op-a");
    config.metrics_addr = Some(addr);
    let op = Replica::run(Operator::new(w.env.client().clone(), config).expect("operator"));
    w.create_promotion(
        "Auto",
        json!({"verification": {"healthUrl": format!("http://{health}/health"),
                                "interval": "1s", "timeout": "6s"}}),
    )
    .await;
    let missing = json!({"url": w.url, "credentials": {"secretName": "no-such-secret"}});
    create_lane(w, "web-stalled", json!({"repository": missing})).await;
    let held = json!({"approval": {"version": "sha-2", "approvedBy": "oncall-lead"},
                      "gates": {"soakTime": "1h"}});
    create_lane(w, "web-gated", held).await;
    w.wait_phase(Phase::InSync).await;
    w.release("sha-2");
    w.wait_phase(Phase::RolledBack).await;
    op
}

/// Scrapes until each lane shows the state it was driven into.
async fn settled(addr: SocketAddr) -> Vec<Sample> {
    let wanted = [
        ("promote_lane_verification_failed", "web-prod"),
        ("promote_lane_stalled", "web-stalled"),
        ("promote_lane_approval_pending", "web-gated"),
    ];
    wait_until(
        "the lanes' states on /metrics",
        WAIT,
        Duration::from_millis(300),
        async || {
            let samples = scrape(addr).await;
            if wanted
                .iter()
                .all(|(name, lane)| value(&samples, name, lane, &[]) == Some(1.0))
            {
                Ok(Some(samples))
            } else {
                Err(format!("{samples:#?}"))
            }
        },
    )
    .await
    .expect("the lanes reach their states")
}

/// The series and label values each lane's state should show.
fn assert_gauges(samples: &[Sample], ns: &str, started: f64) {
    let v = |name: &str, lane: &str, with: &[(&str, &str)]| value(samples, name, lane, with);
    for (name, lane, with, want) in [
        (
            "promote_lane_policy_compliant",
            "web-prod",
            ("environment", "source"),
            0.0,
        ),
        (
            "promote_lane_policy_compliant",
            "web-prod",
            ("environment", "target"),
            1.0,
        ),
        ("promote_lane_drifted", "web-prod", ("kind", "release"), 1.0),
        (
            "promote_lane_phase",
            "web-prod",
            ("phase", "RolledBack"),
            1.0,
        ),
        ("promote_lane_phase", "web-gated", ("phase", "Gated"), 1.0),
        (
            "promote_lane_verification_failed",
            "web-gated",
            ("namespace", ns),
            0.0,
        ),
        ("promote_lane_stalled", "web-prod", ("namespace", ns), 0.0),
        (
            "promote_lane_approval_pending",
            "web-prod",
            ("namespace", ns),
            0.0,
        ),
    ] {
        assert_eq!(
            v(name, lane, &[with]),
            Some(want),
            "{name} of {lane} with {with:?}"
        );
    }
    let info = [
        ("namespace", ns),
        ("source_environment", "dev"),
        ("target_environment", "prod"),
        ("source_version", "sha-2"),
        ("target_version", "sha-1"),
    ];
    assert_eq!(
        v("promote_lane_info", "web-prod", &info),
        Some(1.0),
        "{samples:#?}"
    );
    let changed = v(
        "promote_lane_target_changed_timestamp_seconds",
        "web-prod",
        &[],
    )
    .expect("the rollback's time");
    let now = jiff::Timestamp::now().as_second() as f64;
    assert!(
        (started - 1.0..=now + 1.0).contains(&changed),
        "{started} <= {changed} <= {now}"
    );
    for lane in ["web-prod", "web-stalled", "web-gated"] {
        let phases = samples
            .iter()
            .filter(|s| s.name == "promote_lane_phase" && s.labels["promotion"] == lane)
            .count();
        assert!(phases <= 1, "{lane} has {phases} phase series");
    }
}

/// Replays `samples` through promtool: which alerts the scenario means to fire, by lane.
fn replay(promtool: &Path, rules: &serde_yaml::Value, samples: &[Sample], ns: &str) {
    let source_violated: BTreeSet<String> = samples
        .iter()
        .filter(|s| s.name == "promote_lane_policy_compliant" && s.value == 0.0)
        .map(|s| s.labels["promotion"].clone())
        .collect();
    assert!(
        source_violated.contains("web-prod") && source_violated.contains("web-gated"),
        "{source_violated:?}"
    );
    let fires = |alert: &str, minute: u32| -> BTreeSet<BTreeMap<String, String>> {
        let lanes: Vec<BTreeMap<String, String>> = match (alert, minute) {
            ("PromoteVerificationFailed", _) => vec![lane_labels(ns, "web-prod", &[])],
            ("PromoteLaneStalled", 60) => vec![lane_labels(ns, "web-stalled", &[])],
            ("PromoteTargetBehindApproval", 60) => vec![lane_labels(ns, "web-gated", &[])],
            ("PromotePolicyViolated", 60) => source_violated
                .iter()
                .map(|lane| lane_labels(ns, lane, &[("environment", "source")]))
                .collect(),
            _ => vec![],
        };
        lanes.into_iter().collect()
    };
    let test = unit_test(samples, rules, fires);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("alerts_test.yaml");
    std::fs::write(&path, serde_json::to_string_pretty(&test).expect("json")).expect("write");
    run(promtool, &["test", "rules", &path.to_string_lossy()]);
}

/// Deletes web-gated and waits until its series are gone while web-prod's stay.
async fn assert_deleted_lane_dropped(w: &World, addr: SocketAddr) {
    w.promotions()
        .delete("web-gated", &DeleteParams::default())
        .await
        .expect("delete web-gated");
    wait_until(
        "web-gated's series are gone",
        WAIT,
        Duration::from_millis(300),
        async || {
            let samples = scrape(addr).await;
            let of = |name: &str| samples.iter().any(|s| s.labels["promotion"] == name);
            if !of("web-gated") && of("web-prod") {
                Ok(Some(()))
            } else {
                Err(format!("{samples:#?}"))
            }
        },
    )
    .await
    .expect("the deleted lane's series are dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lane_gauges_drive_the_charts_alerts() {
    let Some(promtool) = promtool() else {
        return;
    };
    let rules = checked_rules(&promtool);
    let w = World::start("alerts", true).await;
    let started = jiff::Timestamp::now().as_second() as f64;
    let addr = free_port();
    let op = three_lanes(&w, addr).await;
    let samples = settled(addr).await;
    assert_gauges(&samples, w.env.ns(), started);
    replay(&promtool, &rules, &samples, w.env.ns());
    assert_deleted_lane_dropped(&w, addr).await;
    op.stop().await;
    w.finish().await;
}

/// Every query of the dashboard is PromQL that promtool accepts, on metrics the operator
/// exports.
#[test]
fn dashboard_queries_are_promql_on_exported_metrics() {
    let Some(promtool) = promtool() else {
        return;
    };
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../charts/promote/files/dashboard.json");
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("dashboard.json"))
            .expect("dashboard.json is JSON");
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| {
            t["expr"]
                .as_str()
                .expect("a query")
                .replace("$namespace", ".*")
        })
        .collect();
    assert!(exprs.len() >= 10, "{exprs:?}");
    let exported = promote_controller::metrics::Metrics::default().render();
    for expr in &exprs {
        for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if word.starts_with("promote_") {
                assert!(
                    exported.contains(&format!("# TYPE {word} ")),
                    "the dashboard queries {word}, which the operator does not export"
                );
            }
        }
    }
    let rules: Vec<Value> = exprs
        .iter()
        .enumerate()
        .map(|(i, e)| json!({"record": format!("dashboard:query_{i}"), "expr": e}))
        .collect();
    let file = json!({"groups": [{"name": "dashboard", "rules": rules}]});
    let dir = tempfile::tempdir().expect("temp dir");
    let rules_path = dir.path().join("dashboard_rules.yaml");
    std::fs::write(&rules_path, file.to_string()).expect("write");
    run(
        &promtool,
        &["check", "rules", &rules_path.to_string_lossy()],
    );
}
