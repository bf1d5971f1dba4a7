//! `Engine::tip`: branch tips shared within the TTL, checked with ls-remote after it, fetched
//! only when the branch moved, and never stale after this engine pushed or fetched.

mod common;

use std::time::Duration;

use common::{Fixture, dev_path, prod_path, release_file};
use promote_git::{CommitId, Engine, EngineConfig, HeadCheck, Outcome, Tip};

const LONG: Duration = Duration::from_secs(3600);

fn engine(fx: &Fixture, head_ttl: Duration) -> Engine {
    Engine::new(EngineConfig {
        head_ttl,
        ..EngineConfig::new(&fx.cache)
    })
    .expect("engine")
}

async fn tip(engine: &Engine, fx: &Fixture) -> (String, HeadCheck) {
    let Tip { commit, check } = engine.tip(&fx.remote(), "main").await.expect("tip");
    (commit.as_str().to_owned(), check)
}

#[tokio::test]
async fn within_the_ttl_the_tip_is_shared_without_asking_the_remote() {
    let fx = Fixture::new(&["blog"]);
    let before = fx.tip();
    let shared = engine(&fx, LONG);
    assert_eq!(
        tip(&shared, &fx).await,
        (before.clone(), HeadCheck::Fetched)
    );
    assert_eq!(tip(&shared, &fx).await, (before.clone(), HeadCheck::Shared));

    // Someone else moves the branch: within the TTL the engine does not look, so it still
    // answers the commit it saw.
    let moved = fx
        .outside("person")
        .commit("docs/notes.md", "notes\n", "docs: notes");
    assert_ne!(moved, before);
    assert_eq!(tip(&shared, &fx).await, (before, HeadCheck::Shared));

    // With a zero TTL every call asks the remote: it sees the move, fetches once, and then
    // finds the cache current.
    let checking = engine(&fx, Duration::ZERO);
    assert_eq!(
        tip(&checking, &fx).await,
        (moved.clone(), HeadCheck::Fetched)
    );
    assert_eq!(tip(&checking, &fx).await, (moved, HeadCheck::Unchanged));
}

#[tokio::test]
async fn after_its_own_push_the_next_tip_is_the_pushed_commit() {
    let fx = Fixture::new(&["blog"]);
    let engine = engine(&fx, LONG);
    let (before, _) = tip(&engine, &fx).await;
    let committed = match engine.promote(fx.request("blog")).await {
        Ok(Outcome::Committed(c)) => c,
        other => panic!("expected a commit, got {other:?}"),
    };
    assert_eq!(committed.parent.as_str(), before);
    // The push forgot the shared tip: the remote is asked, and the cache already has the commit.
    assert_eq!(
        tip(&engine, &fx).await,
        (committed.commit.as_str().to_owned(), HeadCheck::Unchanged)
    );
    assert_eq!(fx.tip(), committed.commit.as_str());
    assert_eq!(
        fx.show(&prod_path("blog")) + "\n",
        release_file("prod", "blog", "dev-blog-2")
    );
}

#[tokio::test]
async fn a_fetch_forgets_the_shared_tip() {
    let fx = Fixture::new(&["blog"]);
    let engine = engine(&fx, LONG);
    let (before, _) = tip(&engine, &fx).await;
    let moved = fx
        .outside("person")
        .commit("docs/notes.md", "notes\n", "docs: notes");
    assert_eq!(tip(&engine, &fx).await, (before, HeadCheck::Shared));
    let fetched: CommitId = engine.refresh(&fx.remote(), "main").await.expect("fetch");
    assert_eq!(fetched.as_str(), moved);
    assert_eq!(tip(&engine, &fx).await, (moved, HeadCheck::Unchanged));
}

#[tokio::test]
async fn a_missing_branch_is_not_found_and_a_bad_name_is_refused() {
    let fx = Fixture::new(&["blog"]);
    let engine = engine(&fx, LONG);
    let err = engine
        .tip(&fx.remote(), "release")
        .await
        .expect_err("no such branch");
    assert_eq!(err.category(), "not_found", "{err}");
    assert!(err.to_string().contains("branch release"), "{err}");
    let err = engine
        .tip(&fx.remote(), "bad..name")
        .await
        .expect_err("bad name");
    assert_eq!(err.category(), "invalid_request", "{err}");
}

#[test]
fn head_checks_have_metric_labels() {
    let labels: Vec<&str> = [HeadCheck::Shared, HeadCheck::Unchanged, HeadCheck::Fetched]
        .into_iter()
        .map(HeadCheck::as_str)
        .collect();
    assert_eq!(labels, ["shared", "unchanged", "fetched"]);
}

#[tokio::test]
async fn files_unchanged_compares_blobs_between_two_cached_commits() {
    let fx = Fixture::new(&["blog", "shop"]);
    let engine = engine(&fx, Duration::ZERO);
    let (before, _) = tip(&engine, &fx).await;
    let outside = fx.outside("person");
    let moved = outside.commit(
        &dev_path("blog"),
        &release_file("dev", "blog", "dev-blog-3"),
        "ci: blog dev-blog-3",
    );
    let (after, _) = tip(&engine, &fx).await;
    assert_eq!(after, moved, "the tip check fetched the new commit");
    let files = [
        dev_path("blog"),
        prod_path("blog"),
        dev_path("shop"),
        "deploy/env/release-dev/missing.yaml".to_owned(),
        "../outside.yaml".to_owned(),
    ];
    let unchanged = engine
        .files_unchanged(&fx.remote(), &before, &after, &files)
        .await
        .expect("both commits are cached");
    assert_eq!(
        unchanged,
        vec![false, true, true, true, false],
        "blog's dev file changed; a file missing at both is unchanged; a bad path counts as changed"
    );
    let unknown = "0123456789012345678901234567890123456789";
    assert!(
        engine
            .files_unchanged(&fx.remote(), unknown, &after, &files)
            .await
            .is_err(),
        "a commit the cache does not hold is an error, never a verdict"
    );
}
