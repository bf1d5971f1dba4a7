//! What the engine keeps and reads: the size cap on values files, the bounded walk that names
//! who changed a value, removing caches no lane uses, packing loose objects, and empty or null
//! target values that get filled in.

mod common;

use std::path::Path;

use common::{Fixture, prod_path, release_file};
use promote_git::{Engine, EngineConfig, Outcome, RepoUrl};

fn engine(fx: &Fixture, tweak: impl FnOnce(&mut EngineConfig)) -> Engine {
    let mut config = EngineConfig::new(&fx.cache);
    tweak(&mut config);
    Engine::new(config).expect("engine")
}

fn cache_repo(cache: &Path, url: &str) -> std::path::PathBuf {
    let key = RepoUrl::parse(url).expect("url").cache_key();
    cache.join(format!("{key}.git"))
}

fn loose_objects(repo: &Path) -> usize {
    std::fs::read_dir(repo.join("objects"))
        .expect("objects dir")
        .flatten()
        .filter(|d| d.file_name().len() == 2)
        .map(|d| std::fs::read_dir(d.path()).map_or(0, |f| f.count()))
        .sum()
}

#[tokio::test]
async fn a_values_file_over_the_cap_is_refused_before_it_is_parsed() {
    let fx = Fixture::new(&["blog"]);
    let padding = format!("# {}\n", "x".repeat(2000));
    let huge = release_file("prod", "blog", "prod-blog-1") + &padding.repeat(40);
    fx.outside("person")
        .commit(&prod_path("blog"), &huge, "a very long comment");
    let before = fx.tip();
    let engine = engine(&fx, |c| c.max_values_file = 64 * 1024);
    let err = engine
        .promote(fx.request("blog"))
        .await
        .expect_err("too big");
    assert_eq!(err.category(), "invalid_values", "{err}");
    assert!(
        err.to_string()
            .contains("values files over 65536 bytes are refused"),
        "{err}"
    );
    let err = engine
        .read_fields(
            &fx.remote(),
            "main",
            &prod_path("blog"),
            &["image.tag".to_owned()],
        )
        .await
        .expect_err("too big to read");
    assert_eq!(err.category(), "invalid_values", "{err}");
    assert_eq!(fx.tip(), before);
    // Under the default cap (1 MiB) the same file is fine.
    let roomy = engine_default(&fx);
    assert!(matches!(
        roomy.promote(fx.request("blog")).await,
        Ok(Outcome::Committed(_))
    ));
}

fn engine_default(fx: &Fixture) -> Engine {
    engine(fx, |_| {})
}

#[tokio::test]
async fn the_walk_naming_who_changed_a_value_stops_at_its_cap() {
    let fx = Fixture::new(&["blog"]);
    let person = fx.outside("person");
    let pin = person.commit(
        &prod_path("blog"),
        &release_file("prod", "blog", "hotfix-1"),
        "pin blog",
    );
    for i in 0..6 {
        person.commit(&format!("docs/{i}.md"), "x\n", &format!("docs {i}"));
    }
    let request = || fx.request("blog").expect_target(vec!["prod-blog-1".into()]);
    let conflict = |outcome| match outcome {
        Ok(Outcome::Conflict(c)) => c,
        other => panic!("expected a conflict, got {other:?}"),
    };
    let shallow = conflict(
        engine(&fx, |c| c.history_depth = 3)
            .promote(request())
            .await,
    );
    assert_eq!(shallow.changed_by, None, "the change is beyond the cap");
    let deep = conflict(engine_default(&fx).promote(request()).await);
    assert_eq!(
        deep.changed_by.expect("named").commit.as_str(),
        pin,
        "found within the default cap"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn caches_no_lane_uses_are_removed_while_kept_ones_keep_working() {
    let (keep, drop) = (Fixture::new(&["blog"]), Fixture::new(&["shop"]));
    let cache = tempfile::tempdir().expect("cache dir");
    let engine = Engine::new(EngineConfig::new(cache.path())).expect("engine");
    assert!(matches!(
        engine.promote(drop.request("shop")).await,
        Ok(Outcome::Committed(_))
    ));
    engine
        .refresh(&keep.remote(), "main")
        .await
        .expect("warm the kept cache");
    let kept_url = keep.remote().url;

    // Promotions on the kept repository run while the caches are pruned.
    let person = keep.outside("person");
    let writing = tokio::spawn({
        let (engine, request) = (engine.clone(), keep.request("blog"));
        async move { engine.promote(request).await }
    });
    let removed = engine.retain_caches([&kept_url]).await.expect("retain");
    assert_eq!(removed, 1);
    assert!(matches!(
        writing.await.expect("task"),
        Ok(Outcome::Committed(_))
    ));
    assert!(cache_repo(cache.path(), &keep.url()).exists());
    assert!(!cache_repo(cache.path(), &drop.url()).exists());
    person.commit("docs/a.md", "a\n", "more work");
    let tip = engine.refresh(&keep.remote(), "main").await.expect("fetch");
    assert_eq!(tip.as_str(), keep.tip());

    // A removed repository is fetched afresh when a lane uses it again.
    let values = engine
        .read_fields(
            &drop.remote(),
            "main",
            &prod_path("shop"),
            &["image.tag".to_owned()],
        )
        .await
        .expect("read again");
    assert_eq!(values.values, ["dev-shop-2"]);
    assert_eq!(
        engine
            .retain_caches(std::iter::empty())
            .await
            .expect("retain"),
        2
    );
}

#[tokio::test]
async fn loose_objects_are_packed_after_the_configured_number_of_writes() {
    let fx = Fixture::new(&["blog", "shop"]);
    let repo = cache_repo(&fx.cache, &fx.url());
    let never = engine(&fx, |c| c.pack_loose_every = 0);
    assert!(matches!(
        never.promote(fx.request("blog")).await,
        Ok(Outcome::Committed(_))
    ));
    assert!(loose_objects(&repo) > 0, "a built commit is loose at first");
    let packing = engine(&fx, |c| c.pack_loose_every = 1);
    let c = match packing.promote(fx.request("shop")).await {
        Ok(Outcome::Committed(c)) => c,
        other => panic!("expected a commit, got {other:?}"),
    };
    assert_eq!(loose_objects(&repo), 0);
    // Everything is still readable from the pack.
    let at = packing
        .read_fields_at(
            &fx.remote(),
            c.parent.as_str(),
            &prod_path("blog"),
            &["image.tag".to_owned()],
        )
        .await
        .expect("read the earlier commit");
    assert_eq!(at.values, ["dev-blog-2"]);
    assert!(
        packing
            .contains(&fx.remote(), c.commit.as_str(), c.parent.as_str())
            .await
            .expect("contains")
    );
}

#[tokio::test]
async fn empty_and_null_target_values_are_filled_in() {
    for (written, shown) in [
        ("tag:", "tag:"),
        ("tag: ~", "tag: ~"),
        ("tag: null", "tag: null"),
    ] {
        let fx = Fixture::new(&["blog"]);
        let original = release_file("prod", "blog", "x")
            .replace("tag: \"x\"   # set by the pipeline", written);
        assert!(original.contains(shown), "{original}");
        fx.outside("person")
            .commit(&prod_path("blog"), &original, "not deployed yet");
        let c = match engine_default(&fx).promote(fx.request("blog")).await {
            Ok(Outcome::Committed(c)) => c,
            other => panic!("{written}: expected a commit, got {other:?}"),
        };
        assert_eq!(c.from, [""], "{written}");
        assert_eq!(c.to, ["dev-blog-2"], "{written}");
        let now = fx.show(&prod_path("blog")) + "\n";
        let filled = if written == "tag:" {
            original.replace("tag:", "tag: dev-blog-2")
        } else {
            original.replace(written, "tag: dev-blog-2")
        };
        assert_eq!(now, filled, "{written}: only the value changed");
    }
}
