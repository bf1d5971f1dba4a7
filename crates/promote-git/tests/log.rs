//! The deployment log kept in the repository: one entry per promotion, in the promotion's own
//! commit, newest first, listing the source commits it brings.

mod common;

use common::{Fixture, dev_path, prod_path, release_file};
use promote_git::{GitError, Outcome};

const LOG: &str = "deploy/CHANGELOG.md";

#[tokio::test]
async fn each_promotion_adds_its_entry_in_the_same_commit() {
    let fx = Fixture::new(&["blog"]);
    let ci = fx.outside("ci");
    let three = ci.commit(
        &dev_path("blog"),
        &release_file("dev", "blog", "dev-blog-3"),
        "ci: blog dev-blog-3",
    );
    let engine = fx.engine();
    let request = || {
        fx.request("blog")
            .approved_by("oncall-lead")
            .note("fixes the login redirect")
            .log_file(LOG)
    };
    let Ok(Outcome::Committed(first)) = engine.promote(request()).await else {
        panic!("the first promotion commits")
    };
    let files = common::git(
        &fx.bare,
        &["show", "--name-only", "--format=", first.commit.as_str()],
    );
    let mut touched: Vec<&str> = files.lines().filter(|l| !l.is_empty()).collect();
    touched.sort_unstable();
    assert_eq!(
        touched,
        [LOG, prod_path("blog").as_str()],
        "one commit, both files"
    );
    let log = fx.show(LOG);
    assert!(
        log.starts_with(
            "# Deployment log\n\n## blog: image.tag prod-blog-1 -> dev-blog-3 (dev -> prod), "
        ),
        "{log}"
    );
    assert!(
        log.contains("- approved by oncall-lead: fixes the login redirect\n"),
        "{log}"
    );
    assert!(
        log.contains(&format!("  - {} ci: blog dev-blog-3 (", &three[..12])),
        "{log}"
    );

    let four = ci.commit(
        &dev_path("blog"),
        &release_file("dev", "blog", "dev-blog-4"),
        "ci: blog dev-blog-4",
    );
    let Ok(Outcome::Committed(_)) = engine.promote(fx.request("blog").log_file(LOG)).await else {
        panic!("the second promotion commits")
    };
    let log = fx.show(LOG);
    let newest = log.find("dev-blog-3 -> dev-blog-4").expect("second entry");
    let older = log.find("prod-blog-1 -> dev-blog-3").expect("first entry");
    assert!(newest < older, "newest first: {log}");
    let entry = &log[newest..older];
    assert!(entry.contains("- automatic\n"), "{entry}");
    assert!(
        entry.contains(&format!("  - {} ci: blog dev-blog-4 (", &four[..12])),
        "{entry}"
    );
    assert!(
        !entry.contains("ci: blog dev-blog-3"),
        "only the commits since prod's version: {entry}"
    );
}

#[tokio::test]
async fn a_log_that_is_a_release_file_is_refused_and_nothing_is_written() {
    let fx = Fixture::new(&["blog"]);
    let tip = fx.tip();
    let err = fx
        .engine()
        .promote(fx.request("blog").log_file(prod_path("blog")))
        .await
        .expect_err("refused");
    assert!(matches!(err, GitError::InvalidRequest(_)), "{err}");
    assert_eq!(fx.tip(), tip);
}
