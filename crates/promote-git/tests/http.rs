//! The engine against a real smart-HTTP server (git http-backend behind lighttpd, basic auth).

mod common;

use common::{
    HttpSetup, install_hook, prod_path, race_once_hook, release_file, request_for,
    stage_outside_commit,
};
use promote_git::{
    Credentials, Engine, EngineConfig, GitError, HeadCheck, Outcome, RemoteSpec, Secret, Side,
};

fn committed(outcome: Result<Outcome, GitError>) -> promote_git::Committed {
    match outcome {
        Ok(Outcome::Committed(c)) => c,
        other => panic!("expected a commit, got {other:?}"),
    }
}

#[tokio::test]
async fn promotes_over_http_with_basic_auth() {
    let s = HttpSetup::new(&["blog"]);
    let before = s.tip();
    let c = committed(
        s.engine()
            .promote(request_for(s.remote(), "blog").approved_by("oncall-lead"))
            .await,
    );
    assert_eq!(c.parent.as_str(), before);
    assert_eq!(s.tip(), c.commit.as_str());
    assert_eq!(s.prod("blog"), release_file("prod", "blog", "dev-blog-2"));
    let trailers = s.repo.trailers("main").expect("trailers");
    assert!(
        trailers.contains(&("Promotion".into(), "web/blog-prod".into())),
        "{trailers:?}"
    );
    assert!(
        trailers.contains(&("Promote-Approved-By".into(), "oncall-lead".into())),
        "{trailers:?}"
    );
    assert_eq!(
        s.repo.changed_files("main").expect("diff"),
        vec![prod_path("blog")]
    );
}

#[tokio::test]
async fn a_token_is_sent_as_the_password() {
    let s = HttpSetup::new(&["blog"]);
    let c = s.http.credentials();
    let remote = RemoteSpec::new(&s.http.url("web-core"))
        .expect("url")
        .with_credentials(Credentials::Token {
            username: Some(c.username.clone()),
            token: Secret::new(c.password.clone()),
        });
    committed(s.engine().promote(request_for(remote, "blog")).await);
}

#[tokio::test]
async fn wrong_password_is_an_auth_error_that_names_no_secret_and_pushes_nothing() {
    let s = HttpSetup::new(&["blog"]);
    let before = s.tip();
    let wrong = "not-the-password-31337";
    let remote = s.remote_with_password(wrong);
    let err = s
        .engine()
        .promote(request_for(remote.clone(), "blog"))
        .await
        .expect_err("refused");
    assert_eq!(err.category(), "auth", "{err}");
    assert!(!err.is_retryable());
    assert!(!err.to_string().contains(wrong) && !format!("{err:?}").contains(wrong));
    assert!(!format!("{remote:?}").contains(wrong));
    assert_eq!(s.tip(), before);

    // No credentials at all: the server asks, and the engine says none are configured.
    let anonymous = RemoteSpec::new(&s.http.url("web-core")).expect("url");
    let err = s
        .engine()
        .promote(request_for(anonymous, "blog"))
        .await
        .expect_err("refused");
    assert_eq!(err.category(), "auth", "{err}");

    // Credentials in the URL are refused outright, without repeating them.
    let c = s.http.credentials();
    let url = s
        .http
        .url("web-core")
        .replace("http://", &format!("http://{}:{wrong}@", c.username));
    let err = RemoteSpec::new(&url).expect_err("credentials belong in the Secret");
    assert!(!err.to_string().contains(wrong), "{err}");
    assert!(err.to_string().contains("Secret"), "{err}");
    assert_eq!(s.tip(), before);
}

#[tokio::test]
async fn server_down_is_retryable_and_the_next_attempt_succeeds() {
    let s = HttpSetup::new(&["blog"]);
    let engine = s.engine();
    // Warm the cache first, so the retry is an incremental fetch.
    engine.refresh(&s.remote(), "main").await.expect("fetch");
    s.http.stop();
    let err = engine
        .promote(request_for(s.remote(), "blog"))
        .await
        .expect_err("server down");
    assert!(err.is_retryable(), "{err}");
    assert_eq!(err.category(), "network", "{err}");
    let err = engine
        .remote_head(&s.remote(), "main")
        .await
        .expect_err("server down");
    assert_eq!(err.category(), "network", "{err}");
    s.http.restart().expect("restart");
    committed(engine.promote(request_for(s.remote(), "blog")).await);
    assert_eq!(s.prod("blog"), release_file("prod", "blog", "dev-blog-2"));
}

#[tokio::test]
async fn a_lost_race_is_retried_on_the_new_tip_without_merges() {
    let s = HttpSetup::new(&["blog"]);
    let outside = stage_outside_commit(
        s.repo.path(),
        &[("docs/notes.md", "unrelated\n")],
        "docs: notes",
    );
    install_hook(s.repo.path(), &race_once_hook());
    let c = committed(s.engine().promote(request_for(s.remote(), "blog")).await);
    assert_eq!(c.attempts, 2, "the first push lost the race");
    assert_eq!(
        c.parent.as_str(),
        outside,
        "rebuilt on the other writer's commit"
    );
    assert_eq!(s.repo.merge_count("main").expect("merges"), 0);
    assert_eq!(
        s.repo
            .read_file("main", "docs/notes.md")
            .expect("read")
            .as_deref(),
        Some("unrelated\n")
    );
    assert_eq!(s.prod("blog"), release_file("prod", "blog", "dev-blog-2"));
}

#[tokio::test]
async fn a_person_editing_the_target_between_decision_and_push_wins() {
    let s = HttpSetup::new(&["blog"]);
    let theirs = release_file("prod", "blog", "hotfix-9");
    let outside = stage_outside_commit(
        s.repo.path(),
        &[(&prod_path("blog"), &theirs)],
        "pin blog to hotfix-9",
    );
    install_hook(s.repo.path(), &race_once_hook());
    match s.engine().promote(request_for(s.remote(), "blog")).await {
        Ok(Outcome::Conflict(c)) => {
            assert_eq!(c.side, Side::Target);
            assert_eq!(
                (c.expected.as_str(), c.found.as_str()),
                ("prod-blog-1", "hotfix-9")
            );
            assert_eq!(c.changed_by.expect("named").commit.as_str(), outside);
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(s.tip(), outside);
    assert_eq!(s.prod("blog"), theirs);
}

#[tokio::test]
async fn a_declining_hook_is_a_rejection_not_a_retry() {
    let s = HttpSetup::new(&["blog"]);
    let before = s.tip();
    install_hook(
        s.repo.path(),
        "#!/bin/sh\necho 'main is protected: open a merge request' >&2\nexit 1\n",
    );
    let err = s
        .engine()
        .promote(request_for(s.remote(), "blog"))
        .await
        .expect_err("declined");
    assert_eq!(err.category(), "push_rejected", "{err}");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("main is protected"), "{err}");
    assert_eq!(s.tip(), before);
}

#[tokio::test]
async fn missing_repository_over_http_is_not_found() {
    let s = HttpSetup::new(&["blog"]);
    let remote = s.remote_at(s.addr(), "nope");
    let err = s
        .engine()
        .promote(request_for(remote, "blog"))
        .await
        .expect_err("missing");
    assert_eq!(err.category(), "not_found", "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_promotions_and_an_outside_writer_over_http() {
    let apps: Vec<String> = (0..20).map(|i| format!("app{i:02}")).collect();
    let names: Vec<&str> = apps.iter().map(String::as_str).collect();
    let s = HttpSetup::new(&names);
    let engine = s.engine();
    let writer_remote = s.http.remote("web-core");
    let writer = std::thread::spawn(move || {
        (0..8)
            .map(|i| {
                let path = format!("docs/change-{i}.md");
                writer_remote
                    .commit_files(
                        "main",
                        &[(path.as_str(), &format!("change {i}\n"))],
                        &format!("docs: change {i}"),
                    )
                    .expect("outside commit")
            })
            .collect::<Vec<_>>()
    });
    let tasks: Vec<_> = apps
        .iter()
        .map(|app| {
            let (engine, request) = (engine.clone(), request_for(s.remote(), app));
            tokio::spawn(async move { engine.promote(request).await })
        })
        .collect();
    let mut commits = std::collections::BTreeSet::new();
    for task in tasks {
        commits.insert(committed(task.await.expect("task")).commit);
    }
    let outside = writer.join().expect("writer");
    for app in &apps {
        assert_eq!(
            s.prod(app),
            release_file("prod", app, &format!("dev-{app}-2")),
            "{app}"
        );
    }
    let history = s.repo.commits("main").expect("log");
    for c in &outside {
        assert!(history.contains(c), "outside commit {c} is on main");
    }
    for c in &commits {
        assert!(
            history.iter().any(|h| h == c.as_str()),
            "promotion commit {c} is on main"
        );
    }
    assert_eq!(s.repo.merge_count("main").expect("merges"), 0);
}

#[tokio::test]
async fn a_shared_tip_needs_no_server() {
    let s = HttpSetup::new(&["blog"]);
    let engine = Engine::new(EngineConfig {
        head_ttl: std::time::Duration::from_secs(3600),
        ..EngineConfig::new(s.cache_dir())
    })
    .expect("engine");
    let first = engine.tip(&s.remote(), "main").await.expect("tip");
    assert_eq!(first.check, HeadCheck::Fetched);
    assert_eq!(first.commit.as_str(), s.tip());
    s.http.stop();
    // The server is down, so an answer within the TTL can only come from the shared tip.
    let again = engine.tip(&s.remote(), "main").await.expect("shared tip");
    assert_eq!(
        (again.commit, again.check),
        (first.commit, HeadCheck::Shared)
    );
    let checking = Engine::new(EngineConfig {
        head_ttl: std::time::Duration::ZERO,
        ..EngineConfig::new(s.cache_dir())
    })
    .expect("engine");
    let err = checking
        .tip(&s.remote(), "main")
        .await
        .expect_err("a zero TTL asks the server");
    assert_eq!(err.category(), "network", "{err}");
}

#[tokio::test]
async fn a_git_server_restarted_between_fetch_and_push_gets_exactly_one_commit() {
    let s = HttpSetup::new(&["blog"]);
    let engine = s.engine();
    let remote = s.remote();
    let before = s.tip();
    // Fetched while the server was up.
    engine.tip(&remote, "main").await.expect("fetched");
    s.http.stop();
    let down = engine.promote(request_for(remote.clone(), "blog")).await;
    let err = down.expect_err("the server is down");
    assert!(err.is_retryable(), "{err}");
    s.http.restart().expect("restart on the same port");
    assert_eq!(s.tip(), before, "nothing was pushed while it was down");
    match engine.promote(request_for(remote, "blog")).await {
        Ok(Outcome::Committed(c)) => assert_eq!(c.parent.as_str(), before),
        other => panic!("expected a commit after the restart, got {other:?}"),
    }
    let after: Vec<String> = s.repo.commits("main").expect("history");
    let old: Vec<String> = s.repo.commits(&before).expect("history");
    assert_eq!(after.len(), old.len() + 1, "exactly one commit");
}
