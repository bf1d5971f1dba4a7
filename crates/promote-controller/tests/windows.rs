//! Release windows end to end: a Manual lane whose Deny window is open holds an approved
//! version (Gated, status.window closed, nothing committed); an approval with overrideWindow
//! moves it once, and the history and an Event say so.

mod world;

use promote_api::conditions::reasons;
use promote_api::{Phase, PromotionResult};
use serde_json::json;
use world::*;

/// Every minute opens the window for an hour: it is open for as long as the test runs.
const DENY: &str = "* * * * *";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_window_holds_an_approved_version_until_an_override_moves_it_once() {
    let w = World::start("windows", false).await;
    let op = w.operator("op-a");
    w.create_promotion(
        "Manual",
        json!({"windows": [{"kind": "Deny", "schedule": DENY, "duration": "1h"}]}),
    )
    .await;
    w.wait_phase(Phase::InSync).await;
    let ci = w.release("sha-2");
    w.wait_dev_running("sha-2").await;
    w.patch_spec(json!({"approval": {"version": "sha-2", "approvedBy": "alice"}}))
        .await;
    let generation = w
        .promotions()
        .get("web-prod")
        .await
        .expect("read the Promotion")
        .metadata
        .generation;
    let held = w
        .wait("Gated by the window at the approval's generation", |s| {
            s.observed_generation == generation
                && s.phase == Some(Phase::Gated)
                && s.message.as_deref().is_some_and(|m| {
                    m.starts_with("gate: release window closed (Deny * * * * * for 1h, UTC)")
                })
        })
        .await;
    let window = held.window.clone().expect("status.window");
    assert!(!window.open);
    assert_eq!(
        window.window.as_deref(),
        Some("Deny * * * * * for 1h (UTC)")
    );
    assert_eq!(window.next_open, None, "this window never closes");
    assert!(
        held.message
            .as_deref()
            .is_some_and(|m| m.contains("--override-window")),
        "{:?}",
        held.message
    );
    assert!(w.commits_since(&ci).is_empty(), "nothing committed");
    assert!(
        held.last_promotion
            .as_ref()
            .is_none_or(|r| r.version != "sha-2"),
        "no promotion of sha-2 was started"
    );

    w.patch_spec(
        json!({"approval": {"version": "sha-2", "approvedBy": "alice",
        "note": "security fix, cannot wait for Monday", "overrideWindow": true}}),
    )
    .await;
    let s = w
        .wait("sha-2 promoted over the closed window", |s| {
            s.phase == Some(Phase::Promoted)
                && s.last_promotion
                    .as_ref()
                    .is_some_and(|r| r.version == "sha-2" && r.result == PromotionResult::Succeeded)
        })
        .await;
    let record = &s.history[0];
    assert_eq!(record.version, "sha-2");
    assert!(record.window_overridden, "{record:?}");
    assert_eq!(record.approved_by.as_deref(), Some("alice"));
    assert_eq!(
        record.note.as_deref(),
        Some("security fix, cannot wait for Monday")
    );
    let commits = w.commits_since(&ci);
    assert_eq!(commits.len(), 1, "one commit: {commits:?}");
    assert_eq!(commits[0].2, [PROD_RELEASE.to_owned()]);
    assert!(!s.window.as_ref().is_some_and(|w| w.open), "still closed");
    let events = w.events().await;
    let overridden: Vec<&String> = events
        .iter()
        .filter(|(reason, _)| reason == reasons::WINDOW_OVERRIDDEN)
        .map(|(_, note)| note)
        .collect();
    assert_eq!(overridden.len(), 1, "{events:?}");
    assert!(
        overridden[0].contains("approved by alice with overrideWindow: security fix"),
        "{overridden:?}"
    );
    op.stop().await;
    w.finish().await;
}
