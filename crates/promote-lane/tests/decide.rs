//! The decision, table by table: observations in, status and effects out.

mod common;

use std::time::Duration;

use common::*;
use promote_api::{Phase, PromotionRecord, PromotionResult, RecordKind, conditions};
use promote_argocd::Application;
use promote_lane::{AppView, Failure, Timing, WriteResult, decide};
use serde_json::json;

#[test]
fn equal_versions_are_in_sync_and_not_drifted() {
    let d = World::new("sha-a", "sha-a").decide();
    assert_eq!(phase(&d), Phase::InSync);
    assert_eq!(d.action, Action::None);
    assert!(!d.status.drift.as_ref().expect("drift").drifted);
    assert_eq!(condition(&d, "Ready").status, "True");
    assert_eq!(condition(&d, "Drifted").status, "False");
    assert_eq!(condition(&d, "PolicyCompliant").status, "True");
    assert_eq!(condition(&d, "Stalled").status, "False");
    assert!(
        d.status
            .conditions
            .iter()
            .all(|c| c.observed_generation == Some(3))
    );
    assert_eq!(d.status.observed_generation, Some(3));
}

#[test]
fn manual_lane_waits_for_approval_and_reports_release_drift() {
    let d = World::new("sha-b", "sha-a").decide();
    assert_eq!(phase(&d), Phase::AwaitingApproval);
    assert_eq!(d.action, Action::None);
    assert!(
        d.status
            .message
            .as_deref()
            .expect("message")
            .contains("sha-b")
    );
    let drift = d.status.drift.as_ref().expect("drift");
    assert!(drift.release.drifted && drift.drifted);
    assert_eq!(condition(&d, "Drifted").reason, "ReleaseDrift");
}

#[test]
fn an_outdated_approval_is_reported_not_acted_on() {
    let d = World::new("sha-c", "sha-a").approve("sha-b").decide();
    assert_eq!(phase(&d), Phase::AwaitingApproval);
    assert_eq!(d.action, Action::None);
    let message = d.status.message.expect("message");
    assert!(
        message.contains("approval is for sha-b") && message.contains("sha-c"),
        "{message}"
    );
}

#[test]
fn an_approved_version_is_written_with_compare_and_swap() {
    let d = World::new("sha-b", "sha-a").approve("sha-b").decide();
    assert_eq!(phase(&d), Phase::Promoting);
    let Action::Write(w) = &d.action else {
        panic!("expected a write, got {:?}", d.action)
    };
    assert_eq!(w.file, "deploy/env/release-prod/app.yaml");
    assert_eq!(w.values, ["sha-b"]);
    assert_eq!(w.expected, ["sha-a"]);
    assert_eq!(w.approved_by.as_deref(), Some("oncall-lead"));
    let record = d.status.last_promotion.as_ref().expect("record");
    assert_eq!(record.result, PromotionResult::Running);
    assert_eq!(record.previous_version.as_deref(), Some("sha-a"));
    assert_eq!(condition(&d, "Promoting").status, "True");
}

#[test]
fn the_whole_flow_promotes_then_verifies() {
    let w = World::new("sha-b", "sha-a").approve("sha-b");
    let d1 = w.decide();
    let (status, notes) = after_write(
        &d1,
        WriteResult::Committed {
            commit: "c0ffee0000000000000000000000000000000000".into(),
        },
        at(T0),
    );
    assert_eq!(status.phase, Some(Phase::Syncing));
    assert!(notes.iter().any(|n| n.reason == "Committed"));
    let mut w = w;
    w.previous = status;
    w.now += 5;
    // The target moved in Git; Argo CD has not synced it yet.
    w.target = vec!["sha-b".into()];
    w.in_flight_synced = Some(false);
    w.target_app = app("web-app-prod", "OutOfSync", TIP, "Healthy", true, "sha-a");
    let d2 = w.decide();
    assert_eq!(phase(&d2), Phase::Syncing);
    assert_eq!(condition(&d2, "Verified").status, "Unknown");
    // Synced at our commit, still progressing.
    let mut w = w.next(&d2, 5);
    w.in_flight_synced = Some(true);
    w.target_app = app(
        "web-app-prod",
        "Synced",
        "c0ffee",
        "Progressing",
        true,
        "sha-b",
    );
    let d3 = w.decide();
    assert_eq!(phase(&d3), Phase::Verifying);
    let synced_at = d3
        .status
        .last_promotion
        .as_ref()
        .and_then(|r| r.synced_at.clone());
    assert!(synced_at.is_some());
    // Healthy: done.
    let mut w = w.next(&d3, 5);
    w.target_app = app("web-app-prod", "Synced", "c0ffee", "Healthy", true, "sha-b");
    let d4 = w.decide();
    assert_eq!(phase(&d4), Phase::Promoted);
    let record = d4.status.last_promotion.as_ref().expect("record");
    assert_eq!(record.result, PromotionResult::Succeeded);
    assert_eq!(
        record.synced_at, synced_at,
        "syncedAt is kept from the first time"
    );
    assert!(record.healthy_at.is_some() && record.finished_at.is_some());
    assert_eq!(d4.status.history.len(), 1);
    assert!(
        d4.notes
            .iter()
            .any(|n| n.reason == "Promoted" && !n.warning)
    );
    assert_eq!(condition(&d4, "Verified").status, "True");
    assert_eq!(condition(&d4, "Promoting").status, "False");
    // And it stays Promoted while nothing changes, without a second history entry.
    let w = w.next(&d4, 60);
    let d5 = w.decide();
    assert_eq!(phase(&d5), Phase::Promoted);
    assert_eq!(d5.action, Action::None);
    assert_eq!(d5.status.history.len(), 1);
}

#[test]
fn auto_lane_gates_on_source_health_sync_and_soak() {
    let mut w = World::new("sha-b", "sha-a").auto();
    w.spec.gates.soak_time = Some("10m".into());
    w.source_app = app("web-app-dev", "Synced", TIP, "Degraded", false, "sha-b");
    let d = w.decide();
    assert_eq!(phase(&d), Phase::Gated);
    assert!(d.status.message.as_deref().expect("m").contains("Degraded"));

    w.source_app = app("web-app-dev", "OutOfSync", TIP, "Healthy", false, "sha-b");
    w.source_at_synced = Some(vec!["sha-a".into()]);
    let d = w.decide();
    assert_eq!(phase(&d), Phase::Gated);
    assert!(
        d.status
            .message
            .as_deref()
            .expect("m")
            .contains("not yet synced")
    );

    w.source_app = app("web-app-dev", "Synced", TIP, "Healthy", false, "sha-b");
    w.source_at_synced = Some(vec!["sha-b".into()]);
    let d = w.decide();
    assert_eq!(phase(&d), Phase::Gated, "soak time has not passed");
    assert!(d.requeue <= Duration::from_secs(601));
    assert!(
        d.status
            .source
            .as_ref()
            .and_then(|s| s.healthy_since.clone())
            .is_some()
    );

    let w = w.next(&d, 9 * 60);
    let d = w.decide();
    assert_eq!(phase(&d), Phase::Gated);
    assert!(
        d.requeue <= Duration::from_secs(61),
        "requeues when the soak ends: {:?}",
        d.requeue
    );

    let w = w.next(&d, 61);
    let d = w.decide();
    assert_eq!(phase(&d), Phase::Promoting);
    assert!(matches!(d.action, Action::Write(_)));
}

#[test]
fn suspend_and_pin_hold_the_target() {
    let mut w = World::new("sha-b", "sha-a").auto();
    w.spec.suspend = true;
    assert_eq!(phase(&w.decide()), Phase::Suspended);
    assert_eq!(w.decide().action, Action::None);

    let mut w = World::new("sha-c", "sha-b").auto();
    w.spec.pin = Some("sha-a".into());
    let d = w.decide();
    let Action::Write(write) = &d.action else {
        panic!("pin writes")
    };
    assert_eq!(write.values, ["sha-a"]);
    assert_eq!(write.kind, RecordKind::Rollback);

    let mut w = World::new("sha-c", "sha-a").auto();
    w.spec.pin = Some("sha-a".into());
    let d = w.decide();
    assert_eq!(phase(&d), Phase::InSync);
    assert_eq!(d.action, Action::None, "auto never overrides a pin");
    assert!(
        d.status.drift.as_ref().expect("drift").release.drifted,
        "drift is still reported"
    );
}

#[test]
fn self_heal_policy_is_checked_per_environment() {
    let mut w = World::new("sha-a", "sha-a");
    w.source_app = app("web-app-dev", "Synced", TIP, "Healthy", true, "sha-a");
    let d = w.decide();
    let c = condition(&d, "PolicyCompliant");
    assert_eq!(c.status, "False");
    assert_eq!(c.reason, "SelfHealMismatch");
    assert!(
        c.message.contains("argocd/web-app-dev") && c.message.contains("selfHeal: false"),
        "{}",
        c.message
    );
    let policy = d.status.policy.as_ref().expect("policy");
    assert!(!policy.source.as_ref().expect("source").compliant);
    assert!(policy.target.as_ref().expect("target").compliant);

    let mut w = World::new("sha-a", "sha-a");
    w.target_app = app("web-app-prod", "Synced", TIP, "Healthy", false, "sha-a");
    let c = w.decide().status.conditions;
    let c = conditions::find(&c, "PolicyCompliant")
        .expect("present")
        .clone();
    assert!(c.message.contains("argocd/web-app-prod") && c.message.contains("selfHeal: true"));

    let mut w = World::new("sha-a", "sha-a");
    w.spec.source.expected_self_heal = Some(true);
    w.source_app = app("web-app-dev", "Synced", TIP, "Healthy", true, "sha-a");
    assert_eq!(condition(&w.decide(), "PolicyCompliant").status, "True");
}

#[test]
fn a_hot_session_on_dev_is_live_drift_on_the_source() {
    let mut w = World::new("sha-a", "sha-a");
    w.source_app = app(
        "web-app-dev",
        "OutOfSync",
        TIP,
        "Healthy",
        false,
        "hot-okteto",
    );
    let d = w.decide();
    let drift = d.status.drift.as_ref().expect("drift");
    assert!(drift.drifted && !drift.release.drifted);
    assert_eq!(drift.source.git_vs_live.as_deref(), Some("OutOfSync"));
    assert!(
        drift
            .source
            .reason
            .as_deref()
            .expect("reason")
            .contains("self-heal is off")
    );
    assert_eq!(condition(&d, "Drifted").reason, "LiveDrift");
    assert_eq!(phase(&d), Phase::InSync);
}

#[test]
fn helm_parameters_overriding_a_field_are_drift() {
    let mut w = World::new("sha-a", "sha-a");
    let v = json!({
        "metadata": {"name": "web-app-prod", "namespace": "argocd"},
        "spec": {"source": {"helm": {"parameters": [{"name": "image.tag", "value": "hotfix"}]}},
                 "syncPolicy": {"automated": {"selfHeal": true}}},
        "status": {"sync": {"status": "Synced", "revision": TIP}, "health": {"status": "Healthy"}}
    });
    w.target_app = AppView::Found(Box::new(Application::from_json(&v).expect("app")));
    let d = w.decide();
    let drift = d.status.drift.as_ref().expect("drift");
    assert_eq!(drift.target.overridden_fields, ["image.tag"]);
    assert!(drift.drifted);
}

#[test]
fn verification_timeout_rolls_back_and_rejects_the_version() {
    let w = World::new("sha-b", "sha-a").auto();
    let d1 = w.decide();
    let (status, _) = after_write(
        &d1,
        WriteResult::Committed {
            commit: "c1".repeat(20),
        },
        at(T0),
    );
    let mut w = w;
    w.previous = status;
    w.now += 11 * 60;
    w.target = vec!["sha-b".into()];
    w.in_flight_synced = Some(true);
    w.target_app = app("web-app-prod", "Synced", "c1", "Degraded", true, "sha-b");
    let d = w.decide();
    assert_eq!(phase(&d), Phase::Promoting, "the rollback starts");
    let Action::Write(write) = &d.action else {
        panic!("rollback writes")
    };
    assert_eq!(write.values, ["sha-a"]);
    assert_eq!(write.expected, ["sha-b"]);
    assert_eq!(d.status.rejected_versions, ["sha-b"]);
    assert_eq!(d.status.history[0].result, PromotionResult::RolledBack);
    assert!(d.notes.iter().any(|n| n.warning));

    // Rollback lands and verifies: RolledBack, and Auto does not try sha-b again.
    let (status, _) = after_write(
        &d,
        WriteResult::Committed {
            commit: "c2".repeat(20),
        },
        at(w.now),
    );
    w.previous = status;
    w.now += 5;
    w.target = vec!["sha-a".into()];
    w.target_app = app("web-app-prod", "Synced", "c2", "Healthy", true, "sha-a");
    let d = w.decide();
    assert_eq!(phase(&d), Phase::RolledBack);
    let w = w.next(&d, 60);
    let d = w.decide();
    assert_eq!(d.action, Action::None);
    assert_eq!(phase(&d), Phase::RolledBack);
    assert!(d.status.message.as_deref().expect("m").contains("rejected"));
}

#[test]
fn a_person_editing_the_target_mid_flight_is_a_conflict() {
    let w = World::new("sha-b", "sha-a").approve("sha-b");
    let d1 = w.decide();
    let mut w = w.next(&d1, 2);
    // The write did not report back (crash); meanwhile a person set prod to a hotfix.
    w.target = vec!["hotfix-1".into()];
    let d = w.decide();
    assert_eq!(phase(&d), Phase::Failed);
    assert_eq!(d.action, Action::None);
    assert_eq!(
        d.status.last_promotion.as_ref().expect("r").result,
        PromotionResult::Conflict
    );

    let (status, notes) = after_write(
        &d1,
        WriteResult::Conflict {
            message: "prod changed to hotfix-1 by abc".into(),
        },
        at(T0),
    );
    assert_eq!(status.phase, Some(Phase::Failed));
    assert!(notes.iter().any(|n| n.warning && n.reason == "Conflict"));
}

#[test]
fn a_restart_after_push_writes_again_idempotently() {
    // Status says Promoting without a commit, and Git already holds the new version: the
    // write is repeated with the target's own values, so no second change can happen.
    let w = World::new("sha-b", "sha-a").approve("sha-b");
    let d1 = w.decide();
    let mut w = w.next(&d1, 30);
    w.target = vec!["sha-b".into()];
    let d = w.decide();
    let Action::Write(write) = &d.action else {
        panic!("writes again")
    };
    assert_eq!(write.values, ["sha-b"]);
    assert_eq!(write.expected, ["sha-b"]);
}

#[test]
fn unreadable_values_files_stall_the_lane() {
    let w = World::new("sha-a", "sha-a");
    let mut obs = w.observation();
    if let Ok(g) = obs.git.as_mut() {
        g.target = Err(Failure::permanent(
            "ValuesFileError",
            "deploy/env/release-prod/app.yaml: image.tag: key missing",
        ));
    }
    let d = Decision::of(decide(&obs, &Timing::default()));
    assert_eq!(phase(&d), Phase::Failed);
    assert_eq!(condition(&d, "Stalled").status, "True");
    assert!(condition(&d, "Stalled").message.contains("key missing"));

    let mut obs = w.observation();
    obs.previous.phase = Some(Phase::AwaitingApproval);
    obs.git = Err(Failure::transient("GitError", "connection refused"));
    let d = Decision::of(decide(&obs, &Timing::default()));
    assert_eq!(
        phase(&d),
        Phase::AwaitingApproval,
        "a transient error keeps the phase"
    );
    assert_eq!(condition(&d, "Stalled").status, "False");
    assert!(d.status.message.as_deref().expect("m").contains("retrying"));
}

#[test]
fn unchanged_conditions_keep_their_transition_time() {
    let w = World::new("sha-a", "sha-a");
    let d1 = w.decide();
    let w = w.next(&d1, 300);
    let d2 = w.decide();
    assert_eq!(
        condition(&d1, "Ready").last_transition_time,
        condition(&d2, "Ready").last_transition_time
    );
}

#[test]
fn lanes_without_applications_still_promote_and_finish_on_commit() {
    let mut w = World::new("sha-b", "sha-a").auto();
    w.source_app = AppView::NotConfigured;
    w.target_app = AppView::NotConfigured;
    let d = w.decide();
    assert!(matches!(d.action, Action::Write(_)));
    let (status, _) = after_write(
        &d,
        WriteResult::Committed {
            commit: "c".repeat(40),
        },
        at(T0),
    );
    w.previous = status;
    w.target = vec!["sha-b".into()];
    let d = w.decide();
    assert_eq!(phase(&d), Phase::Promoted);
}

#[test]
fn history_is_bounded() {
    let mut w = World::new("v99", "sha-a").approve("v99");
    w.previous.history = (0..20)
        .map(|i| PromotionRecord {
            version: format!("v{i}"),
            ..PromotionRecord::default()
        })
        .collect();
    let d = w.decide();
    let (status, _) = after_write(&d, WriteResult::AlreadyThere, at(T0));
    assert_eq!(status.history.len(), 20);
    assert_eq!(status.history[0].version, "v99");
}

#[test]
fn after_a_conflict_the_edit_stands_until_approved_again() {
    let w = World::new("sha-b", "sha-a").approve("sha-b");
    let d1 = w.decide();
    let (status, _) = after_write(
        &d1,
        WriteResult::Conflict {
            message: "prod image.tag is hotfix-1".into(),
        },
        at(T0),
    );
    let mut w = w;
    w.previous = status;
    w.now += 60;
    w.target = vec!["hotfix-1".into()];
    let d = w.decide();
    assert_eq!(
        d.action,
        Action::None,
        "the person's edit is not overwritten"
    );
    assert_eq!(phase(&d), Phase::Failed);
    assert!(
        d.status
            .message
            .as_deref()
            .expect("m")
            .contains("approve it again")
    );

    // A fresh approval (newer than the conflict) moves it.
    let mut w = w.next(&d, 60);
    w.spec.approval = Some(
        serde_json::from_value(json!({"version": "sha-b", "approvedBy": "lead",
                                      "approvedAt": "2027-01-01T00:00:00Z"}))
        .expect("approval"),
    );
    let d = w.decide();
    let Action::Write(write) = &d.action else {
        panic!("re-approved: writes")
    };
    assert_eq!(write.expected, ["hotfix-1"]);
}
