//! People's decisions stand, and the lane is right in every shape: a revert of a promoted
//! version is not undone, suspend and pin act at once, rollbacks restore every field,
//! approvals are dated by the operator, skewed clocks never count as time elapsed.

mod common;

use common::*;
use promote_api::conditions::reasons;
use promote_api::{Phase, PromotionResult, RecordKind};
use promote_lane::{Failure, WriteResult};
use serde_json::json;

const C1: &str = "c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1";

/// Runs a promotion of the world's source version to the end: written, synced, healthy.
fn promoted(w: World) -> World {
    let d = w.decide();
    assert!(
        matches!(d.action, Action::Write(_)),
        "{:?}",
        d.status.message
    );
    let (status, _) = after_write(&d, WriteResult::Committed { commit: C1.into() }, at(w.now));
    let mut w = w;
    w.previous = status;
    w.now += 5;
    w.target = w.source.clone();
    w.in_flight_synced = Some(true);
    let version = w.source[0].clone();
    w.target_app = app("web-app-prod", "Synced", C1, "Healthy", true, &version);
    let d = w.decide();
    assert_eq!(d.status.phase, Some(Phase::Promoted));
    w.next(&d, 60)
}

fn message(d: &Decision) -> &str {
    d.status.message.as_deref().unwrap_or_default()
}

#[test]
fn a_revert_of_a_manual_promotion_stands_until_approved_anew() {
    let w = promoted(World::new("sha-b", "sha-a").approve("sha-b"));
    // A person reverts prod; dev still runs sha-b and the approval still names it.
    let mut w = w;
    w.target = vec!["sha-a".into()];
    w.target_changed_by = Some("9f8e7d6c5b4a (Dana Developer, revert sha-b)".into());
    let d = w.decide();
    assert_eq!(d.action, Action::None, "the revert is not undone");
    assert_eq!(d.status.phase, Some(Phase::AwaitingApproval));
    assert!(message(&d).contains("Dana Developer"), "{}", message(&d));
    assert!(message(&d).contains("approve it anew"), "{}", message(&d));
    assert!(
        message(&d).contains("kubectl promote approve app-prod sha-b -n web"),
        "the hint names the plugin's verb: {}",
        message(&d)
    );

    // The same approval, unchanged, an hour later: still held.
    let w = w.next(&d, 3600);
    assert_eq!(w.decide().action, Action::None);

    // Approved anew (any change to the approval is one, no client time needed).
    let mut w = w;
    w.spec.approval = Some(
        serde_json::from_value(json!({"version": "sha-b", "approvedBy": "oncall-lead",
                                      "note": "the fix is in the image after all"}))
        .expect("approval"),
    );
    let d = w.decide();
    let Action::Write(write) = &d.action else {
        panic!("re-approved: writes, {}", message(&d))
    };
    assert_eq!(write.values, ["sha-b"]);
    assert_eq!(write.expected, ["sha-a"]);
}

#[test]
fn a_revert_of_an_auto_promotion_rejects_the_version_and_newer_ones_move() {
    let w = promoted(World::new("sha-b", "sha-a").auto());
    let mut w = w;
    w.target = vec!["sha-a".into()];
    let d = w.decide();
    assert_eq!(d.action, Action::None);
    assert_eq!(d.status.phase, Some(Phase::Gated));
    assert_eq!(d.status.rejected_versions, ["sha-b"]);
    assert!(
        d.notes
            .iter()
            .any(|n| n.warning && n.reason == reasons::CHANGED_OUTSIDE)
    );
    let w = w.next(&d, 60);
    let d = w.decide();
    assert_eq!(d.action, Action::None);
    assert!(d.notes.is_empty(), "reported once: {:?}", d.notes);

    // Diagnose in dev, promote the fix forward.
    let mut w = w.next(&d, 60);
    w.source = vec!["sha-c".into()];
    w.source_at_synced = Some(vec!["sha-c".into()]);
    w.source_app = app("web-app-dev", "Synced", TIP, "Healthy", false, "sha-c");
    let d = w.decide();
    let Action::Write(write) = &d.action else {
        panic!("the newer version moves: {}", message(&d))
    };
    assert_eq!(write.values, ["sha-c"]);
}

#[test]
fn suspend_pauses_verification_and_no_rollback_is_written() {
    let w = World::new("sha-b", "sha-a").auto();
    let d = w.decide();
    let (status, _) = after_write(&d, WriteResult::Committed { commit: C1.into() }, at(w.now));
    let mut w = w;
    w.previous = status;
    w.now += 11 * 60;
    w.target = vec!["sha-b".into()];
    w.in_flight_synced = Some(true);
    w.target_app = app("web-app-prod", "Synced", C1, "Degraded", true, "sha-b");
    w.spec.suspend = true;
    let d = w.decide();
    assert_eq!(d.action, Action::None, "no rollback commit while suspended");
    assert_eq!(d.status.phase, Some(Phase::Suspended));
    assert!(message(&d).contains("verification of promotion sha-b is paused"));
    let record = d.status.last_promotion.as_ref().expect("record");
    assert_eq!(record.result, PromotionResult::Running);

    // Resumed: the overdue verification fails and rolls back.
    let mut w = w.next(&d, 5);
    w.spec.suspend = false;
    let d = w.decide();
    let Action::Write(write) = &d.action else {
        panic!("rollback after resume: {}", message(&d))
    };
    assert_eq!(write.kind, RecordKind::Rollback);
}

#[test]
fn suspend_before_the_push_writes_nothing() {
    let w = World::new("sha-b", "sha-a").approve("sha-b");
    let d = w.decide();
    let mut w = w.next(&d, 2);
    w.spec.suspend = true;
    let d = w.decide();
    assert_eq!(d.action, Action::None);
    assert_eq!(d.status.phase, Some(Phase::Suspended));
}

#[test]
fn a_pin_set_during_verification_wins_at_once() {
    let w = World::new("sha-b", "sha-a").auto();
    let d = w.decide();
    let (status, _) = after_write(&d, WriteResult::Committed { commit: C1.into() }, at(w.now));
    let mut w = w;
    w.previous = status;
    w.now += 5;
    w.target = vec!["sha-b".into()];
    w.spec.pin = Some("sha-a".into());
    let d = w.decide();
    let Action::Write(write) = &d.action else {
        panic!("the pin is written: {}", message(&d))
    };
    assert_eq!(write.values, ["sha-a"]);
    assert_eq!(write.expected, ["sha-b"]);
    assert_eq!(d.status.history[0].version, "sha-b");
    assert!(
        d.status.history[0]
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("superseded")
    );
}

#[test]
fn a_rollback_restores_every_promoted_field() {
    let mut w = World::new("sha-b", "sha-a").auto();
    w.spec.fields = vec!["image.tag".into(), "chart.version".into()];
    w.source = vec!["sha-b".into(), "2.0.0".into()];
    w.source_at_synced = Some(w.source.clone());
    w.target = vec!["sha-a".into(), "1.0.0".into()];
    let d = w.decide();
    let (status, _) = after_write(&d, WriteResult::Committed { commit: C1.into() }, at(w.now));
    w.previous = status;
    w.now += 11 * 60;
    w.target = w.source.clone();
    w.in_flight_synced = Some(true);
    w.target_app = app("web-app-prod", "Synced", C1, "Degraded", true, "sha-b");
    let d = w.decide();
    let Action::Write(write) = &d.action else {
        panic!("rollback: {}", message(&d))
    };
    assert_eq!(write.values, ["sha-a", "1.0.0"], "every field goes back");
    assert_eq!(write.expected, ["sha-b", "2.0.0"]);
    let record = d.status.last_promotion.as_ref().expect("record");
    assert_eq!(record.previous_values, ["sha-b", "2.0.0"]);
    assert_eq!(record.base_revision.as_deref(), Some(TIP));
}

#[test]
fn a_clock_ahead_never_counts_as_time_elapsed() {
    // The soak clock started "in the future" (another node's clock ran ahead).
    let mut w = World::new("sha-b", "sha-a").auto();
    w.spec.gates.soak_time = Some("10m".into());
    let d = w.decide();
    let mut w = w.next(&d, 0);
    if let Some(source) = w.previous.source.as_mut() {
        source.healthy_since = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(at(
            T0 + 3600
        )));
    }
    let d = w.decide();
    assert_eq!(d.action, Action::None, "no soak time has passed");
    assert_eq!(d.status.phase, Some(Phase::Gated));

    // A commit stamped in the future is not overdue.
    let w = World::new("sha-b", "sha-a").auto();
    let d = w.decide();
    let (mut status, _) = after_write(&d, WriteResult::Committed { commit: C1.into() }, at(T0));
    if let Some(r) = status.last_promotion.as_mut() {
        r.committed_at = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(at(
            T0 + 86_400
        )));
    }
    let mut w = w;
    w.previous = status;
    w.now += 60;
    w.target = vec!["sha-b".into()];
    w.in_flight_synced = Some(false);
    let d = w.decide();
    assert_eq!(d.status.phase, Some(Phase::Syncing), "{}", message(&d));
    assert_eq!(d.action, Action::None);
}

#[test]
fn approvals_are_dated_by_the_operator() {
    let w = World::new("sha-a", "sha-a").approve("sha-b");
    let d = w.decide();
    let seen = d.status.approval.clone().expect("observed");
    assert_eq!(seen.version, "sha-b");
    assert_eq!(seen.observed_at.0, at(T0));
    // Unchanged later: the first sight is kept.
    let w = w.next(&d, 300);
    let d = w.decide();
    assert_eq!(
        d.status.approval.as_ref().map(|a| a.observed_at.0),
        Some(at(T0))
    );
    // Changed: a new approval, seen now.
    let mut w = w.next(&d, 300);
    w.spec.approval = Some(
        serde_json::from_value(json!({"version": "sha-b", "approvedBy": "someone-else"}))
            .expect("approval"),
    );
    let d = w.decide();
    assert_eq!(
        d.status.approval.as_ref().map(|a| a.observed_at.0),
        Some(at(T0 + 600))
    );
}

#[test]
fn an_undecidable_recognition_waits_instead_of_succeeding() {
    let w = World::new("sha-b", "sha-a").approve("sha-b");
    let d = w.decide();
    let undecided = WriteResult::Undecided(Failure::permanent(
        reasons::GIT_ERROR,
        "the base commit is not in the branch's history (was it rewritten?)",
    ));
    let (status, _) = after_write(&d, undecided, at(T0));
    assert_eq!(status.phase, Some(Phase::Promoting));
    let record = status.last_promotion.as_ref().expect("record");
    assert_eq!(record.result, PromotionResult::Running, "not taken as done");
    assert!(record.commit.is_none());
    let stalled = promote_api::conditions::find(&status.conditions, "Stalled").expect("Stalled");
    assert_eq!(stalled.status, "True");
}
