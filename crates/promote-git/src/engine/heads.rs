//! Branch tips shared for a short while, so a burst of reads of one branch costs one check of
//! the remote, and a fetch only when the branch moved.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::info_span;

use super::{Engine, branch_not_found, check_branch, lock};
use crate::GitError;
use crate::auth::RemoteSpec;
use crate::request::CommitId;
use crate::transport;

/// A branch tip, with how it was learnt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tip {
    /// The branch's commit, present in the cache.
    pub commit: CommitId,
    /// What it took to learn it.
    pub check: HeadCheck,
}

/// How [`Engine::tip`] answered, so callers can count network operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeadCheck {
    /// From a check of the remote made within [`EngineConfig::head_ttl`](super::EngineConfig);
    /// no network.
    Shared,
    /// The remote was asked (`ls-remote`) and the cache already held its tip.
    Unchanged,
    /// The remote was asked, the branch had moved, and it was fetched.
    Fetched,
}

impl HeadCheck {
    /// A low-cardinality label for metrics: `shared`, `unchanged` or `fetched`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shared => "shared",
            Self::Unchanged => "unchanged",
            Self::Fetched => "fetched",
        }
    }
}

/// Keyed by the repository's cache key (URL without credentials) and the branch, so every
/// spec of one repository shares an entry whatever its credentials.
type HeadKey = (String, String);

fn key(remote: &RemoteSpec, branch: &str) -> HeadKey {
    (remote.url.cache_key(), branch.to_owned())
}

/// The tips seen per repository and branch.
#[derive(Default)]
pub(super) struct Heads {
    seen: Mutex<HashMap<HeadKey, Seen>>,
}

#[derive(Default)]
struct Seen {
    tip: Option<(Instant, CommitId)>,
    /// Bumped by every forget, so a check that overlapped a push or fetch does not record a
    /// tip from before it.
    generation: u64,
}

impl Heads {
    /// The tip checked less than `ttl` ago, or the generation a new check records under.
    fn lookup(&self, key: &HeadKey, ttl: Duration) -> Result<CommitId, u64> {
        let seen = lock(&self.seen);
        let Some(entry) = seen.get(key) else {
            return Err(0);
        };
        match &entry.tip {
            Some((at, commit)) if at.elapsed() < ttl => Ok(commit.clone()),
            _ => Err(entry.generation),
        }
    }

    /// Records a checked tip, unless the branch was forgotten since the check began.
    fn record(&self, key: HeadKey, generation: u64, commit: CommitId) {
        let mut seen = lock(&self.seen);
        let entry = seen.entry(key).or_default();
        if entry.generation == generation {
            entry.tip = Some((Instant::now(), commit));
        }
    }

    /// Forgets a branch's tip, after this process pushed to it or fetched it.
    pub(super) fn forget(&self, remote: &RemoteSpec, branch: &str) {
        let mut seen = lock(&self.seen);
        let entry = seen.entry(key(remote, branch)).or_default();
        entry.tip = None;
        entry.generation += 1;
    }
}

impl Engine {
    /// The branch tip, in the cache. Within [`EngineConfig::head_ttl`](super::EngineConfig) of
    /// the last check it answers without network; otherwise it asks the remote (`ls-remote`)
    /// and fetches only when the branch moved. A missing branch is [`GitError::NotFound`].
    pub async fn tip(&self, remote: &RemoteSpec, branch: &str) -> Result<Tip, GitError> {
        check_branch(branch)?;
        let key = key(remote, branch);
        let generation = match self.inner.heads.lookup(&key, self.inner.config.head_ttl) {
            Ok(commit) => {
                return Ok(Tip {
                    commit,
                    check: HeadCheck::Shared,
                });
            }
            Err(generation) => generation,
        };
        let (remote, branch) = (remote.clone(), branch.to_owned());
        self.blocking(move |engine| {
            let tip = engine.check_tip(&remote, &branch)?;
            engine
                .inner
                .heads
                .record(key, generation, tip.commit.clone());
            Ok(tip)
        })
        .await
    }

    /// Asks the remote for the tip and fetches when the cache does not hold it.
    fn check_tip(&self, remote: &RemoteSpec, branch: &str) -> Result<Tip, GitError> {
        let _span = info_span!("tip", repo = %remote.url, branch).entered();
        let head = transport::remote_head(remote, branch)?
            .ok_or_else(|| branch_not_found(remote, branch))?;
        self.inner.cache.with(&remote.url, |repo| {
            if repo.refname_to_id(&transport::tracking_ref(branch)).ok() == Some(head) {
                return Ok(Tip {
                    commit: CommitId::from_oid(head),
                    check: HeadCheck::Unchanged,
                });
            }
            // Not through `fetch_tip`: that forgets, and this check records what it fetched.
            let fetched = transport::fetch(repo, remote, branch)?
                .ok_or_else(|| branch_not_found(remote, branch))?;
            Ok(Tip {
                commit: CommitId::from_oid(fetched),
                check: HeadCheck::Fetched,
            })
        })
    }
}
