//! Two lanes on one repository and branch with different credentials, in one engine: the one
//! with the wrong password gets nothing the other one's credentials could read or write.

mod common;

use std::time::Duration;

use common::{HttpSetup, prod_path, release_file, request_for};
use promote_git::{Engine, EngineConfig, GitError, Outcome, TRAILER_PROMOTION, TrailerQuery};

const WRONG: &str = "wrong-password-31337";

fn setup() -> HttpSetup {
    HttpSetup::new(&["blog", "shop"])
}

/// A refusal that names no secret.
fn assert_refused(result: Result<impl std::fmt::Debug, GitError>, what: &str) {
    let err = result.expect_err(what);
    assert_eq!(err.category(), "auth", "{what}: {err}");
    assert!(
        !err.to_string().contains(WRONG) && !format!("{err:?}").contains(WRONG),
        "{what}: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lane_with_a_wrong_password_reads_and_writes_nothing() {
    let s = setup();
    // A long TTL: anything shared between lanes would be answered from memory.
    let engine = Engine::new(EngineConfig {
        head_ttl: Duration::from_secs(3600),
        ..EngineConfig::new(s.cache_dir())
    })
    .expect("engine");
    let (a, b) = (s.remote(), s.remote_with_password(WRONG));
    let tag = vec!["image.tag".to_owned()];

    // Lane A reads and promotes: the cache now holds the branch.
    let a_tip = engine.tip(&a, "main").await.expect("lane A tip");
    let shop = engine
        .read_fields(&a, "main", &prod_path("shop"), &tag)
        .await
        .expect("lane A reads");
    assert_eq!(shop.values, ["prod-shop-1"]);
    let landed = match engine.promote(request_for(a.clone(), "blog")).await {
        Ok(Outcome::Committed(c)) => c,
        other => panic!("lane A's promotion lands: {other:?}"),
    };

    // Lane B is refused everything, even what lane A just learnt.
    assert_refused(engine.tip(&b, "main").await, "tip");
    assert_refused(engine.remote_head(&b, "main").await, "remote_head");
    assert_refused(
        engine
            .read_fields(&b, "main", &prod_path("shop"), &tag)
            .await,
        "read_fields",
    );
    assert_refused(
        engine
            .read_fields_at(&b, landed.commit.as_str(), &prod_path("shop"), &tag)
            .await,
        "read_fields_at",
    );
    assert_refused(
        engine
            .contains(&b, landed.commit.as_str(), a_tip.commit.as_str())
            .await,
        "contains",
    );
    let query = TrailerQuery::new().with(TRAILER_PROMOTION, "web/blog-prod");
    assert_refused(
        engine.find_commit(&b, "main", &query, 10).await,
        "find_commit",
    );
    assert_refused(
        engine
            .find_commit_since(&b, "main", a_tip.commit.as_str(), &query, 10)
            .await,
        "find_commit_since",
    );
    assert_refused(
        engine.promote(request_for(b.clone(), "shop")).await,
        "promote",
    );

    // Submitted together, the two lanes are never batched into one commit.
    let before = s.repo.commit_count("main").expect("count");
    let mut results = engine
        .promote_many(vec![
            request_for(a.clone(), "shop").approved_by("lane-a"),
            request_for(b.clone(), "blog").approved_by("lane-b"),
        ])
        .await;
    let b_result = results.pop().expect("two results");
    assert_refused(b_result, "batched promote");
    match results.pop() {
        Some(Ok(Outcome::Committed(c))) => assert_eq!(c.batch_size, 1),
        other => panic!("lane A's promotion lands alone: {other:?}"),
    }
    assert_eq!(s.repo.commit_count("main").expect("count"), before + 1);
    let trailers = s.repo.trailers("main").expect("trailers");
    let promotions: Vec<&str> = trailers
        .iter()
        .filter(|(k, _)| k == TRAILER_PROMOTION)
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(promotions, ["web/shop-prod"]);
    assert!(trailers.contains(&("Promote-Approved-By".into(), "lane-a".into())));
    assert!(!trailers.iter().any(|(_, v)| v == "lane-b"), "{trailers:?}");
    assert_eq!(
        s.repo
            .read_file("main", &prod_path("shop"))
            .expect("read")
            .as_deref(),
        Some(release_file("prod", "shop", "dev-shop-2").as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_lanes_with_other_credentials_get_their_own_writer() {
    let s = setup();
    let engine = Engine::new(EngineConfig::new(s.cache_dir())).expect("engine");
    let (a, b) = (s.remote(), s.remote_with_password(WRONG));
    let tasks: Vec<_> = [(a, "blog"), (b, "shop")]
        .into_iter()
        .map(|(remote, app)| {
            let engine = engine.clone();
            tokio::spawn(async move { engine.promote(request_for(remote, app)).await })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("task"));
    }
    let b_result = results.pop().expect("two results");
    assert_refused(b_result, "lane B");
    assert!(
        matches!(results.pop(), Some(Ok(Outcome::Committed(c))) if c.batch_size == 1),
        "lane A lands alone"
    );
    assert_eq!(
        s.repo
            .read_file("main", &prod_path("shop"))
            .expect("read")
            .as_deref(),
        Some(release_file("prod", "shop", "prod-shop-1").as_str())
    );
}
