//! Batch isolation over smart HTTP: a server hook that refuses one lane's change fails that
//! lane alone; the other lanes of the batch land.

mod common;

use common::{
    borrowed, install_hook, layout, prod_path, refuse_changes_to_hook, release_file, request_for,
};
use promote_git::{Credentials, Engine, EngineConfig, GitError, Outcome, RemoteSpec, Secret};
use promote_gitserver::{HttpServer, RepoDir};

#[tokio::test]
async fn a_hook_refusing_one_lane_fails_only_that_lane() {
    let repos = RepoDir::new().expect("repo dir");
    let apps = ["blog", "shop", "news", "docs"];
    let repo = repos
        .create("web-core", &borrowed(&layout(&apps)))
        .expect("create repo");
    let http = HttpServer::start(&repos).expect("start lighttpd");
    install_hook(
        repo.path(),
        &refuse_changes_to_hook("release-prod/shop.yaml", "shop is frozen for the sale"),
    );
    let c = http.credentials();
    let remote = RemoteSpec::new(&http.url("web-core"))
        .expect("url")
        .with_credentials(Credentials::Basic {
            username: c.username.clone(),
            password: Secret::new(c.password.clone()),
        });
    let cache = tempfile::tempdir().expect("cache dir");
    let engine = Engine::new(EngineConfig::new(cache.path())).expect("engine");
    let before = repo.commit_count("main").expect("count");

    let results = engine
        .promote_many(
            apps.iter()
                .map(|app| request_for(remote.clone(), app))
                .collect(),
        )
        .await;
    for (app, result) in apps.iter().zip(&results) {
        let prod = repo
            .read_file("main", &prod_path(app))
            .expect("read")
            .expect("exists");
        if *app == "shop" {
            match result {
                Err(e @ GitError::PushRejected { .. }) => {
                    assert!(e.to_string().contains("shop is frozen"), "{e}");
                }
                other => panic!("shop is refused on its own: {other:?}"),
            }
            assert_eq!(prod, release_file("prod", app, "prod-shop-1"));
        } else {
            assert!(
                matches!(result, Ok(Outcome::Committed(_))),
                "{app} lands: {result:?}"
            );
            assert_eq!(prod, release_file("prod", app, &format!("dev-{app}-2")));
        }
    }
    // The three that landed share the commits of the split halves: none carries shop.
    let landed: Vec<String> = results
        .iter()
        .filter_map(|r| match r {
            Ok(Outcome::Committed(c)) => Some(c.commit.to_string()),
            _ => None,
        })
        .collect();
    let distinct: std::collections::BTreeSet<&String> = landed.iter().collect();
    assert_eq!(
        repo.commit_count("main").expect("count"),
        before + distinct.len()
    );
    for commit in distinct {
        let files = repo.changed_files(commit).expect("diff");
        assert!(!files.contains(&prod_path("shop")), "{files:?}");
    }
}
