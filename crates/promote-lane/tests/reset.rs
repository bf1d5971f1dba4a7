//! Reset: the source written back to the target's release fields (dev to the prod baseline),
//! through the same compare-and-swap commit and verification, acted on once per request.

mod common;

use common::*;
use promote_api::conditions::reasons;
use promote_api::{Phase, PromotionResult, RecordKind, ResetRequest};
use promote_lane::{WriteFrom, WriteResult};

fn reset(id: &str) -> Option<ResetRequest> {
    Some(ResetRequest {
        id: id.into(),
        requested_by: Some("alice".into()),
        requested_at: None,
    })
}

#[test]
fn a_reset_writes_the_targets_version_into_the_source_and_verifies_it_there() {
    // dev drifted to sha-c (a hot fix under test); prod runs sha-a.
    let mut w = World::new("sha-c", "sha-a");
    w.spec.reset = reset("r1");
    let d = w.decide();
    let Action::Write(write) = &d.action else {
        panic!("the reset writes: {:?}", d.status.message)
    };
    assert_eq!(write.kind, RecordKind::Reset);
    assert_eq!(
        write.file, "deploy/env/release-dev/app.yaml",
        "the source's file"
    );
    assert_eq!(write.environment, "dev");
    assert_eq!(
        (write.values.as_slice(), write.expected.as_slice()),
        (&["sha-a".to_owned()][..], &["sha-c".to_owned()][..])
    );
    assert_eq!(write.from, WriteFrom::Values { label: "reset" });
    assert_eq!(write.approved_by.as_deref(), Some("alice"));
    assert_eq!(d.status.last_reset_id.as_deref(), Some("r1"));

    let (status, _) = after_write(
        &d,
        WriteResult::Committed {
            commit: "d0".repeat(20),
        },
        at(T0),
    );
    w.previous = status;
    w.now += 5;
    w.source = vec!["sha-a".into()];
    w.in_flight_synced = Some(true);
    // The source's Application is the one that must sync and be healthy.
    w.source_app = app(
        "web-app-dev",
        "Synced",
        "d0d0",
        "Progressing",
        false,
        "sha-a",
    );
    let d = w.decide();
    assert_eq!(phase(&d), Phase::Verifying, "{:?}", d.status.message);
    w.source_app = app("web-app-dev", "Synced", "d0d0", "Healthy", false, "sha-a");
    let d = w.decide();
    assert_eq!(phase(&d), Phase::InSync, "{:?}", d.status.message);
    let record = &d.status.history[0];
    assert_eq!(
        (record.kind, record.result),
        (RecordKind::Reset, PromotionResult::Succeeded)
    );
    assert!(
        d.notes.iter().any(|n| n.reason == reasons::RESET),
        "{:?}",
        d.notes
    );

    // The same request is not acted on again.
    let w = w.next(&d, 60);
    let d = w.decide();
    assert_eq!(d.action, Action::None);
    assert_eq!(phase(&d), Phase::InSync);
}

#[test]
fn a_reset_while_a_promotion_is_in_flight_is_refused_and_an_unneeded_one_writes_nothing() {
    let w = World::new("sha-b", "sha-a").approve("sha-b");
    let d = w.decide();
    let (status, _) = after_write(
        &d,
        WriteResult::Committed {
            commit: "c0".repeat(20),
        },
        at(T0),
    );
    let mut w = w;
    w.previous = status;
    w.now += 5;
    w.spec.reset = reset("r2");
    let d = w.decide();
    assert_eq!(d.action, Action::None, "nothing is written for the reset");
    let refused = d
        .notes
        .iter()
        .find(|n| n.reason == reasons::RESET_REFUSED)
        .expect("refused");
    assert!(
        refused.warning && refused.message.contains("promotion sha-b is in flight"),
        "{refused:?}"
    );
    assert_eq!(
        d.status.last_reset_id.as_deref(),
        Some("r2"),
        "refused is acted on"
    );
    assert_eq!(
        d.status.last_promotion.as_ref().map(|r| r.kind),
        Some(RecordKind::Promotion)
    );

    let mut w = World::new("sha-a", "sha-a");
    w.spec.reset = reset("r3");
    let d = w.decide();
    assert_eq!(d.action, Action::None);
    assert!(
        d.status
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("already holds")
    );
    assert_eq!(d.status.last_reset_id.as_deref(), Some("r3"));
}
