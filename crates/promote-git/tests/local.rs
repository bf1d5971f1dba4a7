//! The engine against bare repositories on local paths, inspected with the git CLI.

mod common;

use common::{Fixture, dev_path, git, prod_path, release_file};
use promote_git::{
    Engine, EngineConfig, GitError, HeadCheck, Outcome, PromotionRequest, Side, Source,
    TRAILER_PROMOTION, TRAILER_VERSION, Target, TrailerQuery,
};

fn committed(outcome: Result<Outcome, GitError>) -> promote_git::Committed {
    match outcome {
        Ok(Outcome::Committed(c)) => c,
        other => panic!("expected a commit, got {other:?}"),
    }
}

#[tokio::test]
async fn promotes_the_dev_tag_into_prod_in_one_commit_and_nothing_else_changes() {
    let fx = Fixture::new(&["synestra-io", "blog"]);
    let before = fx.tip();
    let c = committed(
        fx.engine()
            .promote(fx.request("synestra-io").approved_by("oncall-lead"))
            .await,
    );
    assert_eq!(c.from, vec!["prod-synestra-io-1"]);
    assert_eq!(c.to, vec!["dev-synestra-io-2"]);
    assert_eq!(c.parent.as_str(), before);
    assert_eq!(fx.tip(), c.commit.as_str());
    // Byte-exact: the file is the original with only the tag replaced.
    let expected = release_file("prod", "synestra-io", "prod-synestra-io-1")
        .replace("prod-synestra-io-1", "dev-synestra-io-2");
    assert_eq!(fx.show(&prod_path("synestra-io")) + "\n", expected);
    let changed = git(&fx.bare, &["diff", "--name-only", &before, "main"]);
    assert_eq!(changed, prod_path("synestra-io"));
    let message = git(&fx.bare, &["log", "-1", "--format=%B", "main"]);
    assert!(
        message.starts_with(
            "promote synestra-io: prod-synestra-io-1 -> dev-synestra-io-2 (dev -> prod)"
        ),
        "{message}"
    );
    assert!(message.contains("approved by: oncall-lead"), "{message}");
    assert!(
        message.contains("Promotion: web/synestra-io-prod"),
        "{message}"
    );
    assert_eq!(
        git(&fx.bare, &["log", "-1", "--format=%cn <%ce>", "main"]),
        "Promote <promote@localhost>"
    );
}

#[tokio::test]
async fn a_second_promotion_is_in_sync_and_writes_nothing() {
    let fx = Fixture::new(&["blog"]);
    let engine = fx.engine();
    committed(engine.promote(fx.request("blog")).await);
    let tip = fx.tip();
    match engine.promote(fx.request("blog")).await {
        Ok(Outcome::InSync { commit, values }) => {
            assert_eq!(commit.as_str(), tip);
            assert_eq!(values, vec!["dev-blog-2"]);
        }
        other => panic!("expected in sync, got {other:?}"),
    }
    assert_eq!(fx.tip(), tip);
}

#[tokio::test]
async fn a_changed_target_is_a_conflict_naming_the_commit_and_the_edit_is_kept() {
    let fx = Fixture::new(&["blog"]);
    let person = fx.outside("person");
    let pinned = release_file("prod", "blog", "hotfix-7");
    let their_commit = person.commit(&prod_path("blog"), &pinned, "pin blog to hotfix-7");
    let request = fx.request("blog").expect_target(vec!["prod-blog-1".into()]);
    match fx.engine().promote(request).await {
        Ok(Outcome::Conflict(c)) => {
            assert_eq!(c.side, Side::Target);
            assert_eq!(
                (c.expected.as_str(), c.found.as_str()),
                ("prod-blog-1", "hotfix-7")
            );
            assert_eq!(c.field, "image.tag");
            let by = c.changed_by.expect("the changing commit is named");
            assert_eq!(by.commit.as_str(), their_commit);
            assert_eq!(by.author, "Dana Developer");
            assert_eq!(by.summary, "pin blog to hotfix-7");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(fx.tip(), their_commit);
    assert_eq!(fx.show(&prod_path("blog")) + "\n", pinned);
}

#[tokio::test]
async fn a_source_that_moved_after_approval_is_a_conflict() {
    let fx = Fixture::new(&["blog"]);
    fx.outside("ci").commit(
        &dev_path("blog"),
        &release_file("dev", "blog", "dev-blog-3"),
        "ci: dev-blog-3",
    );
    let tip = fx.tip();
    let mut request = fx.request("blog");
    request.source =
        Source::file(dev_path("blog"), &["image.tag"]).expect(vec!["dev-blog-2".into()]);
    match fx.engine().promote(request).await {
        Ok(Outcome::Conflict(c)) => {
            assert_eq!(c.side, Side::Source);
            assert_eq!(c.found, "dev-blog-3");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(fx.tip(), tip);
}

#[tokio::test]
async fn several_fields_land_in_one_commit() {
    let fx = Fixture::new(&["api"]);
    let digest = format!("sha256:{}", "ab".repeat(32));
    let person = fx.outside("ci");
    let dev = format!(
        "image:\n  repository: r/api\n  tag: \"v2\"\n  digest: \"{digest}\"\nworker:\n  tag: v2-worker # worker image\n"
    );
    let prod = "image:\n  repository: r/api\n  tag: \"v1\"\n  digest: \"\"\nworker:\n  tag: v1-worker # worker image\n";
    person.commit(&dev_path("api"), &dev, "dev");
    let before = person.commit(&prod_path("api"), prod, "prod");
    let request = PromotionRequest::new(
        fx.remote(),
        "main",
        "web/api-prod",
        Source::file(
            dev_path("api"),
            &["image.tag", "image.digest", "worker.tag"],
        ),
        Target::new(
            prod_path("api"),
            &["image.tag", "image.digest", "worker.tag"],
        ),
    );
    let c = committed(fx.engine().promote(request).await);
    assert_eq!(
        c.to,
        vec!["v2".to_string(), digest.clone(), "v2-worker".to_string()]
    );
    assert_eq!(
        fx.commit_count(),
        git(&fx.bare, &["rev-list", "--count", &before])
            .parse::<usize>()
            .expect("n")
            + 1
    );
    assert_eq!(
        fx.show(&prod_path("api")) + "\n",
        format!(
            "image:\n  repository: r/api\n  tag: \"v2\"\n  digest: \"{digest}\"\nworker:\n  tag: v2-worker # worker image\n"
        )
    );
}

#[tokio::test]
async fn the_values_editor_refusal_leaves_the_repository_untouched() {
    let fx = Fixture::new(&["blog"]);
    let person = fx.outside("person");
    // An alias cannot be edited exactly: the editor refuses, and nothing may be pushed.
    let aliased = "defaults: &d\n  tag: prod-blog-1\nimage: *d\n";
    let tip = person.commit(&prod_path("blog"), aliased, "share defaults");
    let err = fx
        .engine()
        .promote(fx.request("blog"))
        .await
        .expect_err("refused");
    assert_eq!(err.category(), "invalid_values", "{err}");
    assert!(!err.is_retryable());
    assert_eq!(fx.tip(), tip);
    assert_eq!(fx.show(&prod_path("blog")) + "\n", aliased);
}

#[tokio::test]
async fn an_invalid_version_in_the_source_is_refused_before_writing() {
    let fx = Fixture::new(&["blog"]);
    let tip = fx.outside("ci").commit(
        &dev_path("blog"),
        "image:\n  tag: \"bad tag!\"\n",
        "ci wrote garbage",
    );
    let err = fx
        .engine()
        .promote(fx.request("blog"))
        .await
        .expect_err("refused");
    assert_eq!(err.category(), "invalid_values", "{err}");
    assert_eq!(fx.tip(), tip);
}

#[tokio::test]
async fn path_escapes_are_refused() {
    let fx = Fixture::new(&["blog"]);
    // A symlinked directory and a symlinked file, committed by a person.
    let person = fx.outside("person");
    std::os::unix::fs::symlink("release-prod", person.work.join("deploy/env/linked"))
        .expect("symlink dir");
    std::os::unix::fs::symlink(
        "blog.yaml",
        person.work.join("deploy/env/release-prod/alias.yaml"),
    )
    .expect("symlink file");
    git(&person.work, &["add", "-A"]);
    git(&person.work, &["commit", "-q", "-m", "links"]);
    git(&person.work, &["push", "-q", "origin", "HEAD:main"]);
    let tip = fx.tip();
    let engine = fx.engine();
    for target in [
        "../outside.yaml",
        "deploy/../../outside.yaml",
        "/etc/passwd",
        ".git/config",
        "deploy/.git/hooks/x.yaml",
        "deploy/env/linked/blog.yaml",
        "deploy/env/release-prod/alias.yaml",
        "deploy/env/release-prod",
    ] {
        let mut request = fx.request("blog");
        request.target = Target::new(target, &["image.tag"]);
        let err = engine.promote(request).await.expect_err(target);
        assert_eq!(err.category(), "invalid_path", "{target}: {err}");
        let mut request = fx.request("blog");
        request.source = Source::file(target, &["image.tag"]);
        let err = engine.promote(request).await.expect_err(target);
        assert_eq!(err.category(), "invalid_path", "{target}: {err}");
    }
    assert_eq!(fx.tip(), tip);
}

#[tokio::test]
async fn missing_branch_file_and_repository_are_not_found() {
    let fx = Fixture::new(&["blog"]);
    let engine = fx.engine();
    let mut request = fx.request("blog");
    request.branch = "release".into();
    let err = engine.promote(request).await.expect_err("no branch");
    assert_eq!(err.category(), "not_found", "{err}");
    let err = engine
        .promote(fx.request("nope"))
        .await
        .expect_err("no file");
    assert_eq!(err.category(), "not_found", "{err}");
    let mut request = fx.request("blog");
    request.remote =
        promote_git::RemoteSpec::new(fx.dir.path().join("missing.git").to_str().expect("utf-8"))
            .expect("url");
    let err = engine.promote(request).await.expect_err("no repo");
    assert_eq!(err.category(), "not_found", "{err}");
    let mut request = fx.request("blog");
    request.branch = "bad..name".into();
    assert_eq!(
        engine.promote(request).await.expect_err("bad").category(),
        "invalid_request"
    );
}

#[tokio::test]
async fn a_pin_writes_given_values() {
    let fx = Fixture::new(&["blog"]);
    let mut request = fx.request("blog");
    request.source = Source::Values {
        label: "pin".into(),
        values: vec!["1.30".into()],
    };
    let c = committed(fx.engine().promote(request).await);
    assert_eq!(c.to, vec!["1.30"]);
    // A version that YAML would read as a number keeps its quotes.
    assert!(fx.show(&prod_path("blog")).contains("tag: \"1.30\""));
    let message = git(&fx.bare, &["log", "-1", "--format=%B", "main"]);
    assert!(message.contains("Promote-Source: pin"), "{message}");
}

#[tokio::test]
async fn restarting_with_an_existing_cache_fetches_only_what_is_new() {
    let fx = Fixture::new(&["blog", "shop"]);
    committed(fx.engine().promote(fx.request("blog")).await);
    let caches = || {
        std::fs::read_dir(&fx.cache)
            .expect("cache dir")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "git"))
            })
            .count()
    };
    assert_eq!(caches(), 1);
    let outside = fx
        .outside("person")
        .commit("docs/notes.md", "notes\n", "docs");
    // A new engine over the same directory, as after a restart.
    let c = committed(fx.engine().promote(fx.request("shop")).await);
    assert_eq!(c.parent.as_str(), outside);
    assert_eq!(caches(), 1);
    assert_eq!(fx.merges(), "");
}

#[tokio::test]
async fn trailers_find_the_promotion_commit() {
    let fx = Fixture::new(&["blog", "shop"]);
    let engine = fx.engine();
    let c = committed(
        engine
            .promote(fx.request("blog").approved_by("oncall-lead"))
            .await,
    );
    fx.outside("person")
        .commit("docs/x.md", "x\n", "later work");
    committed(engine.promote(fx.request("shop")).await);
    let query = TrailerQuery::new()
        .with(TRAILER_PROMOTION, "web/blog-prod")
        .with(TRAILER_VERSION, "dev-blog-2");
    let found = engine
        .find_commit(&fx.remote(), "main", &query, 50)
        .await
        .expect("scan")
        .expect("found");
    assert_eq!(found.commit, c.commit);
    assert!(
        found.summary.starts_with("promote blog:"),
        "{}",
        found.summary
    );
    let missing = TrailerQuery::new()
        .with(TRAILER_PROMOTION, "web/blog-prod")
        .with(TRAILER_VERSION, "dev-blog-9");
    assert_eq!(
        engine
            .find_commit(&fx.remote(), "main", &missing, 50)
            .await
            .expect("scan"),
        None
    );
}

#[tokio::test]
async fn a_batch_shares_one_commit_and_each_caller_gets_its_own_outcome() {
    let apps = ["a", "b", "c"];
    let fx = Fixture::new(&apps);
    let before = fx.commit_count();
    let mut requests: Vec<PromotionRequest> = apps.iter().map(|a| fx.request(a)).collect();
    // A fourth lane writes b's target field too: it was decided on the old value, so it conflicts.
    let mut clash = fx.request("b").expect_target(vec!["prod-b-1".into()]);
    clash.source = Source::Values {
        label: "pin".into(),
        values: vec!["pinned-b".into()],
    };
    clash.promotion = "web/b-pin".into();
    requests.push(clash);
    // And one request that is invalid on its own does not spoil the others.
    let mut broken = fx.request("c");
    broken.target = Target::new("../x.yaml", &["image.tag"]);
    requests.push(broken);
    let results = fx.engine().promote_many(requests).await;
    let commits: Vec<_> = results[..3]
        .iter()
        .map(|r| committed(r.clone()).commit)
        .collect();
    assert!(
        commits.iter().all(|c| c == &commits[0]),
        "one shared commit"
    );
    assert!(
        matches!(&results[3], Ok(Outcome::Conflict(c)) if c.found == "dev-b-2"),
        "{:?}",
        results[3]
    );
    assert_eq!(
        results[4].as_ref().expect_err("invalid").category(),
        "invalid_path"
    );
    assert_eq!(fx.commit_count(), before + 1);
    let message = git(&fx.bare, &["log", "-1", "--format=%B", "main"]);
    assert!(
        message.starts_with("promote 3 apps (dev -> prod)"),
        "{message}"
    );
    for app in apps {
        let query = TrailerQuery::new().with(TRAILER_PROMOTION, format!("web/{app}-prod"));
        assert!(query.find_in(&message).is_some(), "{app}");
    }
}

#[tokio::test]
async fn remote_head_reads_without_fetching() {
    let fx = Fixture::new(&["blog"]);
    let engine = fx.engine();
    let head = engine
        .remote_head(&fx.remote(), "main")
        .await
        .expect("ls-remote")
        .expect("branch");
    assert_eq!(head.as_str(), fx.tip());
    assert_eq!(
        engine
            .remote_head(&fx.remote(), "nope")
            .await
            .expect("ls-remote"),
        None
    );
    // The cache had not seen the branch: the first tip has to fetch it.
    let tip = engine.tip(&fx.remote(), "main").await.expect("tip");
    assert_eq!((tip.commit, tip.check), (head, HeadCheck::Fetched));
    // A read on an empty cache fetches the branch first.
    let fresh = Engine::new(EngineConfig::new(fx.dir.path().join("fresh-cache"))).expect("engine");
    let values = fresh
        .read_fields(
            &fx.remote(),
            "main",
            &prod_path("blog"),
            &["image.tag".into()],
        )
        .await
        .expect("read");
    assert_eq!(values.values, vec!["prod-blog-1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_promotions_and_an_outside_writer_all_land_without_merges() {
    let apps: Vec<String> = (0..20).map(|i| format!("app{i:02}")).collect();
    let names: Vec<&str> = apps.iter().map(String::as_str).collect();
    let fx = Fixture::new(&names);
    let engine = fx.engine();
    let person = fx.outside("person");
    let writer = std::thread::spawn(move || {
        let mut commits = Vec::new();
        for i in 0..10 {
            commits.push(person.commit(
                &format!("docs/change-{i}.md"),
                &format!("change {i}\n"),
                &format!("docs: change {i}"),
            ));
        }
        commits
    });
    let mut tasks = Vec::new();
    for app in &apps {
        let engine = engine.clone();
        let request = fx.request(app);
        tasks.push(tokio::spawn(async move { engine.promote(request).await }));
    }
    let mut shared = std::collections::BTreeSet::new();
    for task in tasks {
        let c = committed(task.await.expect("task"));
        shared.insert(c.commit);
    }
    let outside_commits = writer.join().expect("writer");
    for app in &apps {
        assert!(
            fx.show(&prod_path(app))
                .contains(&format!("tag: \"dev-{app}-2\"")),
            "{app}"
        );
    }
    for (i, c) in outside_commits.iter().enumerate() {
        assert!(
            git(&fx.bare, &["merge-base", "--is-ancestor", c, "main"]).is_empty(),
            "outside commit {i} kept"
        );
        assert_eq!(
            fx.show(&format!("docs/change-{i}.md")),
            format!("change {i}")
        );
    }
    assert_eq!(fx.merges(), "");
    let ours: usize = git(
        &fx.bare,
        &[
            "rev-list",
            "--count",
            "--committer=promote@localhost",
            "main",
        ],
    )
    .parse()
    .expect("n");
    assert_eq!(ours, shared.len());
    assert!(ours <= 20);
}

#[tokio::test]
async fn file_urls_work_like_paths() {
    let fx = Fixture::new(&["blog"]);
    let url = format!("file://{}", fx.url());
    let mut request = fx.request("blog");
    request.remote = promote_git::RemoteSpec::new(&url).expect("url");
    let c = committed(fx.engine().promote(request).await);
    assert_eq!(fx.tip(), c.commit.as_str());
}

#[tokio::test]
async fn the_last_change_of_a_value_names_its_commit_and_author() {
    let fx = Fixture::new(&["blog"]);
    let engine = fx.engine();
    committed(engine.promote(fx.request("blog")).await);
    let person = fx.outside("dana");
    let revert = person.commit(
        &prod_path("blog"),
        &release_file("prod", "blog", "prod-blog-1"),
        "revert blog in prod",
    );
    // An unrelated later commit does not hide who changed the value.
    person.commit("README.md", "notes\n", "docs");
    engine.tip(&fx.remote(), "main").await.expect("tip");
    let change = engine
        .last_change(&fx.remote(), "main", &prod_path("blog"), "image.tag")
        .await
        .expect("read")
        .expect("found");
    assert_eq!(change.commit.as_str(), revert);
    assert_eq!(change.summary, "revert blog in prod");
    assert!(!change.author.is_empty());
    let dev = engine
        .last_change(&fx.remote(), "main", &dev_path("blog"), "image.tag")
        .await
        .expect("read")
        .expect("found");
    assert_ne!(dev.commit.as_str(), revert);
}
