//! What a promotion would change, worked out on the newest branch tip without writing:
//! the same evaluation a push makes, so `kubectl promote diff` shows exactly the edit the
//! operator would commit.

use std::collections::BTreeMap;

use tracing::info_span;

use super::Engine;
use super::evaluate::{Eval, Read, evaluate, prepare};
use crate::GitError;
use crate::request::{CommitId, PromotionRequest, Side};
use crate::tree;

/// What a promotion would do at a branch tip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// The tip the preview was worked out on.
    pub tip: CommitId,
    /// The target file.
    pub file: String,
    /// What would happen.
    pub change: PreviewChange,
}

/// The outcome a promotion would have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreviewChange {
    /// The target already holds these values; nothing would be committed.
    InSync(Vec<String>),
    /// The target file would change from `before` to `after`.
    Edit {
        /// The target's values now, one per field.
        from: Vec<String>,
        /// The values it would get.
        to: Vec<String>,
        /// The file now.
        before: Vec<u8>,
        /// The file after the edit.
        after: Vec<u8>,
    },
    /// An expected value is not what the branch holds; nothing would be committed.
    Conflict {
        /// Which side differs.
        side: Side,
        /// The file that differs.
        file: String,
        /// The first field that differs.
        field: String,
        /// The value expected.
        expected: String,
        /// The value on the branch.
        found: String,
    },
}

impl Engine {
    /// Fetches the branch and works out what `request` would commit on its tip, writing
    /// nothing (no commit, no push; only the cache is updated).
    pub async fn preview(&self, request: PromotionRequest) -> Result<Preview, GitError> {
        self.blocking(move |engine| {
            let _span = info_span!("preview", repo = %request.remote.url, branch = %request.branch)
                .entered();
            let (remote, branch) = (&request.remote, request.branch.as_str());
            let prepared = prepare(&request, remote, branch)?;
            let name = remote.url.to_string();
            let tip = engine
                .inner
                .cache
                .with(&remote.url, |repo| engine.fetch_tip(repo, remote, branch))?;
            let max = engine.inner.config.max_values_file;
            engine.inner.cache.read(&remote.url, |repo| {
                let local = |e: git2::Error| tree::local(&name, &e);
                let commit = repo.find_commit(tip).map_err(local)?;
                let root = commit.tree().map_err(local)?;
                let read = Read {
                    repo,
                    root: &root,
                    name: &name,
                    max,
                };
                let change = match evaluate(
                    &read,
                    &BTreeMap::new(),
                    &prepared,
                    request.expect_target.as_deref(),
                )? {
                    Eval::InSync(values) => PreviewChange::InSync(values),
                    Eval::Edit {
                        from, to, content, ..
                    } => PreviewChange::Edit {
                        from,
                        to,
                        before: read.file(&prepared.target)?.0,
                        after: content,
                    },
                    Eval::Conflict {
                        side,
                        file,
                        field,
                        expected,
                        found,
                    } => PreviewChange::Conflict {
                        side,
                        file: file.to_string(),
                        field,
                        expected,
                        found,
                    },
                };
                Ok(Preview {
                    tip: CommitId::from_oid(tip),
                    file: prepared.target.to_string(),
                    change,
                })
            })
        })
        .await
    }
}
