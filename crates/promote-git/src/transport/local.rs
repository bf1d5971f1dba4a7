//! Pushing into a repository on this machine, with the same compare-and-swap as a server.

use git2::{ErrorCode, Oid, Repository};

use super::PushFailure;
use crate::GitError;
use crate::auth::RemoteSpec;

/// Pushes into a repository on this machine. libgit2's local transport moves the ref without
/// checking its old value, which could drop a concurrent writer's commit; here the objects are
/// copied as a pack and the ref is moved only if it still points at `parent` (the ref lock that
/// git itself uses makes this atomic).
pub(super) fn push_local(
    repo: &Repository,
    spec: &RemoteSpec,
    path: &std::path::Path,
    branch: &str,
    commit: Oid,
    parent: Oid,
) -> Result<(), PushFailure> {
    let name = spec.url.to_string();
    let local = |e: git2::Error| {
        PushFailure::Error(GitError::Git {
            repo: name.clone(),
            message: spec.scrub(e.message()),
        })
    };
    let target = Repository::open_ext(
        path,
        git2::RepositoryOpenFlags::NO_SEARCH,
        std::iter::empty::<&std::ffi::OsStr>(),
    )
    .map_err(|_| {
        PushFailure::Error(GitError::NotFound {
            repo: name.clone(),
            what: "repository".into(),
        })
    })?;
    let refname = format!("refs/heads/{branch}");
    if !target.is_bare()
        && let Ok(head) = target.find_reference("HEAD")
        && head.symbolic_target().ok().flatten() == Some(refname.as_str())
    {
        return Err(PushFailure::Error(GitError::PushRejected {
            repo: name.clone(),
            branch: branch.to_string(),
            reason: "the branch is checked out in a non-bare repository; push to a bare repository"
                .into(),
        }));
    }
    let mut walk = repo.revwalk().map_err(local)?;
    walk.push(commit).map_err(local)?;
    walk.hide(parent).map_err(local)?;
    let mut pack = repo.packbuilder().map_err(local)?;
    pack.insert_walk(&mut walk).map_err(local)?;
    let odb = target.odb().map_err(local)?;
    let mut writer = odb.packwriter().map_err(local)?;
    let mut write_error = None;
    pack.foreach(
        |chunk| match std::io::Write::write_all(&mut writer, chunk) {
            Ok(()) => true,
            Err(e) => {
                write_error = Some(e);
                false
            }
        },
    )
    .map_err(local)?;
    if let Some(e) = write_error {
        return Err(PushFailure::Error(GitError::Git {
            repo: name.clone(),
            message: format!("writing the pack failed: {e}"),
        }));
    }
    writer.commit().map_err(local)?;
    match target.reference_matching(&refname, commit, true, parent, "promote: push") {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.code(),
                ErrorCode::Modified | ErrorCode::Locked | ErrorCode::NotFound
            ) =>
        {
            Err(PushFailure::Race)
        }
        Err(e) => Err(local(e)),
    }
}
