//! The simulator against a real API server and real git repositories: each behaviour an
//! operator test relies on, checked through the Application object only.

mod common;

use std::time::Duration;

use common::{Env, IMAGE, image};
use promote_argocd_sim::{AppSnapshot, REFRESH_ANNOTATION};

/// Generous: two shared cores, several test binaries at once.
const WAIT: Duration = Duration::from_secs(60);

fn synced_at<'a>(revision: &'a str) -> impl FnMut(&AppSnapshot) -> bool + 'a {
    move |a| a.sync_status() == Some("Synced") && a.sync_revision() == Some(revision)
}

fn settled(a: &AppSnapshot) -> bool {
    a.operation().is_none() && a.health_status() == Some("Healthy")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_sync_follows_new_commits() {
    // A long rollout, so the Progressing state is still there when the test looks for it.
    let env = Env::start_with(|c| c.health_delay(Duration::from_secs(2))).await;
    let app = env.create(env.app("web-dev").auto_sync(false)).await;
    let first = env.head();
    let a = env
        .sim
        .wait_for(&app, |a| synced_at(&first)(a) && settled(a), WAIT)
        .await
        .expect("first sync");
    assert_eq!(a.images(), [image("sha-1")]);
    assert_eq!(a.synced_revision(), Some(first.as_str()));
    assert_eq!(a.history_revisions(), std::slice::from_ref(&first));

    let second = env.release("sha-2");
    let progressing = env
        .sim
        .wait_for(
            &app,
            |a| synced_at(&second)(a) && a.health_status() == Some("Progressing"),
            WAIT,
        )
        .await
        .expect("synced the new commit, rollout under way");
    assert!(
        progressing.images().contains(&image("sha-2")),
        "{}",
        progressing.summary()
    );
    let a = env
        .sim
        .wait_for(&app, |a| synced_at(&second)(a) && settled(a), WAIT)
        .await
        .expect("healthy at the new commit");
    assert_eq!(a.images(), [image("sha-2")]);
    assert_eq!(a.operation_phase(), Some("Succeeded"));
    assert_eq!(a.synced_revision(), Some(second.as_str()));
    assert_eq!(a.history_revisions(), [first, second]);
    assert_eq!(
        a.json()
            .pointer("/status/operationState/operation/initiatedBy/automated"),
        Some(&serde_json::json!(true))
    );
    let finished = a.operation_finished_at().expect("finishedAt").to_owned();
    assert!(
        a.reconciled_at().is_some_and(|r| r >= finished.as_str()),
        "{}",
        a.summary()
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_app_goes_out_of_sync_and_syncs_on_a_written_operation() {
    let env = Env::start().await;
    let app = env.create(env.app("web-prod")).await;
    let first = env.head();
    let a = env
        .sim
        .wait_for(
            &app,
            |a| a.sync_status() == Some("OutOfSync") && a.sync_revision() == Some(first.as_str()),
            WAIT,
        )
        .await
        .expect("compared, not synced");
    assert_eq!(a.health_status(), Some("Missing"));
    assert!(a.operation().is_none());

    env.write_operation(&app, None, "oncall-lead").await;
    let a = env
        .sim
        .wait_for(&app, |a| synced_at(&first)(a) && settled(a), WAIT)
        .await
        .expect("synced by the operation");
    assert_eq!(a.images(), [image("sha-1")]);
    assert_eq!(
        a.json()
            .pointer("/status/operationState/operation/initiatedBy/username"),
        Some(&serde_json::json!("oncall-lead"))
    );

    let second = env.release("sha-2");
    env.sim
        .wait_for(
            &app,
            |a| a.sync_status() == Some("OutOfSync") && a.sync_revision() == Some(second.as_str()),
            WAIT,
        )
        .await
        .expect("a new commit puts it out of sync");
    env.sim.wait_rounds(3, WAIT).await.expect("rounds");
    let a = env.sim.get(&app).await.expect("read");
    assert_eq!(
        a.sync_status(),
        Some("OutOfSync"),
        "manual apps do not sync by themselves"
    );
    assert_eq!(a.images(), [image("sha-1")]);
    assert!(a.operation().is_none());

    env.write_operation(&app, Some(&second), "oncall-lead")
        .await;
    let a = env
        .sim
        .wait_for(&app, |a| synced_at(&second)(a) && settled(a), WAIT)
        .await
        .expect("synced to the requested revision");
    assert_eq!(a.images(), [image("sha-2")]);
    assert_eq!(a.synced_revision(), Some(second.as_str()));
    assert_eq!(a.history_revisions(), [first, second]);
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_may_sync_a_past_revision() {
    let env = Env::start().await;
    let app = env.create(env.app("web-prod")).await;
    let first = env.head();
    let second = env.release("sha-2");
    env.write_operation(&app, Some(&first), "oncall-lead").await;
    let a = env
        .sim
        .wait_for(
            &app,
            |a| a.synced_revision() == Some(first.as_str()) && settled(a),
            WAIT,
        )
        .await
        .expect("rolled back");
    assert_eq!(a.images(), [image("sha-1")]);
    assert_eq!(
        a.sync_status(),
        Some("OutOfSync"),
        "Git's tip is newer: {}",
        a.summary()
    );
    assert_eq!(a.sync_revision(), Some(second.as_str()));
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enabled_false_is_treated_as_manual() {
    let env = Env::start().await;
    let app = env.create(env.app("web-prod").auto_sync_disabled()).await;
    let first = env.head();
    env.sim
        .wait_for(&app, |a| a.sync_revision() == Some(first.as_str()), WAIT)
        .await
        .expect("compared");
    env.sim.wait_rounds(3, WAIT).await.expect("rounds");
    let a = env.sim.get(&app).await.expect("read");
    assert_eq!(a.sync_status(), Some("OutOfSync"), "{}", a.summary());
    assert!(a.operation().is_none());
    assert!(a.history_revisions().is_empty());
    assert_eq!(a.health_status(), Some("Missing"));
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_annotations_are_removed() {
    let env = Env::start().await;
    let app = env.create(env.app("web-dev").auto_sync(false)).await;
    let first = env.head();
    env.sim
        .wait_for(&app, |a| synced_at(&first)(a) && settled(a), WAIT)
        .await
        .expect("settled");
    for hard in [false, true] {
        env.sim.request_refresh(&app, hard).await.expect("annotate");
        let a = env
            .sim
            .wait_for(&app, |a| a.annotation(REFRESH_ANNOTATION).is_none(), WAIT)
            .await
            .expect("annotation removed");
        assert_eq!(a.sync_status(), Some("Synced"));
        assert!(a.reconciled_at().is_some());
    }
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_version_becomes_degraded() {
    let env = Env::start().await;
    env.sim.mark_bad("sha-2");
    let app = env.create(env.app("web-dev").auto_sync(false)).await;
    let first = env.head();
    env.sim
        .wait_for(&app, |a| synced_at(&first)(a) && settled(a), WAIT)
        .await
        .expect("healthy first");
    let second = env.release("sha-2");
    let a = env
        .sim
        .wait_for(
            &app,
            |a| synced_at(&second)(a) && a.health_status() == Some("Degraded"),
            WAIT,
        )
        .await
        .expect("degraded");
    assert_eq!(a.images(), [image("sha-2")]);

    let third = env.release("sha-3");
    env.sim
        .wait_for(&app, |a| synced_at(&third)(a) && settled(a), WAIT)
        .await
        .expect("a fixed version is healthy again");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_session_without_self_heal_stays_out_of_sync() {
    let env = Env::start().await;
    let app = env.create(env.app("web-dev").auto_sync(false)).await;
    let first = env.head();
    env.sim
        .wait_for(&app, |a| synced_at(&first)(a) && settled(a), WAIT)
        .await
        .expect("settled");

    let hot = format!("{IMAGE}:okteto-dev");
    env.sim.start_hot_session(&app, &hot);
    env.sim
        .wait_for(
            &app,
            |a| a.sync_status() == Some("OutOfSync") && a.images() == [hot.clone()],
            WAIT,
        )
        .await
        .expect("drifted");
    env.sim.wait_rounds(3, WAIT).await.expect("rounds");
    let a = env.sim.get(&app).await.expect("read");
    assert_eq!(
        a.sync_status(),
        Some("OutOfSync"),
        "not reverted: {}",
        a.summary()
    );
    assert_eq!(a.images(), std::slice::from_ref(&hot));
    assert_eq!(a.history_revisions().len(), 1, "no sync ran");

    env.sim.end_hot_session(&app);
    let a = env
        .sim
        .wait_for(&app, |a| synced_at(&first)(a) && settled(a), WAIT)
        .await
        .expect("back to Git when the session ends");
    assert_eq!(a.images(), [image("sha-1")]);
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_session_with_self_heal_is_reverted() {
    let env = Env::start().await;
    let app = env.create(env.app("web-prod").auto_sync(true)).await;
    let first = env.head();
    env.sim
        .wait_for(&app, |a| synced_at(&first)(a) && settled(a), WAIT)
        .await
        .expect("settled");

    let hot = format!("{IMAGE}:okteto-dev");
    env.sim.start_hot_session(&app, &hot);
    // Reverted by a second sync of the same revision, started by auto-sync.
    let a = env
        .sim
        .wait_for(
            &app,
            |a| synced_at(&first)(a) && settled(a) && a.history_revisions().len() == 2,
            WAIT,
        )
        .await
        .expect("self-heal synced again");
    assert_eq!(a.images(), [image("sha-1")]);
    assert_eq!(
        a.json().pointer("/status/history/1/initiatedBy/automated"),
        Some(&serde_json::json!(true))
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_parameters_override_the_values_file() {
    let env = Env::start().await;
    let app = env
        .create(
            env.app("web-dev")
                .auto_sync(false)
                .parameter("image.tag", "pinned-7"),
        )
        .await;
    let first = env.head();
    let a = env
        .sim
        .wait_for(&app, |a| synced_at(&first)(a) && settled(a), WAIT)
        .await
        .expect("synced");
    assert_eq!(a.images(), [image("pinned-7")]);

    // A new tag in the values file changes nothing rendered: still Synced, at the new tip.
    let second = env.release("sha-2");
    env.sim
        .wait_for(&app, synced_at(&second), WAIT)
        .await
        .expect("compared");
    env.sim.wait_rounds(2, WAIT).await.expect("rounds");
    let a = env.sim.get(&app).await.expect("read");
    assert_eq!(a.sync_status(), Some("Synced"));
    assert_eq!(a.images(), [image("pinned-7")]);
    assert_eq!(a.history_revisions(), [first]);
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_an_http_server_with_basic_auth_and_multi_source_apps() {
    let env = Env::start_http().await;
    let app = env
        .create(env.app("web-dev").auto_sync(false).multi_source())
        .await;
    let first = env.head();
    let a = env
        .sim
        .wait_for(&app, |a| synced_at(&first)(a) && settled(a), WAIT)
        .await
        .expect("synced over HTTP");
    assert_eq!(a.images(), [image("sha-1")]);
    assert_eq!(
        a.json()
            .pointer("/status/sync/revisions/0")
            .and_then(|v| v.as_str()),
        Some(first.as_str())
    );
    let second = env.release("sha-2");
    env.sim
        .wait_for(&app, |a| synced_at(&second)(a) && settled(a), WAIT)
        .await
        .expect("follows commits over HTTP");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_values_file_is_a_comparison_error() {
    let env = Env::start().await;
    let app = env
        .create(
            env.app("web-dev")
                .auto_sync(false)
                .value_file("../../env/release-dev/missing.yaml"),
        )
        .await;
    let a = env
        .sim
        .wait_for(&app, |a| a.sync_status() == Some("Unknown"), WAIT)
        .await
        .expect("unknown");
    assert_eq!(a.condition_types(), ["ComparisonError"]);
    assert!(a.operation().is_none());
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_writes_survive_concurrent_patches_of_the_same_object() {
    let env = Env::start().await;
    let app = env.create(env.app("web-dev").auto_sync(false)).await;
    // Another writer (the operator) patching annotations while the simulator writes status.
    let writer = env.annotate_repeatedly(&app, 40);
    let second = env.release("sha-2");
    let a = env
        .sim
        .wait_for(&app, |a| synced_at(&second)(a) && settled(a), WAIT)
        .await
        .expect("converges");
    writer
        .await
        .expect("writer task")
        .expect("annotations written");
    assert_eq!(a.images(), [image("sha-2")]);
    env.finish().await;
}
