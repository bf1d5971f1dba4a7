//! `Engine::preview`: the edit a promotion would commit, worked out on the newest tip with
//! nothing written.

mod common;

use common::{Fixture, prod_path, release_file};
use promote_git::{Outcome, PreviewChange, Side};

#[tokio::test]
async fn a_preview_shows_the_exact_edit_and_writes_nothing() {
    let fx = Fixture::new(&["blog"]);
    let (tip, commits) = (fx.tip(), fx.commit_count());
    let preview = fx
        .engine()
        .preview(fx.request("blog"))
        .await
        .expect("preview");
    assert_eq!(preview.tip.as_str(), tip);
    assert_eq!(preview.file, prod_path("blog"));
    let PreviewChange::Edit {
        from,
        to,
        before,
        after,
    } = preview.change
    else {
        panic!("expected an edit, got {:?}", preview.change);
    };
    assert_eq!(
        (from, to),
        (vec!["prod-blog-1".into()], vec!["dev-blog-2".into()])
    );
    assert_eq!(
        String::from_utf8(before).expect("utf-8"),
        release_file("prod", "blog", "prod-blog-1")
    );
    // Byte for byte what the promotion commits: only the value changed.
    assert_eq!(
        String::from_utf8(after.clone()).expect("utf-8"),
        release_file("prod", "blog", "dev-blog-2")
    );
    assert_eq!(fx.tip(), tip, "nothing pushed");
    assert_eq!(fx.commit_count(), commits);

    let Ok(Outcome::Committed(_)) = fx.engine().promote(fx.request("blog")).await else {
        panic!("the promotion commits");
    };
    let committed = fx.show(&prod_path("blog"));
    let previewed = String::from_utf8(after).expect("utf-8");
    assert_eq!(committed.trim_end(), previewed.trim_end());
}

#[tokio::test]
async fn a_preview_sees_a_later_commit_and_an_unexpected_target() {
    let fx = Fixture::new(&["blog"]);
    let engine = fx.engine();
    let _ = engine.preview(fx.request("blog")).await.expect("first");
    // A person sets prod by hand; the next preview fetches and sees it in sync.
    fx.outside("person").commit(
        &prod_path("blog"),
        &release_file("prod", "blog", "dev-blog-2"),
        "prod: dev-blog-2 by hand",
    );
    let preview = engine.preview(fx.request("blog")).await.expect("again");
    assert_eq!(preview.tip.as_str(), fx.tip());
    assert_eq!(
        preview.change,
        PreviewChange::InSync(vec!["dev-blog-2".into()])
    );

    let expecting = fx
        .request("blog")
        .expect_target(vec!["prod-blog-0".to_owned()]);
    fx.outside("other").commit(
        &prod_path("blog"),
        &release_file("prod", "blog", "prod-blog-7"),
        "prod: back by hand",
    );
    match engine.preview(expecting).await.expect("conflict").change {
        PreviewChange::Conflict {
            side,
            field,
            expected,
            found,
            ..
        } => {
            assert_eq!(side, Side::Target);
            assert_eq!(field, "image.tag");
            assert_eq!(
                (expected.as_str(), found.as_str()),
                ("prod-blog-0", "prod-blog-7")
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
}
