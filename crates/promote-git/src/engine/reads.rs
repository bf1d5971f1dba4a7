//! Reads at the branch tip: the remote's head, a fetch, values, and commits found by trailers.

use git2::{Repository, Sort};
use tracing::info_span;

use super::evaluate::{self, Read, get_value};
use super::{Engine, FileValues, FoundCommit, check_branch};
use crate::GitError;
use crate::auth::RemoteSpec;
use crate::message::TrailerQuery;
use crate::path::RepoPath;
use crate::request::{ChangeInfo, ChangeLog, CommitId};
use crate::{transport, tree};

impl Engine {
    /// The branch's commit on the remote, without fetching (`git ls-remote`). `None` when the
    /// branch does not exist.
    pub async fn remote_head(
        &self,
        remote: &RemoteSpec,
        branch: &str,
    ) -> Result<Option<CommitId>, GitError> {
        check_branch(branch)?;
        let (remote, branch) = (remote.clone(), branch.to_owned());
        self.blocking(move |engine| {
            let _span = info_span!("remote_head", repo = %remote.url, branch).entered();
            Ok(engine
                .ask_head(&remote, Some(&branch))?
                .map(CommitId::from_oid))
        })
        .await
    }

    /// Fetches the branch into the cache (downloading only what is new) and returns its tip.
    pub async fn refresh(&self, remote: &RemoteSpec, branch: &str) -> Result<CommitId, GitError> {
        check_branch(branch)?;
        let (remote, branch) = (remote.clone(), branch.to_owned());
        self.blocking(move |engine| {
            let _span = info_span!("refresh", repo = %remote.url, branch).entered();
            engine.inner.cache.with(&remote.url, |repo| {
                engine
                    .fetch_tip(repo, &remote, &branch)
                    .map(CommitId::from_oid)
            })
        })
        .await
    }

    /// Reads `fields` of `file` at the branch tip. Unless these credentials reached the remote
    /// within [`EngineConfig::head_ttl`](super::EngineConfig), the tip is checked first (so
    /// refused credentials fail before anything is read); the cache is fetched when it has
    /// never seen the branch.
    pub async fn read_fields(
        &self,
        remote: &RemoteSpec,
        branch: &str,
        file: &str,
        fields: &[String],
    ) -> Result<FileValues, GitError> {
        check_branch(branch)?;
        let path = RepoPath::parse(file)?;
        let (remote, branch, fields) = (remote.clone(), branch.to_owned(), fields.to_vec());
        self.blocking(move |engine| engine.read_at_tip(&remote, &branch, &path, &fields))
            .await
    }

    fn read_at_tip(
        &self,
        remote: &RemoteSpec,
        branch: &str,
        path: &RepoPath,
        fields: &[String],
    ) -> Result<FileValues, GitError> {
        self.vouch(remote, Some(branch))?;
        let name = remote.url.to_string();
        let tracking = transport::tracking_ref(branch);
        let cached = self
            .inner
            .cache
            .read(&remote.url, |repo| Ok(repo.refname_to_id(&tracking).ok()))?;
        let tip = match cached {
            Some(oid) => oid,
            None => self
                .inner
                .cache
                .with(&remote.url, |repo| self.fetch_tip(repo, remote, branch))?,
        };
        let max = self.inner.config.max_values_file;
        self.inner.cache.read(&remote.url, |repo| {
            let commit = repo.find_commit(tip).map_err(|e| tree::local(&name, &e))?;
            read_values(repo, &commit, path, fields, &name, max)
        })
    }

    /// The newest commit on the cached branch tip that changed `field` of `file` (at most
    /// `EngineConfig::history_depth` commits back), so a lane can say who changed a value
    /// and in which commit. None when no such commit is within reach.
    pub async fn last_change(
        &self,
        remote: &RemoteSpec,
        branch: &str,
        file: &str,
        field: &str,
    ) -> Result<Option<ChangeInfo>, GitError> {
        check_branch(branch)?;
        let path = RepoPath::parse(file)?;
        let (remote, branch, field) = (remote.clone(), branch.to_owned(), field.to_owned());
        self.blocking(move |engine| {
            engine.vouch(&remote, Some(&branch))?;
            let name = remote.url.to_string();
            let tracking = transport::tracking_ref(&branch);
            let (max, depth) = (
                engine.inner.config.max_values_file,
                engine.inner.config.history_depth,
            );
            engine.inner.cache.read(&remote.url, |repo| {
                let Ok(tip) = repo.refname_to_id(&tracking) else {
                    return Ok(None);
                };
                at_commit(repo, tip, &name, max, |read| {
                    evaluate::last_change(read, tip, &path, &field, depth)
                })
            })
        })
        .await
    }

    /// The commits that changed `field` of `file` in the first-parent history of `at`, newest
    /// first, back to the one that changed it away from `since` (a promotion's release notes:
    /// what happened in the source between the target's version and the promoted one). At most
    /// `limit`, searching `EngineConfig::history_depth` commits; `complete` is false when the
    /// change from `since` was not reached.
    pub async fn changes_since(
        &self,
        remote: &RemoteSpec,
        at: &str,
        file: &str,
        field: &str,
        since: &str,
        limit: usize,
    ) -> Result<ChangeLog, GitError> {
        let path = RepoPath::parse(file)?;
        let oid = git2::Oid::from_str(at)
            .map_err(|_| GitError::InvalidRequest(format!("{at:?} is not a commit id")))?;
        let (remote, field, since) = (remote.clone(), field.to_owned(), since.to_owned());
        self.blocking(move |engine| {
            let name = remote.url.to_string();
            let depth = engine.inner.config.history_depth;
            let max = engine.inner.config.max_values_file;
            engine.inner.cache.read(&remote.url, |repo| {
                let (changes, complete) = at_commit(repo, oid, &name, max, |read| {
                    evaluate::changes_since(read, oid, &path, &field, &since, depth, limit)
                })?;
                Ok(ChangeLog { changes, complete })
            })
        })
        .await
    }

    /// Fetches the branch, then scans its newest `limit` commits for one whose trailers match
    /// (one promotion's group must hold every pair). Lets a restarted operator recognise a
    /// commit it pushed before it could record the outcome; [`Engine::find_commit_since`]
    /// also says when the answer cannot be known.
    pub async fn find_commit(
        &self,
        remote: &RemoteSpec,
        branch: &str,
        query: &TrailerQuery,
        limit: usize,
    ) -> Result<Option<FoundCommit>, GitError> {
        check_branch(branch)?;
        let (remote, branch, query) = (remote.clone(), branch.to_owned(), query.clone());
        self.blocking(move |engine| engine.scan_for_commit(&remote, &branch, &query, limit))
            .await
    }

    fn scan_for_commit(
        &self,
        remote: &RemoteSpec,
        branch: &str,
        query: &TrailerQuery,
        limit: usize,
    ) -> Result<Option<FoundCommit>, GitError> {
        let _span = info_span!("find_commit", repo = %remote.url, branch).entered();
        let name = remote.url.to_string();
        let local = |e: git2::Error| tree::local(&name, &e);
        let tip = self
            .inner
            .cache
            .with(&remote.url, |repo| self.fetch_tip(repo, remote, branch))?;
        self.inner.cache.read(&remote.url, |repo| {
            let mut walk = repo.revwalk().map_err(local)?;
            walk.set_sorting(Sort::TIME).map_err(local)?;
            walk.push(tip).map_err(local)?;
            for oid in walk.take(limit) {
                let commit = repo.find_commit(oid.map_err(local)?).map_err(local)?;
                if let Some(found) = matching(&commit, query) {
                    return Ok(Some(found));
                }
            }
            Ok(None)
        })
    }
}

/// The commit as a [`FoundCommit`] when its trailers match `query`.
pub(super) fn matching(commit: &git2::Commit<'_>, query: &TrailerQuery) -> Option<FoundCommit> {
    let text = String::from_utf8_lossy(commit.message_bytes());
    let trailers = query.find_in(&text)?;
    Some(FoundCommit {
        commit: CommitId::from_oid(commit.id()),
        summary: text.lines().next().unwrap_or_default().to_string(),
        trailers,
    })
}

/// Reads `fields` of the file at `path` in `commit`.
pub(super) fn read_values(
    repo: &Repository,
    commit: &git2::Commit<'_>,
    path: &RepoPath,
    fields: &[String],
    name: &str,
    max: usize,
) -> Result<FileValues, GitError> {
    let root = commit.tree().map_err(|e| tree::local(name, &e))?;
    let (content, _) = tree::read(repo, &root, path, name, max)?;
    let values = fields
        .iter()
        .map(|f| get_value(path, &content, f))
        .collect::<Result<_, _>>()?;
    Ok(FileValues {
        commit: CommitId::from_oid(commit.id()),
        values,
    })
}

/// Runs `f` on a reader of the tree of `commit`.
fn at_commit<T>(
    repo: &Repository,
    commit: git2::Oid,
    name: &str,
    max: usize,
    f: impl FnOnce(&Read<'_>) -> T,
) -> Result<T, GitError> {
    let commit = repo
        .find_commit(commit)
        .map_err(|e| tree::local(name, &e))?;
    let root = commit.tree().map_err(|e| tree::local(name, &e))?;
    Ok(f(&Read {
        repo,
        root: &root,
        name,
        max,
    }))
}
