//! Reads at a given commit, for callers that compare Git with what a deployer synced.

use git2::Oid;
use tracing::info_span;

use super::reads::read_values;
use super::{Engine, FileValues};
use crate::GitError;
use crate::auth::RemoteSpec;
use crate::path::RepoPath;
use crate::tree;

impl Engine {
    /// Reads `fields` of `file` at `commit`, which must already be in the cache (a commit the
    /// branch had when it was last fetched). Unless these credentials reached the remote within
    /// [`EngineConfig::head_ttl`](super::EngineConfig), the remote is asked first, so refused
    /// credentials fail before anything is read.
    pub async fn read_fields_at(
        &self,
        remote: &RemoteSpec,
        commit: &str,
        file: &str,
        fields: &[String],
    ) -> Result<FileValues, GitError> {
        let path = RepoPath::parse(file)?;
        let oid = parse_oid(commit)?;
        let (remote, commit, fields) = (remote.clone(), commit.to_owned(), fields.to_vec());
        self.blocking(move |engine| engine.read_at_commit(&remote, oid, &commit, &path, &fields))
            .await
    }

    fn read_at_commit(
        &self,
        remote: &RemoteSpec,
        oid: Oid,
        commit: &str,
        path: &RepoPath,
        fields: &[String],
    ) -> Result<FileValues, GitError> {
        self.vouch(remote, None)?;
        let name = remote.url.to_string();
        let max = self.inner.config.max_values_file;
        self.inner.cache.read(&remote.url, |repo| {
            let found = repo.find_commit(oid).map_err(|_| GitError::NotFound {
                repo: name.clone(),
                what: format!("commit {commit} (not fetched yet)"),
            })?;
            read_values(repo, &found, path, fields, &name, max)
        })
    }

    /// Whether `descendant` is `ancestor` or has it in its history, both commits being in the
    /// cache. A commit the cache has not seen yet is reported as not containing it. Vouched for
    /// like [`Engine::read_fields_at`].
    pub async fn contains(
        &self,
        remote: &RemoteSpec,
        descendant: &str,
        ancestor: &str,
    ) -> Result<bool, GitError> {
        let (descendant, ancestor) = (parse_oid(descendant)?, parse_oid(ancestor)?);
        let remote = remote.clone();
        self.blocking(move |engine| engine.descends(&remote, descendant, ancestor))
            .await
    }

    fn descends(
        &self,
        remote: &RemoteSpec,
        descendant: Oid,
        ancestor: Oid,
    ) -> Result<bool, GitError> {
        let _span = info_span!("contains", repo = %remote.url).entered();
        self.vouch(remote, None)?;
        if descendant == ancestor {
            return Ok(true);
        }
        let name = remote.url.to_string();
        self.inner.cache.read(&remote.url, |repo| {
            if repo.find_commit(descendant).is_err() || repo.find_commit(ancestor).is_err() {
                return Ok(false);
            }
            repo.graph_descendant_of(descendant, ancestor)
                .map_err(|e| tree::local(&name, &e))
        })
    }
}

pub(super) fn parse_oid(commit: &str) -> Result<Oid, GitError> {
    Oid::from_str(commit)
        .map_err(|_| GitError::InvalidRequest(format!("{commit:?} is not a commit id")))
}
