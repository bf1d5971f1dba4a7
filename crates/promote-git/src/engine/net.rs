//! The engine's network calls: each runs under the engine's deadlines, and each success is
//! remembered as a contact that vouches for later reads made with the same credentials.

use git2::{Oid, Repository};

use super::{Engine, branch_not_found};
use crate::GitError;
use crate::auth::RemoteSpec;
use crate::transport::{self, PushFailure};

impl Engine {
    /// `ls-remote`: the branch's commit on the remote (`None` for a missing branch, or when no
    /// branch is asked for).
    pub(super) fn ask_head(
        &self,
        remote: &RemoteSpec,
        branch: Option<&str>,
    ) -> Result<Option<Oid>, GitError> {
        let head = transport::remote_head(remote, branch, self.inner.limits)?;
        self.contacted(remote);
        Ok(head)
    }

    /// Fetches the branch into `repo`, keeping the shared tips (for a check that records what
    /// it fetched).
    pub(super) fn fetch_into(
        &self,
        repo: &Repository,
        remote: &RemoteSpec,
        branch: &str,
    ) -> Result<Option<Oid>, GitError> {
        let tip = transport::fetch(repo, remote, branch, self.inner.limits)?;
        self.contacted(remote);
        Ok(tip)
    }

    /// Fetches the branch into `repo` and returns its tip. The shared tips are forgotten, so
    /// [`Engine::tip`] checks the remote again instead of answering from before the fetch.
    pub(super) fn fetch_tip(
        &self,
        repo: &Repository,
        remote: &RemoteSpec,
        branch: &str,
    ) -> Result<Oid, GitError> {
        let fetched = self.fetch_into(repo, remote, branch);
        self.inner.heads.forget(remote, branch);
        fetched?.ok_or_else(|| branch_not_found(remote, branch))
    }

    /// Asks the fence, then pushes `commit` on `parent`. Whatever happens, the branch's shared
    /// tips are forgotten: the push may have moved it.
    pub(super) fn push(
        &self,
        repo: &Repository,
        remote: &RemoteSpec,
        branch: &str,
        (commit, parent): (Oid, Oid),
    ) -> Result<(), PushFailure> {
        if let Some(fence) = &self.inner.config.fence
            && let Err(reason) = fence.check()
        {
            return Err(PushFailure::Error(GitError::Fenced { reason }));
        }
        let pushed = transport::push(repo, remote, branch, (commit, parent), self.inner.limits);
        self.inner.heads.forget(remote, branch);
        if matches!(pushed, Ok(()) | Err(PushFailure::Race)) {
            self.contacted(remote);
        }
        pushed
    }

    fn contacted(&self, remote: &RemoteSpec) {
        self.inner
            .heads
            .contacted(remote, self.inner.config.head_ttl);
    }
}
