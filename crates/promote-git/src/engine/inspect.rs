//! Reads at a given commit, for callers that compare Git with what a deployer synced.

use git2::Oid;
use tracing::info_span;

use super::{Engine, FileValues, blocking, read_values};
use crate::GitError;
use crate::auth::RemoteSpec;
use crate::path::RepoPath;
use crate::tree;

impl Engine {
    /// Reads `fields` of `file` at `commit`, which must already be in the cache (a commit the
    /// branch had when it was last fetched).
    pub fn read_fields_at_blocking(
        &self,
        remote: &RemoteSpec,
        commit: &str,
        file: &str,
        fields: &[String],
    ) -> Result<FileValues, GitError> {
        let path = RepoPath::parse(file)?;
        let name = remote.url.to_string();
        let oid = parse_oid(commit)?;
        self.inner.cache.with(&remote.url, |repo| {
            let found = repo.find_commit(oid).map_err(|_| GitError::NotFound {
                repo: name.clone(),
                what: format!("commit {commit} (not fetched yet)"),
            })?;
            read_values(repo, &found, &path, fields, &name)
        })
    }

    /// Async [`Engine::read_fields_at_blocking`].
    pub async fn read_fields_at(
        &self,
        remote: &RemoteSpec,
        commit: &str,
        file: &str,
        fields: &[String],
    ) -> Result<FileValues, GitError> {
        let (engine, remote, commit, file, fields) = (
            self.clone(),
            remote.clone(),
            commit.to_string(),
            file.to_string(),
            fields.to_vec(),
        );
        blocking(move || engine.read_fields_at_blocking(&remote, &commit, &file, &fields)).await
    }

    /// Whether `descendant` is `ancestor` or has it in its history, both commits being in the
    /// cache. A commit the cache has not seen yet is reported as not containing it.
    pub fn contains_blocking(
        &self,
        remote: &RemoteSpec,
        descendant: &str,
        ancestor: &str,
    ) -> Result<bool, GitError> {
        let _span = info_span!("contains", repo = %remote.url).entered();
        let (descendant, ancestor) = (parse_oid(descendant)?, parse_oid(ancestor)?);
        if descendant == ancestor {
            return Ok(true);
        }
        let name = remote.url.to_string();
        self.inner.cache.with(&remote.url, |repo| {
            if repo.find_commit(descendant).is_err() || repo.find_commit(ancestor).is_err() {
                return Ok(false);
            }
            repo.graph_descendant_of(descendant, ancestor)
                .map_err(|e| tree::local(&name, &e))
        })
    }

    /// Async [`Engine::contains_blocking`].
    pub async fn contains(
        &self,
        remote: &RemoteSpec,
        descendant: &str,
        ancestor: &str,
    ) -> Result<bool, GitError> {
        let (engine, remote, descendant, ancestor) = (
            self.clone(),
            remote.clone(),
            descendant.to_string(),
            ancestor.to_string(),
        );
        blocking(move || engine.contains_blocking(&remote, &descendant, &ancestor)).await
    }
}

fn parse_oid(commit: &str) -> Result<Oid, GitError> {
    Oid::from_str(commit)
        .map_err(|_| GitError::InvalidRequest(format!("{commit:?} is not a commit id")))
}
