//! The big-repository generator (at a small size) and its cache.

use promote_gitserver::{BigRepoSpec, HttpServer, RepoDir, cached_big_repo_in, generate_big_repo};

const SMALL: BigRepoSpec = BigRepoSpec {
    commits: 250,
    files: 73,
    apps: 6,
};

#[test]
fn generator_produces_the_requested_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.git");
    generate_big_repo(SMALL, &path).expect("generate");
    let repo = promote_gitserver::BareRepo::open(&path);
    assert_eq!(repo.commit_count("main").expect("count"), SMALL.commits);
    assert_eq!(repo.files("main").expect("files").len(), SMALL.files);
    assert_eq!(repo.merge_count("main").expect("merges"), 0);
    for app in 0..SMALL.apps {
        let prod = repo
            .read_file("main", &BigRepoSpec::release_file("prod", app))
            .expect("read")
            .expect("prod file exists");
        assert!(prod.contains("  tag: 1.0.0\n"), "{prod}");
        let dev = repo
            .read_file("main", &BigRepoSpec::release_file("dev", app))
            .expect("read")
            .expect("dev file exists");
        assert!(dev.contains("  tag: "), "{dev}");
    }
    // Every commit after the first changes exactly one file.
    let commits = repo.commits("main").expect("commits");
    assert_eq!(repo.changed_files(&commits[0]).expect("changed").len(), 1);
    assert_eq!(
        repo.changed_files(&commits[commits.len() - 1])
            .expect("changed")
            .len(),
        SMALL.files
    );
}

#[test]
fn generation_is_deterministic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = BigRepoSpec {
        commits: 40,
        files: 12,
        apps: 2,
    };
    let a = dir.path().join("a.git");
    let b = dir.path().join("b.git");
    generate_big_repo(spec, &a).expect("generate a");
    generate_big_repo(spec, &b).expect("generate b");
    let head = |p| {
        promote_gitserver::BareRepo::open(p)
            .head("main")
            .expect("head")
    };
    assert_eq!(head(&a), head(&b));
}

#[test]
fn cache_is_reused_and_imports_are_writable_copies() {
    let cache = tempfile::tempdir().expect("tempdir");
    let spec = BigRepoSpec {
        commits: 30,
        files: 10,
        apps: 1,
    };
    let first = cached_big_repo_in(cache.path(), spec).expect("generate");
    assert!(first.generated_in.is_some());
    assert!(first.path.ends_with(spec.cache_name()));
    let second = cached_big_repo_in(cache.path(), spec).expect("from cache");
    assert_eq!(second.generated_in, None);
    assert_eq!(second.path, first.path);

    let repos = RepoDir::new().expect("repo dir");
    let copy = second.import_into(&repos, "big").expect("import");
    let http = HttpServer::start(&repos).expect("start lighttpd");
    let remote = http.remote("big");
    let id = remote
        .commit_files(
            "main",
            &[(
                &BigRepoSpec::release_file("prod", 0),
                "image:\n  tag: 9.9.9\n",
            )],
            "Promote",
        )
        .expect("push to the copy");
    assert_eq!(copy.head("main").expect("head"), Some(id));
    let cached = promote_gitserver::BareRepo::open(&first.path);
    assert_eq!(cached.commit_count("main").expect("count"), spec.commits);
}

#[test]
fn invalid_specs_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    for spec in [
        BigRepoSpec {
            commits: 0,
            files: 10,
            apps: 0,
        },
        BigRepoSpec {
            commits: 10,
            files: 0,
            apps: 0,
        },
        BigRepoSpec {
            commits: 10,
            files: 3,
            apps: 2,
        },
    ] {
        assert!(
            generate_big_repo(spec, &dir.path().join("x.git")).is_err(),
            "{spec:?}"
        );
    }
}
