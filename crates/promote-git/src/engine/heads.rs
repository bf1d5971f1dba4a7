//! Branch tips shared for a short while, so a burst of reads of one branch costs one check of
//! the remote, and a fetch only when the branch moved; and the recent contacts that vouch for
//! reads from the cache.
//!
//! Both are kept per access (credentials and host keys): a lane never gets an answer that was
//! learnt with another lane's credentials.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::info_span;

use super::{Engine, branch_not_found, check_branch, lock};
use crate::GitError;
use crate::access::AccessId;
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
    /// From a check of the remote made within [`EngineConfig::head_ttl`](super::EngineConfig)
    /// with the same credentials; no network.
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

/// The repository's cache key (URL without credentials) and the branch.
type BranchKey = (String, String);

fn branch_key(remote: &RemoteSpec, branch: &str) -> BranchKey {
    (remote.url.cache_key(), branch.to_owned())
}

/// The tips seen per repository, branch and access, and the last successful contact per
/// repository and access.
#[derive(Default)]
pub(super) struct Heads {
    branches: Mutex<HashMap<BranchKey, Branch>>,
    contacts: Mutex<HashMap<(String, AccessId), Instant>>,
}

#[derive(Default)]
struct Branch {
    /// Bumped by every forget, so a check that overlapped a push or fetch does not record a
    /// tip from before it.
    generation: u64,
    tips: HashMap<AccessId, (Instant, CommitId)>,
}

impl Heads {
    /// The tip this access checked less than `ttl` ago, or the generation a new check records
    /// under.
    fn lookup(&self, remote: &RemoteSpec, branch: &str, ttl: Duration) -> Result<CommitId, u64> {
        let branches = lock(&self.branches);
        let Some(entry) = branches.get(&branch_key(remote, branch)) else {
            return Err(0);
        };
        match entry.tips.get(&remote.access()) {
            Some((at, commit)) if at.elapsed() < ttl => Ok(commit.clone()),
            _ => Err(entry.generation),
        }
    }

    /// Records a checked tip, unless the branch was forgotten since the check began. Tips
    /// older than `ttl` are dropped on the way, so the map stays as small as the lanes.
    fn record(
        &self,
        remote: &RemoteSpec,
        branch: &str,
        generation: u64,
        commit: CommitId,
        ttl: Duration,
    ) {
        let mut branches = lock(&self.branches);
        let entry = branches.entry(branch_key(remote, branch)).or_default();
        if entry.generation == generation {
            entry.tips.retain(|_, (at, _)| at.elapsed() < ttl);
            entry.tips.insert(remote.access(), (Instant::now(), commit));
        }
    }

    /// Forgets a branch's tips (for every access), after this process pushed to it or
    /// fetched it.
    pub(super) fn forget(&self, remote: &RemoteSpec, branch: &str) {
        let mut branches = lock(&self.branches);
        let entry = branches.entry(branch_key(remote, branch)).or_default();
        entry.tips.clear();
        entry.generation += 1;
    }

    /// Notes that this access just reached the remote and was let in.
    pub(super) fn contacted(&self, remote: &RemoteSpec, ttl: Duration) {
        let mut contacts = lock(&self.contacts);
        contacts.retain(|_, at| at.elapsed() < ttl);
        contacts.insert((remote.url.cache_key(), remote.access()), Instant::now());
    }

    /// Whether this access reached the remote less than `ttl` ago.
    fn vouched(&self, remote: &RemoteSpec, ttl: Duration) -> bool {
        lock(&self.contacts)
            .get(&(remote.url.cache_key(), remote.access()))
            .is_some_and(|at| at.elapsed() < ttl)
    }
}

impl Engine {
    /// The branch tip, in the cache. Within [`EngineConfig::head_ttl`](super::EngineConfig) of
    /// the last check made with the same credentials it answers without network; otherwise it
    /// asks the remote (`ls-remote`) and fetches only when the branch moved. A missing branch is
    /// [`GitError::NotFound`].
    pub async fn tip(&self, remote: &RemoteSpec, branch: &str) -> Result<Tip, GitError> {
        check_branch(branch)?;
        let ttl = self.inner.config.head_ttl;
        if let Ok(commit) = self.inner.heads.lookup(remote, branch, ttl) {
            return Ok(Tip {
                commit,
                check: HeadCheck::Shared,
            });
        }
        let (remote, branch) = (remote.clone(), branch.to_owned());
        self.blocking(move |engine| engine.tip_now(&remote, &branch))
            .await
    }

    /// [`Engine::tip`] on the calling thread.
    pub(super) fn tip_now(&self, remote: &RemoteSpec, branch: &str) -> Result<Tip, GitError> {
        let ttl = self.inner.config.head_ttl;
        let generation = match self.inner.heads.lookup(remote, branch, ttl) {
            Ok(commit) => {
                return Ok(Tip {
                    commit,
                    check: HeadCheck::Shared,
                });
            }
            Err(generation) => generation,
        };
        let tip = self.check_tip(remote, branch)?;
        self.inner
            .heads
            .record(remote, branch, generation, tip.commit.clone(), ttl);
        Ok(tip)
    }

    /// Asks the remote for the tip and fetches when the cache does not hold it.
    fn check_tip(&self, remote: &RemoteSpec, branch: &str) -> Result<Tip, GitError> {
        let _span = info_span!("tip", repo = %remote.url, branch).entered();
        let head = self
            .ask_head(remote, Some(branch))?
            .ok_or_else(|| branch_not_found(remote, branch))?;
        let tracking = transport::tracking_ref(branch);
        let cached = self
            .inner
            .cache
            .read(&remote.url, |repo| Ok(repo.refname_to_id(&tracking).ok()))?;
        if cached == Some(head) {
            return Ok(Tip {
                commit: CommitId::from_oid(head),
                check: HeadCheck::Unchanged,
            });
        }
        self.inner.cache.with(&remote.url, |repo| {
            // Not through `fetch_tip`: that forgets, and this check records what it fetched.
            let fetched = self
                .fetch_into(repo, remote, branch)?
                .ok_or_else(|| branch_not_found(remote, branch))?;
            Ok(Tip {
                commit: CommitId::from_oid(fetched),
                check: HeadCheck::Fetched,
            })
        })
    }

    /// Makes sure these credentials reached the remote within the head TTL before anything is
    /// read from the shared cache for them: with a branch, by checking its tip; without, by
    /// listing the remote's refs. Credentials the server refuses fail here, before any read.
    pub(super) fn vouch(&self, remote: &RemoteSpec, branch: Option<&str>) -> Result<(), GitError> {
        if self.inner.heads.vouched(remote, self.inner.config.head_ttl) {
            return Ok(());
        }
        match branch {
            Some(branch) => self.tip_now(remote, branch).map(|_| ()),
            None => self.ask_head(remote, None).map(|_| ()),
        }
    }
}
