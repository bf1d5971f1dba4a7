//! What guards a push over smart HTTP: the leader fence, asked right before the push, and the
//! lease on the parent (the remote branch must still be the commit ours was built on).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use common::{HttpSetup, prod_path, release_file, request_for};
use promote_git::{Engine, EngineConfig, Fence, GitError, Outcome};

fn setup() -> HttpSetup {
    HttpSetup::new(&["blog"])
}

trait Pushes {
    /// An engine that asks `fence` before every push.
    fn fenced(&self, fence: Fence) -> Engine;
    /// Whether blog's dev tag has reached prod on `main`.
    fn promoted(&self) -> bool;
}

impl Pushes for HttpSetup {
    fn fenced(&self, fence: Fence) -> Engine {
        self.engine_with(EngineConfig {
            fence: Some(fence),
            ..EngineConfig::new(self.cache_dir())
        })
    }

    fn promoted(&self) -> bool {
        self.repo
            .read_file("main", &prod_path("blog"))
            .expect("read")
            .as_deref()
            == Some(release_file("prod", "blog", "dev-blog-2").as_str())
    }
}

fn committed(outcome: Result<Outcome, GitError>) -> promote_git::Committed {
    match outcome {
        Ok(Outcome::Committed(c)) => c,
        other => panic!("expected a commit, got {other:?}"),
    }
}

#[tokio::test]
async fn a_fence_that_refuses_stops_the_push_and_one_that_allows_lets_it_go() {
    let s = setup();
    let leading = Arc::new(AtomicBool::new(false));
    let asked = Arc::new(AtomicU32::new(0));
    let engine = s.fenced(Fence::new({
        let (leading, asked) = (leading.clone(), asked.clone());
        move || {
            asked.fetch_add(1, Ordering::SeqCst);
            if leading.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err("lost the leader lease".to_owned())
            }
        }
    }));
    let (before, count) = (s.tip(), s.repo.commit_count("main").expect("count"));
    let err = engine
        .promote(request_for(s.remote(), "blog"))
        .await
        .expect_err("fenced");
    assert_eq!(
        err,
        GitError::Fenced {
            reason: "lost the leader lease".into()
        }
    );
    assert_eq!(err.category(), "fenced");
    assert!(!err.is_retryable());
    assert_eq!(
        asked.load(Ordering::SeqCst),
        1,
        "asked once, before the push"
    );
    assert_eq!(s.tip(), before);

    leading.store(true, Ordering::SeqCst);
    let c = committed(engine.promote(request_for(s.remote(), "blog")).await);
    // It lands on the same tip: the fenced attempt had pushed nothing.
    assert_eq!(c.parent.as_str(), before);
    assert_eq!(s.repo.commit_count("main").expect("count"), count + 1);
    assert_eq!(asked.load(Ordering::SeqCst), 2);
    assert!(s.promoted());
}

#[tokio::test]
async fn a_branch_rewound_between_fetch_and_push_is_not_fast_forwarded_over() {
    let s = setup();
    let base = s.tip();
    let bad = s
        .repo
        .commit_files("main", &[("docs/bad.md", "withdrawn\n")], "docs: bad")
        .expect("outside commit");
    // Right before the first push, a person withdraws `bad` (resets main to its parent). Our
    // commit, built on `bad`, would still be a fast-forward of the rewound branch.
    let rewound = Arc::new(AtomicBool::new(false));
    let engine = s.fenced(Fence::new({
        let (rewound, path) = (rewound.clone(), s.repo.path().to_owned());
        let base = base.clone();
        move || {
            if !rewound.swap(true, Ordering::SeqCst) {
                let status = promote_gitserver::git()
                    .arg("-C")
                    .arg(&path)
                    .args(["update-ref", "refs/heads/main", &base])
                    .status()
                    .map_err(|e| e.to_string())?;
                if !status.success() {
                    return Err("the test could not rewind main".to_owned());
                }
            }
            Ok(())
        }
    }));
    let c = committed(engine.promote(request_for(s.remote(), "blog")).await);
    assert!(rewound.load(Ordering::SeqCst));
    assert_eq!(c.attempts, 2, "the lease refused the first push");
    assert_eq!(c.parent.as_str(), base, "rebuilt on the rewound branch");
    let history = s.repo.commits("main").expect("log");
    assert!(
        !history.contains(&bad),
        "the withdrawn commit stays withdrawn"
    );
    assert_eq!(s.repo.read_file("main", "docs/bad.md").expect("read"), None);
    assert!(s.promoted());
}

#[tokio::test]
async fn an_outside_commit_landing_before_the_push_is_kept_and_built_on() {
    let s = setup();
    let landed = Arc::new(std::sync::Mutex::new(None::<String>));
    let engine = s.fenced(Fence::new({
        let (landed, path) = (landed.clone(), s.repo.path().to_owned());
        move || {
            let mut landed = landed.lock().map_err(|e| e.to_string())?;
            if landed.is_none() {
                let repo = promote_gitserver::BareRepo::open(&path);
                let id = repo
                    .commit_files("main", &[("docs/notes.md", "theirs\n")], "docs: notes")
                    .map_err(|e| e.to_string())?;
                *landed = Some(id);
            }
            Ok(())
        }
    }));
    let c = committed(engine.promote(request_for(s.remote(), "blog")).await);
    let theirs = landed
        .lock()
        .expect("lock")
        .clone()
        .expect("the outside commit landed");
    assert_eq!(c.attempts, 2);
    assert_eq!(c.parent.as_str(), theirs);
    assert_eq!(
        s.server_git(&["rev-parse", "main~1"]),
        theirs,
        "ours is on top of theirs"
    );
    assert_eq!(
        s.repo
            .read_file("main", "docs/notes.md")
            .expect("read")
            .as_deref(),
        Some("theirs\n")
    );
    assert!(s.promoted());
}
