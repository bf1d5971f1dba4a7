//! Talking to the remote: head check, fetch, push, each under the engine's deadlines.

mod local;
mod session;

use git2::{
    AutotagOption, Direction, ErrorCode, FetchOptions, Oid, PushOptions, Remote, Repository,
};
use tracing::debug;

use crate::GitError;
use crate::auth::RemoteSpec;
use crate::deadline::Limits;

use session::Session;

/// The local ref that mirrors the remote branch in the bare cache.
pub(crate) fn tracking_ref(branch: &str) -> String {
    format!("refs/remotes/origin/{branch}")
}

fn remote_head_in(heads: &[git2::RemoteHead<'_>], branch: &str) -> Option<Oid> {
    let name = format!("refs/heads/{branch}");
    heads.iter().find(|h| h.name() == name).map(|h| h.oid())
}

/// libgit2 reports a missing local path as an unsupported protocol; say what it is.
fn check_local(spec: &RemoteSpec) -> Result<(), GitError> {
    match spec.url.local_path() {
        Some(path) if !path.is_dir() => Err(GitError::NotFound {
            repo: spec.url.to_string(),
            what: "repository".into(),
        }),
        _ => Ok(()),
    }
}

/// The branch's commit on the remote (`ls-remote`): one round trip, nothing downloaded.
/// Without a branch, only checks that the remote lets these credentials in.
pub(crate) fn remote_head(
    spec: &RemoteSpec,
    branch: Option<&str>,
    limits: Limits,
) -> Result<Option<Oid>, GitError> {
    check_local(spec)?;
    let session = Session::new(spec, limits);
    let mut remote = Remote::create_detached(spec.url.raw()).map_err(|e| session.classify(&e))?;
    let conn = remote
        .connect_auth(Direction::Fetch, Some(session.callbacks()), None)
        .map_err(|e| session.classify(&e))?;
    let heads = conn.list().map_err(|e| session.classify(&e))?;
    Ok(branch.and_then(|b| remote_head_in(heads, b)))
}

/// Brings the cache's tracking ref up to the remote branch, downloading only if it moved.
/// Returns the branch tip, or `None` when the remote has no such branch.
pub(crate) fn fetch(
    repo: &Repository,
    spec: &RemoteSpec,
    branch: &str,
    limits: Limits,
) -> Result<Option<Oid>, GitError> {
    check_local(spec)?;
    let session = Session::new(spec, limits);
    let mut remote = repo
        .remote_anonymous(spec.url.raw())
        .map_err(|e| session.classify(&e))?;
    let mut conn = remote
        .connect_auth(Direction::Fetch, Some(session.callbacks()), None)
        .map_err(|e| session.classify(&e))?;
    let heads = conn.list().map_err(|e| session.classify(&e))?;
    let Some(tip) = remote_head_in(heads, branch) else {
        return Ok(None);
    };
    let tracking = tracking_ref(branch);
    let local = repo.refname_to_id(&tracking).ok();
    if local != Some(tip) {
        if repo.find_commit(tip).is_err() {
            let refspec = format!("+refs/heads/{branch}:{tracking}");
            let mut opts = FetchOptions::new();
            opts.remote_callbacks(session.callbacks());
            opts.download_tags(AutotagOption::None);
            opts.update_fetchhead(false);
            conn.remote()
                .download(&[refspec.as_str()], Some(&mut opts))
                .map_err(|e| session.classify(&e))?;
        }
        repo.reference(&tracking, tip, true, "promote: fetch")
            .map_err(|e| session.classify(&e))?;
        debug!(repo = %spec.url, branch, tip = %tip, "fetched");
    }
    Ok(Some(tip))
}

/// Why a push did not land.
#[derive(Debug)]
pub(crate) enum PushFailure {
    /// The branch moved under us; fetch and rebuild.
    Race,
    /// Anything else; the error says whether to retry.
    Error(GitError),
}

/// Pushes `commit` (whose parent is `parent`, the fetched tip) to `refs/heads/<branch>`, never
/// forced, and only while the remote branch still is `parent` (a lease checked when the push
/// is negotiated, before anything is sent). A ref the server rejects is an error.
pub(crate) fn push(
    repo: &Repository,
    spec: &RemoteSpec,
    branch: &str,
    (commit, parent): (Oid, Oid),
    limits: Limits,
) -> Result<(), PushFailure> {
    if let Some(path) = spec.url.local_path() {
        return local::push_local(repo, spec, &path, branch, commit, parent);
    }
    let refname = format!("refs/heads/{branch}");
    let session = Session::new(spec, limits).with_lease(refname.clone(), parent);
    let mut remote = repo
        .remote_anonymous(spec.url.raw())
        .map_err(|e| PushFailure::Error(session.classify(&e)))?;
    let mut opts = PushOptions::new();
    opts.remote_callbacks(session.callbacks());
    let refspec = format!("{commit}:{refname}");
    if let Err(e) = remote.push(&[refspec.as_str()], Some(&mut opts)) {
        if session.seen.stale.get() || e.code() == ErrorCode::NotFastForward {
            return Err(PushFailure::Race);
        }
        return Err(PushFailure::Error(session.classify(&e)));
    }
    let rejected = session.seen.rejected.borrow().first().cloned();
    if let Some((_, reason)) = rejected {
        let lower = reason.to_ascii_lowercase();
        let race = [
            "non-fast-forward",
            "fetch first",
            "failed to update ref",
            "cannot lock ref",
            "failed to lock",
            "stale info",
            "incorrect old value",
        ];
        if race.iter().any(|r| lower.contains(r)) {
            return Err(PushFailure::Race);
        }
        let remote_text = session.seen.remote_text.borrow().trim().to_string();
        let detail = if remote_text.is_empty() {
            reason
        } else {
            format!("{reason} ({remote_text})")
        };
        return Err(PushFailure::Error(GitError::PushRejected {
            repo: spec.url.to_string(),
            branch: branch.to_string(),
            reason: spec.scrub(&detail),
        }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &std::path::Path, args: &[&str]) {
        let ok = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .status()
            .expect("git runs")
            .success();
        assert!(ok, "git {args:?}");
    }

    #[test]
    fn local_push_is_compare_and_swap_on_the_old_tip() {
        let dir = tempfile::tempdir().expect("tmp");
        let work = dir.path().join("work");
        let bare = dir.path().join("r.git");
        std::fs::create_dir(&work).expect("mkdir");
        git(&work, &["init", "-q", "-b", "main"]);
        std::fs::write(work.join("a"), "1").expect("write");
        git(&work, &["add", "a"]);
        git(&work, &["commit", "-q", "-m", "one"]);
        git(dir.path(), &["clone", "-q", "--bare", "work", "r.git"]);
        let spec = RemoteSpec::new(bare.to_str().expect("utf-8")).expect("url");
        let cache = Repository::init_bare(dir.path().join("cache")).expect("cache");
        let tip = fetch(&cache, &spec, "main", Limits::DEFAULT)
            .expect("fetch")
            .expect("branch");

        // Someone else moves the branch after our fetch.
        std::fs::write(work.join("b"), "2").expect("write");
        git(&work, &["add", "b"]);
        git(&work, &["commit", "-q", "-m", "two"]);
        git(
            &work,
            &["push", "-q", bare.to_str().expect("utf-8"), "main"],
        );

        let parent = cache.find_commit(tip).expect("tip");
        let sig = git2::Signature::now("p", "p@p").expect("sig");
        let ours = cache
            .commit(
                None,
                &sig,
                &sig,
                "ours",
                &parent.tree().expect("tree"),
                &[&parent],
            )
            .expect("commit");
        assert!(matches!(
            push(&cache, &spec, "main", (ours, tip), Limits::DEFAULT),
            Err(PushFailure::Race)
        ));
        let remote = Repository::open_bare(&bare).expect("open");
        let head = remote.refname_to_id("refs/heads/main").expect("main");
        assert_ne!(head, ours, "the other writer's commit is kept");
        assert_eq!(
            remote
                .find_commit(head)
                .expect("c")
                .summary()
                .ok()
                .flatten(),
            Some("two")
        );

        // On the new tip it lands.
        let tip = fetch(&cache, &spec, "main", Limits::DEFAULT)
            .expect("fetch")
            .expect("branch");
        let parent = cache.find_commit(tip).expect("tip");
        let ours = cache
            .commit(
                None,
                &sig,
                &sig,
                "ours",
                &parent.tree().expect("tree"),
                &[&parent],
            )
            .expect("commit");
        push(&cache, &spec, "main", (ours, tip), Limits::DEFAULT).expect("push");
        assert_eq!(remote.refname_to_id("refs/heads/main").expect("main"), ours);
    }
}
