//! End to end: an idle lane learns of a new commit on its branch from the shared branch check
//! alone, with Argo CD quiet and its full resync an hour away.

mod world;

use std::time::Duration;

use promote_api::Phase;
use promote_controller::operator::Operator;
use serde_json::json;
use world::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_lane_is_woken_by_the_branch_check_alone() {
    let w = World::start("branch-check", false).await;
    let mut config = w.operator_config("op-a");
    config.timing.idle = Duration::from_secs(3600);
    config.branch_check = Duration::from_millis(500);
    let op = Replica::run(Operator::new(w.env.client().clone(), config).expect("operator"));
    w.create_promotion("Manual", json!({})).await;
    w.wait_phase(Phase::InSync).await;

    // From here no Application changes and no Promotion spec changes: only the branch check
    // can wake the lane.
    w.sim
        .pause(Duration::from_secs(30))
        .await
        .expect("simulator paused");
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
