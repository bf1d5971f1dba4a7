//! Reset of dev to the prod baseline end to end (seed 001): after a hot session and a CI
//! release that prod never got, `spec.reset` writes prod's version into dev's release file in
//! one commit, Argo CD (the simulator) syncs dev, and the lane records it.

mod world;

use promote_api::conditions::reasons;
use promote_api::{Phase, PromotionResult, RecordKind};
use serde_json::json;
use world::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_after_a_hot_session_puts_dev_back_on_the_prod_baseline() {
    let w = World::start("reset", false).await;
    let op = w.operator("op-a");
    w.create_promotion("Manual", json!({})).await;
    w.wait_phase(Phase::InSync).await;
    // A hot session on dev, then a CI build of it that prod never got.
    w.sim
        .start_hot_session(&w.dev, "registry.example.com/web/app:okteto-dev");
    w.wait("source drift", |s| {
        s.drift
            .as_ref()
            .is_some_and(|d| d.source.git_vs_live.as_deref() == Some("OutOfSync"))
    })
    .await;
    w.sim.end_hot_session(&w.dev);
    let ci = w.release("sha-3");
    w.wait_phase(Phase::AwaitingApproval).await;

    w.patch_spec(json!({"reset": {"id": "r1", "requestedBy": "alice"}}))
        .await;
    let s = w
        .wait("dev reset to prod's sha-1", |s| {
            s.phase == Some(Phase::InSync)
                && s.last_promotion.as_ref().is_some_and(|r| {
                    r.kind == RecordKind::Reset && r.result == PromotionResult::Succeeded
                })
        })
        .await;
    let commits = w.commits_since(&ci);
    assert_eq!(commits.len(), 1, "one commit: {commits:?}");
    assert_eq!(
        commits[0].2,
        [DEV_RELEASE.to_owned()],
        "only dev's release file"
    );
    assert!(commits[0].1.contains("alice"), "{}", commits[0].1);
    assert_eq!(
        w.file_at_tip(DEV_RELEASE),
        release_file("sha-1", "set by CI")
    );
    assert_eq!(s.last_reset_id.as_deref(), Some("r1"));
    let record = s.last_promotion.as_ref().expect("record");
    assert_eq!(
        (record.version.as_str(), record.previous_version.as_deref()),
        ("sha-1", Some("sha-3"))
    );
    assert_eq!(record.approved_by.as_deref(), Some("alice"));
    assert!(record.synced_at.is_some() && record.healthy_at.is_some());
    assert_eq!(s.history[0].kind, RecordKind::Reset);
    assert!(
        !s.drift.as_ref().is_some_and(|d| d.release.drifted),
        "dev and prod agree"
    );
    let events = w.events().await;
    assert!(
        events.iter().any(|(reason, _)| reason == reasons::RESET),
        "{events:?}"
    );

    // The same request is not carried out twice.
    op.wait_reconciles(op.reconciles(), 3).await;
    assert_eq!(w.commits_since(&ci).len(), 1);
    op.stop().await;
    w.finish().await;
}
