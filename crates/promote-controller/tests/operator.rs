//! End to end: the operator against a real API server (tests/control-plane), a real git
//! server (smart HTTP with basic auth) and the Argo CD simulator, scenario by scenario.

mod world;

use kube::api::{Api, Patch, PatchParams};
use promote_api::{Phase, conditions};
use promote_controller::operator::Stopped;
use promote_controller::reconcile::Pass;
use promote_lane::{EffectOutcome, WriteResult};
use serde_json::json;
use world::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_flow_waits_for_approval_then_promotes_with_one_commit() {
    let w = World::start("seed-flow", false).await;
    let op = w.operator("op-a");
    w.create_promotion("Manual", json!({})).await;
    let s = w
        .wait("dev and prod in sync", |s| s.phase == Some(Phase::InSync))
        .await;
    assert_eq!(
        s.source.as_ref().and_then(|e| e.version.as_deref()),
        Some("sha-1")
    );
    assert_eq!(
        condition_status(&s, "PolicyCompliant").as_deref(),
        Some("True")
    );

    let ci = w.release("sha-2");
    let s = w.wait_phase(Phase::AwaitingApproval).await;
    assert_eq!(
        s.source.as_ref().and_then(|e| e.version.as_deref()),
        Some("sha-2")
    );
    assert!(s.drift.as_ref().is_some_and(|d| d.release.drifted));
    assert!(s.message.as_deref().unwrap_or_default().contains("sha-2"));
    assert!(
        w.commits_since(&ci).is_empty(),
        "nothing moves before the approval"
    );

    w.patch_spec(
        json!({"approval": {"version": "sha-2", "approvedBy": "oncall-lead",
                                     "note": "fixes the login redirect"}}),
    )
    .await;
    let s = w.wait_phase(Phase::Promoted).await;

    let commits = w.commits_since(&ci);
    assert_eq!(commits.len(), 1, "exactly one commit: {commits:?}");
    let (message, files) = (&commits[0].1, &commits[0].2);
    assert_eq!(
        files,
        &[PROD_RELEASE.to_owned()],
        "only the prod release file changes"
    );
    assert!(
        message.contains(&format!("Promotion: {}/web-prod", w.env.ns())),
        "{message}"
    );
    assert!(message.contains("oncall-lead"), "{message}");
    let prod = w.file_at_tip(PROD_RELEASE);
    assert_eq!(
        prod,
        release_file("sha-2", "promoted"),
        "only the tag's bytes change"
    );

    let record = s.last_promotion.as_ref().expect("lastPromotion");
    assert_eq!(record.version, "sha-2");
    assert_eq!(record.previous_version.as_deref(), Some("sha-1"));
    assert_eq!(record.approved_by.as_deref(), Some("oncall-lead"));
    // Release notes: the approval's note and the CI commit that brought sha-2 into dev.
    assert_eq!(record.note.as_deref(), Some("fixes the login redirect"));
    let changes: Vec<(&str, &str)> = record
        .changes
        .iter()
        .map(|c| (c.commit.as_str(), c.subject.as_str()))
        .collect();
    assert_eq!(changes, [(ci.as_str(), "ci: release sha-2")]);
    assert_eq!(record.changes_complete, Some(true));
    assert!(
        record.committed_at.is_some() && record.synced_at.is_some() && record.healthy_at.is_some()
    );
    assert_eq!(s.history.len(), 1);
    assert_eq!(condition_status(&s, "Verified").as_deref(), Some("True"));
    assert_eq!(
        s.target.as_ref().and_then(|e| e.version.as_deref()),
        Some("sha-2")
    );
    assert!(
        s.target
            .as_ref()
            .is_some_and(|t| t.live_images.iter().any(|i| i.ends_with(":sha-2")))
    );

    let prod_app = w.sim.get(&w.prod).await.expect("prod Application");
    assert_eq!(prod_app.sync_status(), Some("Synced"));
    assert!(
        prod_app.images().iter().any(|i| i.ends_with(":sha-2")),
        "{:?}",
        prod_app.images()
    );

    let events = w.events().await;
    assert!(
        events.iter().any(|(reason, _)| reason == "Committed"),
        "{events:?}"
    );
    assert!(
        events.iter().any(|(reason, _)| reason == "Promoted"),
        "{events:?}"
    );
    assert_eq!(op.stop().await, Stopped::Shutdown);
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_lane_is_gated_while_dev_is_degraded_then_soaks_and_promotes() {
    let w = World::start("auto-soak", false).await;
    let op = w.operator("op-a");
    w.create_promotion("Auto", json!({"gates": {"soakTime": "2s"}}))
        .await;
    w.wait_phase(Phase::InSync).await;

    w.sim.mark_bad("sha-2");
    let ci = w.release("sha-2");
    let s = w.wait_phase_saying(Phase::Gated, "Degraded").await;
    assert!(
        s.message.as_deref().unwrap_or_default().contains("web-dev"),
        "{:?}",
        s.message
    );
    // Two more looks at the degraded source, then: nothing moved.
    op.wait_reconciles(op.reconciles(), 2).await;
    assert_eq!(w.status().await.phase, Some(Phase::Gated));
    assert!(
        w.commits_since(&ci).is_empty(),
        "a degraded source does not move"
    );

    w.sim.mark_good("sha-2");
    let s = w.wait_phase(Phase::Promoted).await;
    assert_eq!(
        s.target.as_ref().and_then(|e| e.version.as_deref()),
        Some("sha-2")
    );
    assert_eq!(w.commits_since(&ci).len(), 1);
    op.stop().await;
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_self_heal_on_is_reported_until_fixed() {
    let w = World::start("policy", true).await;
    let op = w.operator("op-a");
    w.create_promotion("Manual", json!({})).await;
    let s = w.wait_condition("PolicyCompliant", "False").await;
    let c = conditions::find(&s.conditions, "PolicyCompliant").expect("condition");
    assert_eq!(c.reason, "SelfHealMismatch");
    assert!(
        c.message.contains(&format!("{}/web-dev", w.env.ns())),
        "{}",
        c.message
    );
    assert!(c.message.contains("selfHeal: false"), "{}", c.message);
    assert_eq!(c.observed_generation, Some(1));

    let apps: Api<kube::api::DynamicObject> =
        promote_argocd_sim::applications(w.env.client().clone(), w.env.ns());
    apps.patch(
        &w.dev.name,
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"syncPolicy": {"automated": {"selfHeal": false}}}})),
    )
    .await
    .expect("fix the dev Application");
    w.wait_condition("PolicyCompliant", "True").await;
    op.stop().await;
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_session_on_dev_is_drift_on_the_source() {
    let w = World::start("hot-session", false).await;
    let op = w.operator("op-a");
    w.create_promotion("Manual", json!({})).await;
    w.wait_phase(Phase::InSync).await;
    w.sim
        .start_hot_session(&w.dev, "registry.example.com/web/app:okteto-dev");
    let s = w
        .wait("source drift", |s| {
            s.drift
                .as_ref()
                .is_some_and(|d| d.source.git_vs_live.as_deref() == Some("OutOfSync"))
        })
        .await;
    let drift = s.drift.as_ref().expect("drift");
    assert!(drift.drifted && !drift.release.drifted);
    assert!(
        drift
            .source
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("self-heal is off")
    );
    assert_eq!(condition_status(&s, "Drifted").as_deref(), Some("True"));

    w.sim.end_hot_session(&w.dev);
    w.wait("drift cleared", |s| {
        s.drift.as_ref().is_some_and(|d| !d.drifted)
    })
    .await;
    op.stop().await;
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_push_and_status_leaves_one_commit() {
    let w = World::start("crash", false).await;
    w.create_promotion("Manual", json!({})).await;
    let ci = w.release("sha-2");
    w.wait_dev_running("sha-2").await;
    w.patch_spec(json!({"approval": {"version": "sha-2", "approvedBy": "oncall-lead"}}))
        .await;
    // One pass run by hand up to the push, then stopped, as a crash would: the outcome is
    // never reported.
    let (ctx, promotion) = by_hand(&w, "crashed").await;
    let mut pass = Pass::begin(&ctx, &promotion).await;
    loop {
        match pass.step().await.expect("the plan writes") {
            EffectOutcome::Recorded(r) => r.expect("intent recorded"),
            EffectOutcome::Written(r) => {
                assert!(matches!(r, WriteResult::Committed { .. }), "{r:?}");
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    drop(pass);
    assert_eq!(
        w.status().await.phase,
        Some(Phase::Promoting),
        "the crash left it Promoting"
    );
    assert_eq!(w.commits_since(&ci).len(), 1);

    let op = w.operator("op-restarted");
    let s = w.wait_phase(Phase::Promoted).await;
    assert_eq!(
        w.commits_since(&ci).len(),
        1,
        "the restarted operator recognised its commit"
    );
    let record = s.last_promotion.as_ref().expect("record");
    assert_eq!(
        record.commit.as_deref(),
        Some(w.commits_since(&ci)[0].0.as_str())
    );
    op.stop().await;
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_writes() {
    let w = World::start("leader", false).await;
    let a = w.operator("op-a");
    a.wait_leader().await;
    let b = w.operator("op-b");
    w.create_promotion("Auto", json!({})).await;
    let ci = w.release("sha-2");
    w.wait_phase(Phase::Promoted).await;
    assert_eq!(w.commits_since(&ci).len(), 1);
    assert!(a.reconciles() > 0);
    assert!(!b.is_leader());
    assert_eq!(b.reconciles(), 0, "the standby never reconciled");

    // The leader steps down; the standby takes over and carries on.
    assert_eq!(a.stop().await, Stopped::Shutdown);
    b.wait_leader().await;
    let ci = w.release("sha-3");
    w.wait("sha-3 promoted", |s| {
        s.phase == Some(Phase::Promoted)
            && s.target.as_ref().and_then(|t| t.version.as_deref()) == Some("sha-3")
    })
    .await;
    assert!(b.reconciles() > 0);
    assert_eq!(w.commits_since(&ci).len(), 1);
    b.stop().await;
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_edit_of_prod_is_a_conflict_and_is_kept() {
    let w = World::start("conflict", false).await;
    w.create_promotion("Manual", json!({})).await;
    let _ = w.release("sha-2");
    w.wait_dev_running("sha-2").await;
    w.patch_spec(json!({"approval": {"version": "sha-2", "approvedBy": "oncall-lead"}}))
        .await;

    // The operator decides on prod = sha-1 …
    let (ctx, promotion) = by_hand(&w, "racer").await;
    let mut pass = Pass::begin(&ctx, &promotion).await;
    // … a person hotfixes prod before the push …
    let hotfix = release_file("hotfix-1", "manual hotfix");
    let person = w
        .repo
        .commit_files("main", &[(PROD_RELEASE, &hotfix)], "hotfix prod")
        .expect("person's commit");
    // … and the push is refused, keeping their edit.
    let mut conflict = None;
    while let Some(outcome) = pass.step().await {
        if let EffectOutcome::Written(WriteResult::Conflict { message }) = outcome {
            conflict = Some(message);
        }
    }
    let message = conflict.expect("the write ends in a conflict");
    assert!(message.contains("hotfix-1"), "{message}");
    pass.finish().await.expect("report");

    // The operator, running now, reports the conflict and leaves the hotfix alone.
    let op = w.operator("op-a");
    let s = w.wait_phase_saying(Phase::Failed, "approve it again").await;
    assert!(
        s.message
            .as_deref()
            .unwrap_or_default()
            .contains("approve it again"),
        "{:?}",
        s.message
    );
    op.wait_reconciles(op.reconciles(), 2).await;
    assert_eq!(
        w.file_at_tip(PROD_RELEASE),
        hotfix,
        "the person's edit is kept"
    );
    assert!(
        w.commits_since(&person).is_empty(),
        "nothing was written over it"
    );
    op.stop().await;
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prod_app_without_auto_sync_gets_a_sync_request() {
    let w = World::start("manual-sync", false).await;
    let apps: Api<kube::api::DynamicObject> =
        promote_argocd_sim::applications(w.env.client().clone(), w.env.ns());
    apps.patch(
        &w.prod.name,
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"syncPolicy": {"automated": {"enabled": false}}}})),
    )
    .await
    .expect("turn prod auto-sync off");
    let op = w.operator("op-a");
    w.create_promotion("Auto", json!({})).await;
    w.wait_phase(Phase::InSync).await;
    let ci = w.release("sha-2");
    let s = w.wait_phase(Phase::Promoted).await;
    let commit = &w.commits_since(&ci)[0].0;
    assert_eq!(
        s.last_promotion.as_ref().and_then(|r| r.commit.as_ref()),
        Some(commit)
    );
    let prod = w.sim.get(&w.prod).await.expect("prod Application");
    assert_eq!(
        prod.synced_revision(),
        Some(commit.as_str()),
        "synced by the requested operation"
    );
    op.stop().await;
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_spec_is_stalled_naming_the_field_until_it_is_fixed() {
    let w = World::start("invalid-spec", false).await;
    let op = w.operator("op-a");
    // The schema admits it (it matches the duration pattern); it cannot be a duration.
    w.create_promotion(
        "Auto",
        json!({"gates": {"soakTime": "99999999999999999999h"}}),
    )
    .await;
    let s = w.wait_condition("Stalled", "True").await;
    let stalled = conditions::find(&s.conditions, "Stalled").expect("Stalled");
    assert_eq!(stalled.reason, "InvalidSpec");
    assert!(
        stalled.message.contains("spec.gates.soakTime"),
        "{}",
        stalled.message
    );
    assert_eq!(s.phase, Some(Phase::Failed));
    assert_eq!(stalled.observed_generation, Some(1));

    w.patch_spec(json!({"gates": {"soakTime": "1s"}})).await;
    let s = w.wait_condition("Stalled", "False").await;
    assert_eq!(s.observed_generation, Some(2));
    w.wait_phase(Phase::InSync).await;
    op.stop().await;
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlabelled_credentials_secret_is_refused_until_labelled() {
    let w = World::start("secret-label", false).await;
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = w.env.api();
    let label = |value: serde_json::Value| json!({"metadata": {"labels": {promote_api::CREDENTIALS_LABEL: value}}});
    secrets
        .patch(
            "web-core-git",
            &PatchParams::default(),
            &Patch::Merge(&label(json!(null))),
        )
        .await
        .expect("remove the label");
    let op = w.operator("op-a");
    w.create_promotion("Manual", json!({})).await;
    let s = w.wait_condition("Stalled", "True").await;
    let stalled = conditions::find(&s.conditions, "Stalled").expect("Stalled");
    assert_eq!(stalled.reason, "CredentialsError");
    assert!(
        stalled
            .message
            .contains("kubectl label secret web-core-git"),
        "{}",
        stalled.message
    );
    assert!(
        s.source.as_ref().and_then(|e| e.version.as_ref()).is_none(),
        "nothing was read"
    );

    // Labelled, the Secret's change alone brings the lane back.
    secrets
        .patch(
            "web-core-git",
            &PatchParams::default(),
            &Patch::Merge(&label(json!("true"))),
        )
        .await
        .expect("label the Secret");
    w.wait_phase(Phase::InSync).await;
    op.stop().await;
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_outside_the_served_namespaces_is_refused() {
    let w = World::start("app-namespace", false).await;
    let op = w.operator("op-a");
    w.create_promotion(
        "Manual",
        json!({"target": {"environment": "prod", "valuesFile": PROD_RELEASE,
                          "application": {"name": "web-prod", "namespace": "someone-elses"}}}),
    )
    .await;
    let s = w.wait_condition("Stalled", "True").await;
    let stalled = conditions::find(&s.conditions, "Stalled").expect("Stalled");
    assert_eq!(stalled.reason, "InvalidSpec");
    assert!(
        stalled
            .message
            .contains("spec.target.application.namespace")
            && stalled.message.contains("--application-namespaces"),
        "{}",
        stalled.message
    );
    op.stop().await;
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_revert_of_a_promotion_stands_until_approved_anew() {
    let w = World::start("revert", false).await;
    let op = w.operator("op-a");
    w.create_promotion("Manual", json!({})).await;
    w.wait_phase(Phase::InSync).await;
    let _ = w.release("sha-2");
    w.wait_dev_running("sha-2").await;
    w.patch_spec(json!({"approval": {"version": "sha-2", "approvedBy": "oncall-lead"}}))
        .await;
    w.wait_phase(Phase::Promoted).await;

    // A person reverts prod by hand.
    let revert = w
        .repo
        .commit_files(
            "main",
            &[(PROD_RELEASE, &release_file("sha-1", "reverted by hand"))],
            "revert prod to sha-1",
        )
        .expect("the person's revert");
    let s = w
        .wait_phase_saying(Phase::AwaitingApproval, "outside this lane")
        .await;
    let message = s.message.unwrap_or_default();
    assert!(message.contains("revert prod to sha-1"), "{message}");
    assert!(message.contains(&revert[..12]), "{message}");
    assert!(message.contains("approve it anew"), "{message}");
    op.wait_reconciles(op.reconciles(), 2).await;
    assert!(
        w.commits_since(&revert).is_empty(),
        "the revert is not undone"
    );

    // Approved anew with kubectl patch alone (a note; no client time): it moves again.
    w.patch_spec(
        json!({"approval": {"version": "sha-2", "approvedBy": "oncall-lead",
                                     "note": "the revert was a mistake"}}),
    )
    .await;
    w.wait("sha-2 promoted again", |s| {
        s.phase == Some(Phase::Promoted)
            && s.target.as_ref().and_then(|t| t.version.as_deref()) == Some("sha-2")
    })
    .await;
    assert_eq!(w.commits_since(&revert).len(), 1);
    op.stop().await;
    w.finish().await;
}
