//! `Engine::find_commit_since`: our commit recognised among those after a base, a sure
//! absence when every commit since the base was read, and undecided when it cannot be known.

mod common;

use common::{Fixture, git};
use promote_git::{Outcome, Recognition, TRAILER_PROMOTION, TRAILER_VERSION, TrailerQuery};

fn query(version: &str) -> TrailerQuery {
    TrailerQuery::new()
        .with(TRAILER_PROMOTION, "web/blog-prod")
        .with(TRAILER_VERSION, version)
}

async fn since(fx: &Fixture, base: &str, version: &str, limit: usize) -> Recognition {
    fx.engine()
        .find_commit_since(&fx.remote(), "main", base, &query(version), limit)
        .await
        .expect("recognition")
}

#[tokio::test]
async fn our_commit_after_the_base_is_found_and_a_miss_is_absent() {
    let fx = Fixture::new(&["blog", "shop"]);
    let base = fx.tip();
    let engine = fx.engine();
    let ours = match engine.promote(fx.request("blog")).await {
        Ok(Outcome::Committed(c)) => c.commit,
        other => panic!("expected a commit, got {other:?}"),
    };
    let person = fx.outside("person");
    person.commit("docs/a.md", "a\n", "later work");
    person.commit("docs/b.md", "b\n", "more work");
    match since(&fx, &base, "dev-blog-2", 10).await {
        Recognition::Found(found) => {
            assert_eq!(found.commit, ours);
            assert!(found.summary.starts_with("promote blog:"), "{found:?}");
        }
        other => panic!("expected our commit, got {other:?}"),
    }
    assert_eq!(
        since(&fx, &base, "dev-blog-9", 10).await,
        Recognition::Absent
    );
    // Nothing after the tip itself.
    assert_eq!(
        since(&fx, &fx.tip(), "dev-blog-2", 10).await,
        Recognition::Absent
    );
    // Our commit is the base: it is not "since" it.
    assert_eq!(
        since(&fx, ours.as_str(), "dev-blog-2", 10).await,
        Recognition::Absent
    );
}

#[tokio::test]
async fn more_commits_than_the_limit_leave_it_undecided() {
    let fx = Fixture::new(&["blog"]);
    let base = fx.tip();
    let person = fx.outside("person");
    for i in 0..3 {
        person.commit(&format!("docs/{i}.md"), "x\n", &format!("work {i}"));
    }
    match since(&fx, &base, "dev-blog-2", 2).await {
        Recognition::Undecided(why) => assert!(why.contains("more than 2 commits"), "{why}"),
        other => panic!("expected undecided, got {other:?}"),
    }
    assert_eq!(
        since(&fx, &base, "dev-blog-2", 3).await,
        Recognition::Absent
    );
}

#[tokio::test]
async fn a_base_the_branch_no_longer_has_leaves_it_undecided() {
    let fx = Fixture::new(&["blog"]);
    let root = fx.tip();
    let person = fx.outside("person");
    let dropped = person.commit("docs/a.md", "a\n", "work that is rewound");
    let engine = fx.engine();
    engine.refresh(&fx.remote(), "main").await.expect("fetch");
    // A person rewrites main: the commit the decision was based on is gone from its history.
    git(&fx.bare, &["update-ref", "refs/heads/main", &root]);
    fx.outside("other")
        .commit("docs/b.md", "b\n", "rewritten history");
    for base in [dropped.as_str(), "0123456789abcdef0123456789abcdef01234567"] {
        match since(&fx, base, "dev-blog-2", 10).await {
            Recognition::Undecided(why) => {
                assert!(why.contains("not in the history"), "{why}")
            }
            other => panic!("expected undecided for {base}, got {other:?}"),
        }
    }
    let err = engine
        .find_commit_since(&fx.remote(), "main", "not-a-commit", &query("x"), 10)
        .await
        .expect_err("not a commit id");
    assert_eq!(err.category(), "invalid_request", "{err}");
}

#[tokio::test]
async fn changes_since_lists_the_source_commits_between_two_versions() {
    use common::{dev_path, release_file};
    let fx = Fixture::new(&["blog"]);
    let person = fx.outside("ci");
    let three = person.commit(
        &dev_path("blog"),
        &release_file("dev", "blog", "dev-blog-3"),
        "ci: blog dev-blog-3",
    );
    person.commit("docs/a.md", "a\n", "docs only");
    let four = person.commit(
        &dev_path("blog"),
        &release_file("dev", "blog", "dev-blog-4"),
        "ci: blog dev-blog-4",
    );
    let engine = fx.engine();
    let tip = engine.refresh(&fx.remote(), "main").await.expect("fetch");
    let log = |since: &'static str, limit: usize| {
        let (engine, remote, tip) = (engine.clone(), fx.remote(), tip.clone());
        async move {
            engine
                .changes_since(
                    &remote,
                    tip.as_str(),
                    &dev_path("blog"),
                    "image.tag",
                    since,
                    limit,
                )
                .await
                .expect("changes")
        }
    };
    let both = log("dev-blog-2", 10).await;
    let ids: Vec<&str> = both.changes.iter().map(|c| c.commit.as_str()).collect();
    assert_eq!(
        ids,
        [four.as_str(), three.as_str()],
        "newest first, the docs commit left out"
    );
    assert!(both.complete);
    assert_eq!(both.changes[0].summary, "ci: blog dev-blog-4");
    assert_eq!(
        both.changes[0].author, "Dana Developer",
        "the outside clone's author"
    );

    let cut = log("dev-blog-2", 1).await;
    assert_eq!((cut.changes.len(), cut.complete), (1, false), "bounded");
    let unknown = log("never-there", 10).await;
    assert!(!unknown.complete, "the earlier value was never reached");
    assert_eq!(
        unknown.changes.len(),
        3,
        "both changes and the commit that created the file"
    );
}
