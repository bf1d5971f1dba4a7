//! Recognising a commit of ours among those that landed after a known base: found, surely
//! absent, or impossible to tell (the branch was rewritten, or the history is too long).

use git2::{Oid, Repository, Sort};
use tracing::info_span;

use super::inspect::parse_oid;
use super::reads::matching;
use super::{Engine, FoundCommit, check_branch};
use crate::GitError;
use crate::auth::RemoteSpec;
use crate::message::TrailerQuery;
use crate::tree;

/// What [`Engine::find_commit_since`] learnt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recognition {
    /// A commit after the base carries the trailers.
    Found(FoundCommit),
    /// Every commit after the base was read, and none carries them.
    Absent,
    /// It cannot be told: the base is not in the branch's history (the branch was rewritten),
    /// or more than the limit of commits came after it. Says which.
    Undecided(String),
}

impl Engine {
    /// Fetches the branch, then looks for a commit whose trailers match `query` among the
    /// commits after `base` (reachable from the tip, not from `base`), newest first, reading at
    /// most `limit` of them. Unlike [`Engine::find_commit`], a miss is only [`Recognition::Absent`]
    /// when every commit since `base` was read.
    pub async fn find_commit_since(
        &self,
        remote: &RemoteSpec,
        branch: &str,
        base: &str,
        query: &TrailerQuery,
        limit: usize,
    ) -> Result<Recognition, GitError> {
        check_branch(branch)?;
        let base = parse_oid(base)?;
        let (remote, branch, query) = (remote.clone(), branch.to_owned(), query.clone());
        self.blocking(move |engine| {
            let _span = info_span!("find_commit_since", repo = %remote.url, branch).entered();
            let tip = engine
                .inner
                .cache
                .with(&remote.url, |repo| engine.fetch_tip(repo, &remote, &branch))?;
            let name = remote.url.to_string();
            engine.inner.cache.read(&remote.url, |repo| {
                since(repo, tip, base, &query, limit, &name)
            })
        })
        .await
    }
}

fn since(
    repo: &Repository,
    tip: Oid,
    base: Oid,
    query: &TrailerQuery,
    limit: usize,
    name: &str,
) -> Result<Recognition, GitError> {
    let local = |e: git2::Error| tree::local(name, &e);
    let rewritten = || {
        Recognition::Undecided(format!(
            "commit {base} is not in the history of the branch (it was rewritten)"
        ))
    };
    if tip != base {
        if repo.find_commit(base).is_err() {
            return Ok(rewritten());
        }
        if !repo.graph_descendant_of(tip, base).map_err(local)? {
            return Ok(rewritten());
        }
    }
    let mut walk = repo.revwalk().map_err(local)?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)
        .map_err(local)?;
    walk.push(tip).map_err(local)?;
    walk.hide(base).map_err(local)?;
    for (read, oid) in walk.enumerate() {
        if read == limit {
            return Ok(Recognition::Undecided(format!(
                "more than {limit} commits landed after {base}"
            )));
        }
        let commit = repo.find_commit(oid.map_err(local)?).map_err(local)?;
        if let Some(found) = matching(&commit, query) {
            return Ok(Recognition::Found(found));
        }
    }
    Ok(Recognition::Absent)
}
