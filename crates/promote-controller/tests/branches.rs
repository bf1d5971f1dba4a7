//! End to end: an idle lane learns of a new commit on its branch from the shared branch check
//! alone, with Argo CD quiet and its full resync an hour away; a commit that changes none of
//! its files does not wake it.

mod world;

use std::time::Duration;

use promote_api::{Phase, PromotionStatus};
use promote_controller::operator::Operator;
use promote_testsupport::wait_until;
use serde_json::json;
use world::*;

/// A Manual lane InSync under an operator whose full resync is an hour away and whose branch
/// check runs every 500 ms, with Argo CD (the simulator) paused: nothing but the branch check
/// can wake it. Returns its status then.
async fn idle_lane(prefix: &str) -> (World, Replica, PromotionStatus) {
    let w = World::start(prefix, false).await;
    let mut config = w.operator_config("op-a");
    config.timing.idle = Duration::from_secs(3600);
    config.branch_check = Duration::from_millis(500);
    let op = Replica::run(Operator::new(w.env.client().clone(), config).expect("operator"));
    w.create_promotion("Manual", json!({})).await;
    let status = w.wait_phase(Phase::InSync).await;
    w.sim
        .pause(Duration::from_secs(30))
        .await
        .expect("simulator paused");
    (w, op, status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_lane_is_woken_by_the_branch_check_alone() {
    // No Application and no Promotion spec changes from here: only the branch check can wake
    // the lane.
    let (w, op, _) = idle_lane("branch-check").await;
    let ci = w.release("sha-2");
    let s = w
        .wait("the lane reads sha-2 at the new tip", |s| {
            s.source.as_ref().and_then(|e| e.version.as_deref()) == Some("sha-2")
        })
        .await;
    assert_eq!(s.phase, Some(Phase::AwaitingApproval));
    assert_eq!(
        s.source.as_ref().and_then(|e| e.revision.as_deref()),
        Some(ci.as_str())
    );
    assert!(w.commits_since(&ci).is_empty(), "nothing moves unapproved");

    w.sim.resume();
    op.stop().await;
    w.finish().await;
}

/// `promote_git_operations_total` for `operation` with result ok.
fn git_ok(op: &Replica, operation: &str) -> u64 {
    let line = format!("promote_git_operations_total{{operation=\"{operation}\",result=\"ok\"}} ");
    op.metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(line.as_str()))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_to_other_files_does_not_wake_the_lane() {
    let (w, op, before) = idle_lane("branch-quiet").await;
    let read_at = before.source.as_ref().and_then(|e| e.revision.clone());

    let (reconciles, fetches) = (op.reconciles(), git_ok(&op, "fetch"));
    let other = w
        .repo
        .commit_files("main", &[("docs/notes.md", "notes\n")], "docs: notes")
        .expect("a commit to another file");
    // The positive signal: a branch check fetched the commit, and a later check ran after it
    // (checks run one round at a time, so that round's verdict is in).
    wait_until(
        "a branch check fetched the commit",
        WAIT,
        Duration::from_millis(50),
        async || (git_ok(&op, "fetch") > fetches).then_some(()),
    )
    .await
    .expect("the branch check fetches");
    let checks = git_ok(&op, "ls_remote");
    wait_until(
        "one more branch check",
        WAIT,
        Duration::from_millis(50),
        async || (git_ok(&op, "ls_remote") > checks).then_some(()),
    )
    .await
    .expect("the branch check runs again");
    assert_eq!(op.reconciles(), reconciles, "no reconcile for {other}");
    let quiet = w.status().await;
    assert_eq!(
        quiet.source.as_ref().and_then(|e| e.revision.clone()),
        read_at,
        "the lane was not read again"
    );

    // A commit to its own file still wakes it.
    let ci = w.release("sha-2");
    let s = w
        .wait("the lane reads sha-2 at the new tip", |s| {
            s.source.as_ref().and_then(|e| e.version.as_deref()) == Some("sha-2")
        })
        .await;
    assert_eq!(
        s.source.as_ref().and_then(|e| e.revision.as_deref()),
        Some(ci.as_str())
    );

    w.sim.resume();
    op.stop().await;
    w.finish().await;
}
