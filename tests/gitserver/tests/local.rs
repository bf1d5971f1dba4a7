//! Local repositories and the helpers every test uses.

use std::sync::Arc;

use promote_gitserver::{BareRepo, Remote, RepoDir};

const FILES: &[(&str, &str)] = &[
    (
        "deploy/env/release-dev/web.yaml",
        "\u{feff}image:\r\n  tag: \"1.30\"\r\n",
    ),
    (
        "deploy/env/release-prod/web.yaml",
        "image:\n  tag: v1 # prod\n",
    ),
    ("README.md", "gitops\n"),
];

#[test]
fn create_and_read_back() {
    let repos = RepoDir::new().expect("repo dir");
    let repo = repos.create("gitops", FILES).expect("create");
    assert_eq!(repo.name(), "gitops.git");
    assert_eq!(repo.path(), repos.path().join("gitops.git"));
    assert_eq!(repo.branches().expect("branches"), vec!["main".to_owned()]);
    assert_eq!(repo.commit_count("main").expect("count"), 1);
    assert_eq!(repo.merge_count("main").expect("merges"), 0);
    for (path, content) in FILES {
        assert_eq!(
            repo.read_file("main", path).expect("read").as_deref(),
            Some(*content),
            "{path}"
        );
    }
    assert_eq!(repo.read_file("main", "missing.yaml").expect("read"), None);
    assert!(repo.read_file("no-such-branch", "README.md").is_err());
    let mut files = repo.files("main").expect("files");
    files.sort();
    assert_eq!(
        files,
        vec![
            "README.md",
            "deploy/env/release-dev/web.yaml",
            "deploy/env/release-prod/web.yaml"
        ]
    );
    assert_eq!(repo.head("other").expect("head"), None);
}

#[test]
fn same_files_give_the_same_commit_id() {
    let repos = RepoDir::new().expect("repo dir");
    let a = repos.create("a", FILES).expect("create a");
    let b = repos.create("b", FILES).expect("create b");
    assert_eq!(a.head("main").expect("head"), b.head("main").expect("head"));
}

#[test]
fn outside_writer_commits_deletes_and_describes() {
    let repos = RepoDir::new().expect("repo dir");
    let repo = repos.create("gitops", FILES).expect("create");
    let root = repo.head("main").expect("head").expect("root commit");
    let id = repo
        .commit_files(
            "main",
            &[
                (
                    "deploy/env/release-prod/web.yaml",
                    "image:\n  tag: v2 # prod\n",
                ),
                ("deploy/env/release-prod/api.yaml", "image:\n  tag: v7\n"),
            ],
            "Promote web v2 to prod\n\nApproved-by: alice\nPromotion: web/web-prod",
        )
        .expect("commit");
    assert_eq!(repo.parents(&id).expect("parents"), vec![root]);
    let mut changed = repo.changed_files(&id).expect("changed");
    changed.sort();
    assert_eq!(
        changed,
        vec![
            "deploy/env/release-prod/api.yaml",
            "deploy/env/release-prod/web.yaml"
        ]
    );
    assert!(
        repo.commit_message(&id)
            .expect("message")
            .starts_with("Promote web v2 to prod")
    );
    assert_eq!(
        repo.trailers(&id).expect("trailers"),
        vec![
            ("Approved-by".to_owned(), "alice".to_owned()),
            ("Promotion".to_owned(), "web/web-prod".to_owned())
        ]
    );

    let deleted = repo
        .delete_files("main", &["README.md"], "Drop readme")
        .expect("delete");
    assert_eq!(repo.read_file("main", "README.md").expect("read"), None);
    assert_eq!(
        repo.changed_files(&deleted).expect("changed"),
        vec!["README.md"]
    );
    assert_eq!(
        repo.commits("main").expect("commits").first(),
        Some(&deleted)
    );
    assert_eq!(repo.commit_count("main").expect("count"), 3);
}

#[test]
fn outside_writer_can_start_a_branch_and_make_symlinks() {
    let repos = RepoDir::new().expect("repo dir");
    let repo = repos.create("gitops", FILES).expect("create");
    let id = repo
        .remote()
        .commit_with("hotfix", "Link", |work| {
            std::fs::write(work.join("target.yaml"), "a: 1\n")?;
            std::os::unix::fs::symlink("target.yaml", work.join("link.yaml"))
        })
        .expect("commit on a new branch");
    assert_eq!(repo.commit_count("hotfix").expect("count"), 1);
    assert_eq!(repo.head("hotfix").expect("head"), Some(id));
    let mode = repo
        .git()
        .args(["ls-tree", "hotfix", "link.yaml"])
        .output()
        .expect("ls-tree");
    assert!(String::from_utf8_lossy(&mode.stdout).starts_with("120000 "));
}

#[test]
fn concurrent_outside_writers_all_land() {
    let repos = RepoDir::new().expect("repo dir");
    let repo = Arc::new(repos.create("gitops", FILES).expect("create"));
    let writers: Vec<_> = (0..6)
        .map(|i| {
            let repo = Arc::clone(&repo);
            std::thread::spawn(move || {
                let path = format!("deploy/env/release-dev/app-{i}.yaml");
                let content = format!("image:\n  tag: v{i}\n");
                repo.commit_files("main", &[(&path, &content)], &format!("Writer {i}"))
                    .expect("writer lands eventually")
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer thread");
    }
    assert_eq!(repo.commit_count("main").expect("count"), 1 + 6);
    for i in 0..6 {
        let path = format!("deploy/env/release-dev/app-{i}.yaml");
        assert_eq!(
            repo.read_file("main", &path).expect("read"),
            Some(format!("image:\n  tag: v{i}\n"))
        );
    }
}

#[test]
fn merge_commits_are_counted() {
    let repos = RepoDir::new().expect("repo dir");
    let repo = repos.create("gitops", FILES).expect("create");
    let remote = repo.remote();
    let work = tempfile::tempdir().expect("tempdir");
    let clone = work.path().join("clone");
    remote.clone_to(&clone).expect("clone");
    let git = |args: &[&str]| {
        let out = remote
            .git()
            .arg("-C")
            .arg(&clone)
            .args(args)
            .output()
            .expect("git");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["switch", "-q", "-c", "side"]);
    std::fs::write(clone.join("side.txt"), "side\n").expect("write");
    git(&["add", "side.txt"]);
    git(&["commit", "-qm", "Side"]);
    git(&["switch", "-q", "main"]);
    std::fs::write(clone.join("main.txt"), "main\n").expect("write");
    git(&["add", "main.txt"]);
    git(&["commit", "-qm", "Main"]);
    git(&["merge", "-q", "--no-ff", "--no-edit", "side"]);
    git(&["push", "-q", "origin", "main"]);
    assert_eq!(repo.merge_count("main").expect("merges"), 1);
    assert_eq!(repo.commit_count("main").expect("count"), 4);
    let head = repo.head("main").expect("head").expect("tip");
    assert_eq!(repo.parents(&head).expect("parents").len(), 2);
}

#[test]
fn file_url_and_plain_path_both_work() {
    let repos = RepoDir::new().expect("repo dir");
    let repo = repos.create("gitops", FILES).expect("create");
    let head = repo.head("main").expect("head");
    assert!(repo.file_url().starts_with("file:///"));
    assert_eq!(
        Remote::new(repo.file_url()).head("main").expect("file url"),
        head
    );
    let plain = repo.path().to_string_lossy().into_owned();
    assert_eq!(Remote::new(plain).head("main").expect("plain path"), head);
}

#[test]
fn import_copies_without_sharing_refs() {
    let repos = RepoDir::new().expect("repo dir");
    let source = repos.create("source", FILES).expect("create");
    let copy = repos.import("copy", source.path()).expect("import");
    assert_eq!(
        copy.head("main").expect("head"),
        source.head("main").expect("head")
    );
    copy.commit_files("main", &[("new.txt", "n\n")], "Only in the copy")
        .expect("commit to copy");
    assert_eq!(copy.commit_count("main").expect("count"), 2);
    assert_eq!(source.commit_count("main").expect("count"), 1);
}

#[test]
fn bad_names_and_paths_are_refused() {
    let repos = RepoDir::new().expect("repo dir");
    for name in ["../escape", "/abs", ""] {
        assert!(repos.create(name, FILES).is_err(), "{name}");
    }
    for path in ["../x", "/etc/x", ".git/config", "a/../../x"] {
        assert!(repos.create("r", &[(path, "x")]).is_err(), "{path}");
    }
    let repo = repos.create("ok", FILES).expect("create");
    assert!(repo.commit_files("main", &[("../x", "x")], "no").is_err());
    assert!(repo.commit_files("-x", &[("a", "x")], "no").is_err());
}

#[test]
fn empty_repository_has_no_head() {
    let repos = RepoDir::new().expect("repo dir");
    let repo = repos.create_empty("empty").expect("create");
    assert_eq!(repo.head("main").expect("head"), None);
    assert!(repo.branches().expect("branches").is_empty());
    let id = repo
        .commit_files("main", &[("first.txt", "1\n")], "First")
        .expect("first commit");
    assert_eq!(repo.head("main").expect("head"), Some(id));
}

#[test]
fn repo_dir_is_removed_when_the_last_handle_drops() {
    let repos = RepoDir::new().expect("repo dir");
    let path = repos.path().to_path_buf();
    let repo: BareRepo = repos.create("gitops", FILES).expect("create");
    drop(repos);
    assert!(path.exists(), "the BareRepo keeps the directory alive");
    drop(repo);
    assert!(!path.exists());
}

#[test]
fn fixture_types_can_be_shared_across_threads_and_tasks() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<promote_gitserver::HttpServer>();
    send_sync::<promote_gitserver::SshServer>();
    send_sync::<RepoDir>();
    send_sync::<BareRepo>();
    send_sync::<Remote>();
    send_sync::<promote_gitserver::Error>();
}
