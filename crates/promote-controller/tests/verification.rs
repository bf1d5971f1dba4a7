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
/// rejected, and that Auto does not promote it again; the record of the failed promotion.
async fn rolled_back(w: &World, op: &Replica, ci: &str) -> promote_api::PromotionRecord {
    let s = w.wait_phase(Phase::RolledBack).await;
    assert_eq!(s.rejected_versions, ["sha-2"]);
    let failed = s
        .history
        .iter()
        .find(|r| r.version == "sha-2")
        .cloned()
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
    failed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_url_that_keeps_failing_rolls_back_in_one_commit() {
    let w = World::start("health-fail", false).await;
    let (addr, _) = serve(Mode::AlwaysFail).await;
    let op = w.operator("op-a");
    auto_lane(&w, &format!("http://{addr}/health"), "8s").await;
    let ci = w.release("sha-2");
    let failed = rolled_back(&w, &op, &ci).await;
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
    let failed = rolled_back(&w, &op, &ci).await;
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
    let failed = rolled_back(&w, &op, &ci).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_edit_of_prod_while_verification_fails_is_kept_not_rolled_over() {
    let w = World::start("health-edit", false).await;
    let (addr, _) = serve(Mode::AlwaysFail).await;
    let op = w.operator("op-a");
    auto_lane(&w, &format!("http://{addr}/health"), "8s").await;
    let ci = w.release("sha-2");
    w.wait_phase_saying(Phase::Verifying, "probing").await;
    // A person fixes prod by hand while the health URL keeps failing.
    let hotfix = w
        .repo
        .commit_files(
            "main",
            &[(PROD_RELEASE, &release_file("sha-hotfix", "by hand"))],
            "prod: hotfix by hand",
        )
        .expect("the person's commit");
    let s = w
        .wait("the failed promotion ends", |s| {
            s.history
                .iter()
                .any(|r| r.version == "sha-2" && r.result != PromotionResult::Running)
        })
        .await;
    assert_eq!(
        s.rejected_versions,
        ["sha-2"],
        "the version failed verification"
    );
    op.wait_reconciles(op.reconciles(), 3).await;
    assert!(
        w.commits_since(&hotfix).is_empty(),
        "nothing written over the person's edit"
    );
    assert_eq!(
        w.file_at_tip(PROD_RELEASE),
        release_file("sha-hotfix", "by hand")
    );
    assert_eq!(
        w.commits_since(&ci).len(),
        2,
        "the promotion and the person's commit"
    );
    op.stop().await;
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_url_over_tls_is_trusted_only_through_the_lanes_labelled_ca_bundle() {
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::{Patch, PatchParams, PostParams};
    let w = World::start("health-tls", false).await;
    let https = world::tls::serve().await;
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "web-ca"},
        "stringData": {"ca.crt": https.ca_pem},
    }))
    .expect("secret");
    let secrets = w.env.api::<Secret>();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("the CA bundle Secret");
    let op = w.operator("op-a");
    w.create_promotion(
        "Auto",
        json!({"verification": {"healthUrl": https.url, "interval": "1s", "successes": 2,
                                "timeout": "60s"}}),
    )
    .await;
    w.wait_phase(Phase::InSync).await;
    w.release("sha-2");

    // The system roots do not know the test's CA.
    w.wait_phase_saying(Phase::Verifying, "certificate").await;
    // The lane names the bundle, but its Secret is not marked as one yet.
    w.patch_spec(
        json!({"verification": {"healthUrl": https.url, "interval": "1s", "successes": 2,
                                         "timeout": "60s", "caBundle": {"secretName": "web-ca"}}}),
    )
    .await;
    let s = w
        .wait_phase_saying(Phase::Verifying, "is not marked as a CA bundle")
        .await;
    assert!(
        s.message
            .as_deref()
            .unwrap_or_default()
            .contains("promote.dev/ca-bundle=true"),
        "{:?}",
        s.message
    );
    secrets
        .patch(
            "web-ca",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"promote.dev/ca-bundle": "true"}}})),
        )
        .await
        .expect("label the Secret");
    let s = w.wait_phase(Phase::Promoted).await;
    let evidence = s
        .last_promotion
        .as_ref()
        .and_then(|r| r.verification.clone())
        .expect("evidence");
    let last = evidence.attempts.last().expect("attempts");
    assert_eq!((last.passed, last.code), (true, Some(200)));
    assert!(
        evidence.attempts.iter().any(|a| a
            .error
            .as_deref()
            .is_some_and(|e| e.contains("certificate"))),
        "{evidence:?}"
    );
    op.stop().await;
    w.finish().await;
}
