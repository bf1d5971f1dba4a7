//! Per-lane gauges: drift, self-heal policy, parity, phase, versions, when the target last
//! changed, and whether the lane is stalled, failed verification or holds back an approval.
//!
//! One small record per lane, rendered into series at scrape time (a prometheus-client
//! collector), so a lane costs one map entry rather than a dozen labelled gauges, a reconcile
//! only overwrites values in place (strings are copied only when a version changes), and a
//! series whose labels changed (a new version, a new phase) is gone from the next scrape
//! without bookkeeping. A lane is dropped when its Promotion is deleted
//! ([`LaneMetrics::forget`], [`LaneMetrics::retain`]).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, MetricEncoder};
use prometheus_client::metrics::MetricType;
use promote_api::conditions::{self, types};
use promote_api::{Phase, PromotionResult, PromotionSpec, PromotionStatus, RecordKind};

/// What the gauges say of one lane.
#[derive(Debug, Clone, Default, PartialEq)]
struct Lane {
    source_environment: String,
    target_environment: String,
    source_version: String,
    target_version: String,
    phase: Option<Phase>,
    /// Release, source and target drift; absent until drift was computed.
    drifted: Option<[bool; 3]>,
    /// Source and target self-heal policy checks.
    policy: [Option<bool>; 2],
    parity: Option<bool>,
    stalled: bool,
    verification_failed: bool,
    approval_pending: bool,
    target_changed: Option<f64>,
}

/// The lanes' gauges, keyed by `namespace/name`.
#[derive(Debug, Default)]
pub struct LaneMetrics {
    lanes: Mutex<BTreeMap<String, Lane>>,
}

impl LaneMetrics {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Lane>> {
        self.lanes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the gauges of lane `key` (`namespace/name`) from its spec and the status just
    /// computed for it.
    pub fn observe(&self, key: &str, spec: &PromotionSpec, status: &PromotionStatus) {
        let mut lanes = self.lock();
        match lanes.get_mut(key) {
            Some(lane) => lane.set(spec, status),
            None => {
                let mut lane = Lane::default();
                lane.set(spec, status);
                lanes.insert(key.to_owned(), lane);
            }
        }
    }

    /// Drops the series of lane `key` (its Promotion was deleted).
    pub fn forget(&self, key: &str) {
        self.lock().remove(key);
    }

    /// Keeps only the lanes for which `keep(key)` holds.
    pub fn retain(&self, mut keep: impl FnMut(&str) -> bool) {
        self.lock().retain(|key, _| keep(key));
    }

    /// Drops every lane: this replica stopped reconciling, so its values would go stale.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// How many lanes have series.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no lane has series.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Copies `value` into `into` unless it already holds it, keeping its allocation.
fn set_str(into: &mut String, value: &str) {
    if into != value {
        into.clear();
        into.push_str(value);
    }
}

/// The version an environment's status reports, or "".
fn version(env: Option<&promote_api::EnvironmentStatus>) -> &str {
    env.and_then(|e| e.version.as_deref()).unwrap_or_default()
}

impl Lane {
    fn set(&mut self, spec: &PromotionSpec, status: &PromotionStatus) {
        set_str(&mut self.source_environment, &spec.source.environment);
        set_str(&mut self.target_environment, &spec.target.environment);
        set_str(&mut self.source_version, version(status.source.as_ref()));
        set_str(&mut self.target_version, version(status.target.as_ref()));
        self.phase = status.phase;
        self.drifted = status.drift.as_ref().map(|d| {
            let live = |e: &promote_api::EnvironmentDrift| {
                e.git_vs_live.as_deref() == Some("OutOfSync") || !e.overridden_fields.is_empty()
            };
            [d.release.drifted, live(&d.source), live(&d.target)]
        });
        self.policy = status.policy.as_ref().map_or([None, None], |p| {
            [
                p.source.as_ref().map(|c| c.compliant),
                p.target.as_ref().map(|c| c.compliant),
            ]
        });
        self.parity = status.parity.as_ref().map(|p| p.compliant);
        self.stalled = conditions::find(&status.conditions, types::STALLED)
            .is_some_and(|c| c.status == "True");
        // The rollback after a failed verification is a record of its own, newer than the
        // promotion it undid; the promotion's own record says how it ended.
        self.verification_failed = status
            .last_promotion
            .iter()
            .chain(&status.history)
            .find(|r| r.kind == RecordKind::Promotion)
            .is_some_and(|r| {
                matches!(
                    r.result,
                    PromotionResult::Failed | PromotionResult::RolledBack
                )
            });
        self.approval_pending = approval_pending(spec, status);
        self.target_changed = target_changed(status);
    }
}

/// Whether an approved version is not yet the target's, and nothing the lane was told holds
/// it back on purpose: no pin, not suspended, not a rejected version.
fn approval_pending(spec: &PromotionSpec, status: &PromotionStatus) -> bool {
    let (Some(approval), Some(target)) = (
        status.approval.as_ref(),
        status.target.as_ref().and_then(|t| t.version.as_deref()),
    ) else {
        return false;
    };
    let pinned = spec.pin.as_deref().is_some_and(|p| !p.is_empty());
    let rejected = !approval.allow_rejected && status.rejected_versions.contains(&approval.version);
    approval.version != target && !pinned && !spec.suspend && !rejected
}

/// Unix time of the newest record that wrote the target: its commit, or for a rollback after
/// a failed verification the write-back when the record finished. Resets write the source.
fn target_changed(status: &PromotionStatus) -> Option<f64> {
    status
        .last_promotion
        .iter()
        .chain(&status.history)
        .filter(|r| r.kind != RecordKind::Reset)
        .find_map(|r| match r.result {
            PromotionResult::RolledBack => r.finished_at.as_ref(),
            _ => r.committed_at.as_ref(),
        })
        .map(|t| t.0.as_millisecond() as f64 / 1000.0)
}

/// Writes one gauge family: its descriptor, then what `each` writes for every lane.
fn family(
    encoder: &mut DescriptorEncoder,
    (name, help): (&str, &str),
    lanes: &BTreeMap<String, Lane>,
    mut each: impl FnMut(&str, &str, &Lane, &mut MetricEncoder) -> fmt::Result,
) -> fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (key, lane) in lanes {
        let (namespace, promotion) = key.split_once('/').unwrap_or(("", key));
        each(namespace, promotion, lane, &mut metric)?;
    }
    Ok(())
}

fn sample(
    metric: &mut MetricEncoder,
    labels: &impl EncodeLabelSet,
    value: impl prometheus_client::encoding::EncodeGaugeValue,
) -> fmt::Result {
    metric.encode_family(labels)?.encode_gauge(&value)
}

const KINDS: [&str; 3] = ["release", "source", "target"];
const ROLES: [&str; 2] = ["source", "target"];

const DRIFTED: (&str, &str) = (
    "lane_drifted",
    "1 while the lane reports drift of this kind: release (the source's version differs from \
     the target's), source or target (Git versus live: OutOfSync, or a field overridden by \
     helm.parameters)",
);
const POLICY: (&str, &str) = (
    "lane_policy_compliant",
    "1 while the environment's Argo CD self-heal is what the lane expects; environment is the \
     role, source or target",
);
const PARITY: (&str, &str) = (
    "lane_parity_compliant",
    "1 while the environments' configuration files differ only where the allow list says \
     (lanes with spec.parity)",
);
const PHASE: (&str, &str) = (
    "lane_phase",
    "The lane's phase: one series per lane, for the current phase, value 1",
);
const INFO: (&str, &str) = (
    "lane_info",
    "The lane's environments and the version each holds in Git, value 1",
);
const TARGET_CHANGED: (&str, &str) = (
    "lane_target_changed_timestamp_seconds",
    "Unix time the target's version was last written (the newest promotion's or rollback's \
     commit)",
);
const STALLED: (&str, &str) = (
    "lane_stalled",
    "1 while the lane's Stalled condition is True: it cannot go on without a change",
);
const VERIFICATION_FAILED: (&str, &str) = (
    "lane_verification_failed",
    "1 while the newest promotion (not counting the rollback that undid it) ended Failed or \
     RolledBack, until the next one starts",
);
const APPROVAL_PENDING: (&str, &str) = (
    "lane_approval_pending",
    "1 while an approved version is not the target's and no pin, suspend or rejection holds \
     it back",
);

/// A lane's own labels.
fn lane<'a>(ns: &'a str, p: &'a str) -> [(&'static str, &'a str); 2] {
    [("namespace", ns), ("promotion", p)]
}

impl Collector for LaneMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let lanes = self.lock();
        let e = &mut encoder;
        family(e, DRIFTED, &lanes, |ns, p, lane, m| {
            for (kind, drifted) in KINDS.iter().zip(lane.drifted.iter().flatten()) {
                let labels = [("namespace", ns), ("promotion", p), ("kind", kind)];
                sample(m, &labels, i64::from(*drifted))?;
            }
            Ok(())
        })?;
        family(e, POLICY, &lanes, |ns, p, lane, m| {
            for (role, compliant) in ROLES.iter().zip(&lane.policy) {
                if let Some(compliant) = compliant {
                    let labels = [("namespace", ns), ("promotion", p), ("environment", role)];
                    sample(m, &labels, i64::from(*compliant))?;
                }
            }
            Ok(())
        })?;
        family(e, PARITY, &lanes, |ns, p, l, m| match l.parity {
            Some(ok) => sample(m, &lane(ns, p), i64::from(ok)),
            None => Ok(()),
        })?;
        family(e, PHASE, &lanes, |ns, p, l, m| match l.phase {
            Some(phase) => {
                let labels = [
                    ("namespace", ns),
                    ("promotion", p),
                    ("phase", phase.as_str()),
                ];
                sample(m, &labels, 1i64)
            }
            None => Ok(()),
        })?;
        family(e, INFO, &lanes, |ns, p, l, m| {
            let labels = [
                ("namespace", ns),
                ("promotion", p),
                ("source_environment", l.source_environment.as_str()),
                ("target_environment", l.target_environment.as_str()),
                ("source_version", l.source_version.as_str()),
                ("target_version", l.target_version.as_str()),
            ];
            sample(m, &labels, 1i64)
        })?;
        family(e, TARGET_CHANGED, &lanes, |ns, p, l, m| {
            match l.target_changed {
                Some(at) => sample(m, &lane(ns, p), at),
                None => Ok(()),
            }
        })?;
        family(e, STALLED, &lanes, |ns, p, l, m| {
            sample(m, &lane(ns, p), i64::from(l.stalled))
        })?;
        family(e, VERIFICATION_FAILED, &lanes, |ns, p, l, m| {
            sample(m, &lane(ns, p), i64::from(l.verification_failed))
        })?;
        family(e, APPROVAL_PENDING, &lanes, |ns, p, l, m| {
            sample(m, &lane(ns, p), i64::from(l.approval_pending))
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::metrics::Metrics;

    fn spec() -> PromotionSpec {
        serde_json::from_value(json!({
            "repository": {"url": "https://git.example.com/web.git"},
            "source": {"environment": "dev", "valuesFile": "dev.yaml"},
            "target": {"environment": "prod", "valuesFile": "prod.yaml"},
        }))
        .expect("spec")
    }

    fn status(source: &str, target: &str, extra: serde_json::Value) -> PromotionStatus {
        let mut status = json!({
            "phase": "AwaitingApproval",
            "source": {"version": source},
            "target": {"version": target},
            "drift": {"drifted": true, "release": {"drifted": source != target},
                      "source": {"gitVsLive": "OutOfSync"}, "target": {"gitVsLive": "Synced"}},
            "policy": {"source": {"expectedSelfHeal": false, "selfHeal": true, "compliant": false},
                       "target": {"expectedSelfHeal": true, "selfHeal": true, "compliant": true}},
        });
        if let (Some(s), Some(extra)) = (status.as_object_mut(), extra.as_object()) {
            s.extend(extra.clone());
        }
        serde_json::from_value(status).expect("status")
    }

    fn lines(m: &Metrics) -> Vec<String> {
        m.render()
            .lines()
            .filter(|l| l.starts_with("promote_lane"))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn renders_each_gauge_of_a_lane() {
        let m = Metrics::default();
        let extra = json!({
            "approval": {"version": "sha-2", "observedAt": "2026-01-01T00:00:00Z"},
            "parity": {"compliant": false},
            "lastPromotion": {"version": "sha-1", "result": "RolledBack",
                              "committedAt": "2026-01-01T00:00:00Z",
                              "finishedAt": "2026-01-01T00:10:00Z"},
            "conditions": [{"type": "Stalled", "status": "True", "reason": "CredentialsError",
                            "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
        });
        m.lanes()
            .observe("web/app", &spec(), &status("sha-2", "sha-1", extra));
        let text = lines(&m).join("\n");
        for want in [
            r#"promote_lane_drifted{namespace="web",promotion="app",kind="release"} 1"#,
            r#"promote_lane_drifted{namespace="web",promotion="app",kind="source"} 1"#,
            r#"promote_lane_drifted{namespace="web",promotion="app",kind="target"} 0"#,
            r#"promote_lane_policy_compliant{namespace="web",promotion="app",environment="source"} 0"#,
            r#"promote_lane_policy_compliant{namespace="web",promotion="app",environment="target"} 1"#,
            r#"promote_lane_parity_compliant{namespace="web",promotion="app"} 0"#,
            r#"promote_lane_phase{namespace="web",promotion="app",phase="AwaitingApproval"} 1"#,
            r#"promote_lane_info{namespace="web",promotion="app",source_environment="dev",target_environment="prod",source_version="sha-2",target_version="sha-1"} 1"#,
            // A rollback writes the target when it finishes.
            r#"promote_lane_target_changed_timestamp_seconds{namespace="web",promotion="app"} 1767226200.0"#,
            r#"promote_lane_stalled{namespace="web",promotion="app"} 1"#,
            r#"promote_lane_verification_failed{namespace="web",promotion="app"} 1"#,
            r#"promote_lane_approval_pending{namespace="web",promotion="app"} 1"#,
        ] {
            assert!(text.contains(want), "{want} missing in\n{text}");
        }
        assert_eq!(lines(&m).len(), 12, "{text}");
    }

    #[test]
    fn a_change_replaces_the_old_series_and_a_deleted_lane_has_none() {
        let m = Metrics::default();
        m.lanes()
            .observe("web/app", &spec(), &status("sha-2", "sha-1", json!({})));
        m.lanes()
            .observe("web/other", &spec(), &status("sha-1", "sha-1", json!({})));
        let promoted = json!({"phase": "Promoted", "lastPromotion": {
            "version": "sha-2", "result": "Succeeded", "committedAt": "2026-01-01T00:00:00Z"}});
        m.lanes()
            .observe("web/app", &spec(), &status("sha-2", "sha-2", promoted));
        let text = lines(&m).join("\n");
        assert!(
            text.contains(r#"promotion="app",phase="Promoted"} 1"#),
            "{text}"
        );
        assert!(
            !text.contains(r#"promotion="app",phase="AwaitingApproval""#),
            "{text}"
        );
        let info = |target: &str| {
            format!(
                r#"promote_lane_info{{namespace="web",promotion="app",source_environment="dev",target_environment="prod",source_version="sha-2",target_version="{target}"}} 1"#
            )
        };
        assert!(!text.contains(&info("sha-1")), "{text}");
        assert!(text.contains(&info("sha-2")), "{text}");
        let changed = r#"promote_lane_target_changed_timestamp_seconds{namespace="web",promotion="app"} 1767225600.0"#;
        assert!(text.contains(changed), "{text}");
        let phases = text
            .lines()
            .filter(|l| l.starts_with("promote_lane_phase{namespace=\"web\",promotion=\"app\""))
            .count();
        assert_eq!(phases, 1, "{text}");

        m.lanes().forget("web/app");
        let text = lines(&m).join("\n");
        assert!(!text.contains(r#"promotion="app""#), "{text}");
        assert!(text.contains(r#"promotion="other""#), "{text}");
        m.lanes().retain(|key| key != "web/other");
        assert!(lines(&m).is_empty(), "{:?}", lines(&m));
        assert!(m.lanes().is_empty());
    }

    #[test]
    fn a_promotion_undone_by_a_rollback_counts_as_failed_verification() {
        let m = Metrics::default();
        let extra = json!({
            "phase": "RolledBack",
            "lastPromotion": {"kind": "Rollback", "version": "sha-1", "result": "Succeeded",
                              "committedAt": "2026-01-01T00:10:00Z"},
            "history": [{"kind": "Rollback", "version": "sha-1", "result": "Succeeded"},
                        {"kind": "Promotion", "version": "sha-2", "result": "RolledBack"}],
        });
        m.lanes()
            .observe("web/app", &spec(), &status("sha-2", "sha-1", extra));
        let failed = r#"promote_lane_verification_failed{namespace="web",promotion="app"} 1"#;
        assert!(lines(&m).iter().any(|l| l == failed), "{:?}", lines(&m));
        let next = json!({"lastPromotion": {"version": "sha-3", "result": "Running"},
                          "history": [{"kind": "Promotion", "version": "sha-2", "result": "RolledBack"}]});
        m.lanes()
            .observe("web/app", &spec(), &status("sha-3", "sha-1", next));
        let cleared = r#"promote_lane_verification_failed{namespace="web",promotion="app"} 0"#;
        assert!(lines(&m).iter().any(|l| l == cleared), "{:?}", lines(&m));
    }

    #[test]
    fn a_pin_a_suspend_or_a_rejection_does_not_count_as_a_held_back_approval() {
        let approval =
            json!({"approval": {"version": "sha-2", "observedAt": "2026-01-01T00:00:00Z"}});
        let pending = |spec: &PromotionSpec, extra: serde_json::Value| {
            approval_pending(spec, &status("sha-2", "sha-1", extra))
        };
        assert!(pending(&spec(), approval.clone()));
        let mut pinned = spec();
        pinned.pin = Some("sha-1".into());
        assert!(!pending(&pinned, approval.clone()));
        let mut suspended = spec();
        suspended.suspend = true;
        assert!(!pending(&suspended, approval.clone()));
        let mut rejected = approval.clone();
        rejected["rejectedVersions"] = json!(["sha-2"]);
        assert!(!pending(&spec(), rejected));
        assert!(!pending(&spec(), json!({})));
        assert!(!approval_pending(
            &spec(),
            &status("sha-2", "sha-2", approval)
        ));
    }
}
