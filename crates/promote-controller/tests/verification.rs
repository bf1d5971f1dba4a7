//! Verification by `spec.verification.healthUrl` end to end: the real operator, the real API
//! server, a real git server, the Argo CD simulator, and a health endpoint on loopback that
//! fails, passes or never answers.

mod world;

use promote_api::{Phase, PromotionResult};
use serde_json::json;
use world::health::{Mode, serve};
use world::*;

/// The deployment log the lanes here keep.
const LOG: &str = "deploy/CHANGELOG.md";

async fn auto_lane(w: &World, url: &str, timeout: &str) {
    w.create_promotion(
        "Auto",
        json!({"verification": {"healthUrl": url, "interval": "1s", "successes": 3,
                                "expectBody": "ok", "timeout": timeout},
               "releaseNotes": {"file": LOG}}),
    )
    .await;
    w.wait_phase(Phase::InSync).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_url_that_fails_three_times_then_passes_verifies_the_promotion() {
    let w = World::start("health-pass", false).await;
    let (addr, health) = serve(Mode::FailFirst(3)).await;
    let op = w.operator("op-a");
    let url = format!("http://{addr}/health");
    auto_lane(&w, &url, "60s").await;
    let ci = w.release("sha-2");

    let s = w.wait_phase(Phase::Promoted).await;
    let record = s.last_promotion.as_ref().expect("record");
    assert_eq!(record.result, PromotionResult::Succeeded);
    let evidence = record.verification.as_ref().expect("evidence");
    assert_eq!(
        (evidence.url.as_str(), evidence.required),
        (url.as_str(), 3)
    );
    assert_eq!(evidence.consecutive, 3);
    assert_eq!(
        evidence.total, 6,
        "three 503s, then three 200s: {evidence:?}"
    );
    let codes: Vec<Option<u16>> = evidence.attempts.iter().map(|a| a.code).collect();
    assert_eq!(
        codes,
        [
            Some(503),
            Some(503),
            Some(503),
            Some(200),
            Some(200),
            Some(200)
        ]
    );
    assert!(
        evidence.attempts[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("503"))
    );
    assert_eq!(health.hits(), 6, "no probe after the verdict");
    assert!(
        s.message
            .as_deref()
            .unwrap_or_default()
            .contains("answered 3 of 3")
    );
    let commits = w.commits_since(&ci);
    assert_eq!(commits.len(), 1, "one commit, no rollback");
    // The deployment log got its entry in the same commit.
    let mut files = commits[0].2.clone();
    files.sort_unstable();
    assert_eq!(files, [LOG.to_owned(), PROD_RELEASE.to_owned()]);
    let log = w.file_at_tip(LOG);
    assert!(
        log.starts_with("# Deployment log\n\n## web: image.tag sha-1 -> sha-2 (dev -> prod), "),
        "{log}"
    );
    assert!(
        log.contains("- automatic\n") && log.contains(" ci: release sha-2 ("),
        "{log}"
    );
    assert_eq!(s.history[0].verification, record.verification);
    op.stop().await;
    w.finish().await;
}

/// Waits for the rollback of sha-2, and checks it is one commit restoring sha-1, that sha-2 is
/// rejected, and that Auto does not promote it again.
async fn rolled_back(w: &World, op: &Replica, ci: &str) -> promote_api::PromotionStatus {
    let s = w.wait_phase(Phase::RolledBack).await;
    assert_eq!(s.rejected_versions, ["sha-2"]);
    let failed = s
        .history
        .iter()
        .find(|r| r.version == "sha-2")
        .expect("the failed promotion");
    assert_eq!(failed.result, PromotionResult::RolledBack);
    assert!(failed.verification.as_ref().is_some_and(|e| e.total >= 1));
    let commits = w.commits_since(ci);
    assert_eq!(
        commits.len(),
        2,
        "the promotion and one rollback: {commits:?}"
    );
    assert_eq!(
        w.file_at_tip(PROD_RELEASE),
        release_file("sha-1", "promoted")
    );
    // More looks at the lane, and sha-2 stays out of prod.
    op.wait_reconciles(op.reconciles(), 3).await;
    assert_eq!(
        w.commits_since(ci).len(),
        2,
        "Auto does not try a rejected version again"
    );
    assert_eq!(w.status().await.phase, Some(Phase::RolledBack));
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_url_that_keeps_failing_rolls_back_in_one_commit() {
    let w = World::start("health-fail", false).await;
    let (addr, _) = serve(Mode::AlwaysFail).await;
    let op = w.operator("op-a");
    auto_lane(&w, &format!("http://{addr}/health"), "8s").await;
    let ci = w.release("sha-2");
    let s = rolled_back(&w, &op, &ci).await;
    let failed = s
        .history
        .iter()
        .find(|r| r.version == "sha-2")
        .expect("record");
    let message = failed.message.as_deref().unwrap_or_default();
    assert!(
        message.contains("did not pass within 8s") && message.contains("500"),
        "{message}"
    );
    op.stop().await;
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_url_that_never_answers_times_out_and_rolls_back() {
    let w = World::start("health-hang", false).await;
    let (addr, health) = serve(Mode::Hang).await;
    let op = w.operator("op-a");
    auto_lane(&w, &format!("http://{addr}/health"), "8s").await;
    let ci = w.release("sha-2");
    let s = rolled_back(&w, &op, &ci).await;
    let failed = s
        .history
        .iter()
        .find(|r| r.version == "sha-2")
        .expect("record");
    let evidence = failed.verification.as_ref().expect("evidence");
    let last = evidence.attempts.last().expect("an attempt");
    assert_eq!(last.code, None);
    assert!(
        last.error
            .as_deref()
            .is_some_and(|e| e.contains("no answer within 1s")),
        "{last:?}"
    );
    assert!(health.hits() >= 1, "the endpoint was asked");
    op.stop().await;
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_another_host_is_refused() {
    let w = World::start("health-redirect", false).await;
    let (addr, _) = serve(Mode::RedirectAway).await;
    let op = w.operator("op-a");
    auto_lane(&w, &format!("http://{addr}/health"), "8s").await;
    let ci = w.release("sha-2");
    let s = rolled_back(&w, &op, &ci).await;
    let failed = s
        .history
        .iter()
        .find(|r| r.version == "sha-2")
        .expect("record");
    let last = failed
        .verification
        .as_ref()
        .and_then(|e| e.attempts.last().cloned())
        .expect("an attempt");
    assert!(
        last.error
            .as_deref()
            .is_some_and(|e| e.contains("another host (198.51.100.7)")),
        "{last:?}"
    );
    op.stop().await;
    w.finish().await;
}
