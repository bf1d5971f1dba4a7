//! A three-environment chain end to end: dev → stage (`web-stage`, verified by a health
//! URL) and stage → prod (`web-prod`, `spec.after: web-stage`), on the real API server, a real
//! git server and the Argo CD simulator. prod receives only what stage promoted and verified.

mod world;

use kube::api::PostParams;
use promote_api::{Phase, Promotion, PromotionStatus};
use promote_argocd_sim::ApplicationBuilder;
use promote_testsupport::wait_until;
use serde_json::json;
use std::time::Duration;
use world::health::{Mode, serve};
use world::*;

const STAGE_RELEASE: &str = "deploy/env/release-stage/web.yaml";

/// Adds the stage environment: its release file (at sha-1, like the others) and its
/// Application, synced automatically.
async fn add_stage(w: &World) {
    w.repo
        .commit_files(
            "main",
            &[
                (STAGE_RELEASE, &release_file("sha-1", "promoted")),
                ("deploy/env/stage/web.yaml", "env:\n  NODE_ENV: staging\n"),
            ],
            "stage environment",
        )
        .expect("stage files");
    ApplicationBuilder::new("web-stage", &w.url, "deploy/charts/web-app")
        .value_file("../../env/stage/web.yaml")
        .value_file("../../env/release-stage/web.yaml")
        .auto_sync(true)
        .create(w.env.client(), w.env.ns())
        .await
        .expect("stage Application");
}

async fn create_lane(
    w: &World,
    name: &str,
    from: (&str, &str, &str),
    to: (&str, &str, &str),
    extra: serde_json::Value,
) {
    let ns = w.env.ns();
    let mut spec = json!({
        "repository": {"url": w.url, "credentials": {"secretName": "web-core-git"}},
        "source": {"environment": from.0, "valuesFile": from.1,
                   "application": {"name": from.2, "namespace": ns}},
        "target": {"environment": to.0, "valuesFile": to.1,
                   "application": {"name": to.2, "namespace": ns}},
        "trigger": "Auto",
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    let p: Promotion = serde_json::from_value(json!({
        "apiVersion": "promote.dev/v1alpha1", "kind": "Promotion",
        "metadata": {"name": name}, "spec": spec,
    }))
    .expect("promotion");
    w.promotions()
        .create(&PostParams::default(), &p)
        .await
        .expect("create the Promotion");
}

async fn wait_lane(
    w: &World,
    name: &str,
    what: &str,
    ok: impl Fn(&PromotionStatus) -> bool,
) -> PromotionStatus {
    let api = w.promotions();
    wait_until(what, WAIT, Duration::from_millis(200), async || {
        let s = api
            .get(name)
            .await
            .map_err(|e| e.to_string())?
            .status
            .unwrap_or_default();
        if ok(&s) {
            Ok(Some(s))
        } else {
            Err(format!("{:?}: {:?}", s.phase, s.message))
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Commits that touched `file` after `since`.
fn touching(w: &World, since: &str, file: &str) -> Vec<String> {
    w.commits_since(since)
        .into_iter()
        .filter(|(_, _, files)| files.iter().any(|f| f == file))
        .map(|(_, message, _)| message)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prod_receives_only_what_stage_promoted_and_verified() {
    let w = World::start("chain", false).await;
    add_stage(&w).await;
    let (addr, health) = serve(Mode::FailFirst(0)).await;
    let op = w.operator("op-a");
    let verification = json!({"verification": {"healthUrl": format!("http://{addr}/health"),
        "interval": "1s", "successes": 2, "timeout": "8s"}});
    create_lane(
        &w,
        "web-stage",
        ("dev", DEV_RELEASE, "web-dev"),
        ("stage", STAGE_RELEASE, "web-stage"),
        verification,
    )
    .await;
    create_lane(
        &w,
        "web-prod",
        ("stage", STAGE_RELEASE, "web-stage"),
        ("prod", PROD_RELEASE, "web-prod"),
        json!({"after": {"name": "web-stage"}}),
    )
    .await;
    wait_lane(&w, "web-prod", "prod in sync", |s| {
        s.phase == Some(Phase::InSync)
    })
    .await;

    // sha-2 passes stage's verification, then flows on to prod unchanged.
    let ci = w.release("sha-2");
    let stage = wait_lane(&w, "web-stage", "stage verified sha-2", |s| {
        s.phase == Some(Phase::Promoted)
            && s.last_promotion
                .as_ref()
                .is_some_and(|r| r.version == "sha-2")
    })
    .await;
    assert!(
        stage
            .last_promotion
            .as_ref()
            .and_then(|r| r.verification.as_ref())
            .is_some_and(|e| e.consecutive == 2)
    );
    let prod = wait_lane(&w, "web-prod", "prod promoted sha-2", |s| {
        s.phase == Some(Phase::Promoted)
            && s.last_promotion
                .as_ref()
                .is_some_and(|r| r.version == "sha-2")
    })
    .await;
    assert_eq!(
        prod.target.as_ref().and_then(|t| t.version.as_deref()),
        Some("sha-2")
    );
    assert_eq!(
        w.file_at_tip(PROD_RELEASE),
        release_file("sha-2", "promoted"),
        "the same artifact"
    );
    assert_eq!(touching(&w, &ci, PROD_RELEASE).len(), 1);

    // sha-3 fails stage's verification: stage rolls back, and prod never sees sha-3.
    health.set(Mode::AlwaysFail);
    let ci = w.release("sha-3");
    let gated = wait_lane(&w, "web-prod", "prod gated on stage", |s| {
        s.phase == Some(Phase::Gated)
            && s.message
                .as_deref()
                .unwrap_or_default()
                .contains("web-stage")
    })
    .await;
    assert!(
        gated
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("sha-3"),
        "{:?}",
        gated.message
    );
    let stage = wait_lane(&w, "web-stage", "stage rolled sha-3 back", |s| {
        s.phase == Some(Phase::RolledBack)
    })
    .await;
    assert_eq!(stage.rejected_versions, ["sha-3"]);
    // prod looks again at the rolled-back stage: back in step with sha-2, nothing written.
    wait_lane(&w, "web-prod", "prod in step with stage again", |s| {
        s.source.as_ref().and_then(|e| e.version.as_deref()) == Some("sha-2")
            && matches!(s.phase, Some(Phase::Promoted | Phase::InSync))
    })
    .await;
    op.wait_reconciles(op.reconciles(), 4).await;
    let touched = touching(&w, &ci, PROD_RELEASE);
    let stage_now = w
        .promotions()
        .get("web-stage")
        .await
        .expect("stage")
        .status
        .unwrap_or_default();
    let summary: Vec<String> = stage_now
        .history
        .iter()
        .map(|r| {
            format!(
                "{:?} {} {:?} {:?}",
                r.kind, r.version, r.result, r.finished_at
            )
        })
        .collect();
    assert!(
        touched.is_empty(),
        "prod never received sha-3: {touched:?}\nstage history: {summary:?}"
    );
    assert_eq!(
        w.file_at_tip(PROD_RELEASE),
        release_file("sha-2", "promoted")
    );
    op.stop().await;
    w.finish().await;
}
