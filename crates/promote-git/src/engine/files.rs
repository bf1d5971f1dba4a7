//! Whole files at a commit: the environments' configuration files a lane compares.

use super::Engine;
use super::inspect::parse_oid;
use crate::GitError;
use crate::auth::RemoteSpec;
use crate::path::RepoPath;
use crate::tree;

impl Engine {
    /// The text of `file` at `commit` in the cache (a commit this engine read the branch
    /// at). Unless these credentials reached the remote within the head TTL, the remote is
    /// contacted first, so a lane never reads what only another lane's credentials fetched.
    /// Files over the engine's values-file limit, and files that are not UTF-8, are refused.
    pub async fn read_file_at(
        &self,
        remote: &RemoteSpec,
        commit: &str,
        file: &str,
    ) -> Result<String, GitError> {
        let path = RepoPath::parse(file)?;
        let oid = parse_oid(commit)?;
        let remote = remote.clone();
        self.blocking(move |engine| {
            engine.vouch(&remote, None)?;
            let name = remote.url.to_string();
            let max = engine.inner.config.max_values_file;
            let bytes = engine.inner.cache.read(&remote.url, |repo| {
                let commit = repo.find_commit(oid).map_err(|e| tree::local(&name, &e))?;
                let root = commit.tree().map_err(|e| tree::local(&name, &e))?;
                tree::read(repo, &root, &path, &name, max).map(|(content, _)| content)
            })?;
            String::from_utf8(bytes).map_err(|_| GitError::InvalidValues {
                path: path.to_string(),
                message: "the file is not UTF-8 text".to_owned(),
            })
        })
        .await
    }

    /// Whether each of `files` is the same at commit `to` as at commit `from` (the same blob,
    /// or missing at both), both commits already in the cache: what a lane reads from a branch
    /// that moved, without reading any content. Only object ids are compared and nothing is
    /// returned but the verdict, so, unlike [`Engine::read_file_at`], the remote is not
    /// contacted first. A path that cannot be a values file counts as changed.
    pub async fn files_unchanged(
        &self,
        remote: &RemoteSpec,
        from: &str,
        to: &str,
        files: &[String],
    ) -> Result<Vec<bool>, GitError> {
        let (from, to) = (parse_oid(from)?, parse_oid(to)?);
        let paths: Vec<Option<RepoPath>> = files.iter().map(|f| RepoPath::parse(f).ok()).collect();
        let remote = remote.clone();
        self.blocking(move |engine| {
            let name = remote.url.to_string();
            engine.inner.cache.read(&remote.url, |repo| {
                let root = |oid| {
                    repo.find_commit(oid)
                        .and_then(|c| c.tree())
                        .map_err(|e| tree::local(&name, &e))
                };
                let (before, after) = (root(from)?, root(to)?);
                let id = |root: &git2::Tree<'_>, path: &RepoPath| {
                    tree::lookup(repo, root, path, &name).map(|e| e.map(|e| e.oid))
                };
                Ok(paths
                    .iter()
                    .map(|path| {
                        path.as_ref()
                            .is_some_and(|p| match (id(&before, p), id(&after, p)) {
                                (Ok(a), Ok(b)) => a == b,
                                _ => false,
                            })
                    })
                    .collect())
            })
        })
        .await
    }
}
