//! The promotion engine: compare-and-swap commits built in memory on the branch tip, pushed
//! without force, retried on races, batched per repository and branch.
//!
//! Every public method is async and runs its libgit2 work on tokio's blocking pool; the
//! synchronous implementations stay private to this module.

mod batch;
mod evaluate;
mod heads;
mod inspect;
mod reads;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use git2::{Oid, Repository};
use tracing::Instrument;

use crate::GitError;
use crate::auth::RemoteSpec;
use crate::cache::Cache;
use crate::request::{CommitId, Identity};
use crate::transport;

pub use heads::{HeadCheck, Tip};

/// How the engine behaves; [`EngineConfig::new`] gives sensible defaults.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where the bare repository caches live.
    pub cache_dir: PathBuf,
    /// The committer of every commit (and the author when a request names none).
    pub committer: Identity,
    /// Push attempts per batch before giving up with a retryable `NonFastForward`.
    pub max_attempts: u32,
    /// First backoff after a lost race; doubled each time, with jitter.
    pub backoff_base: Duration,
    /// Longest backoff.
    pub backoff_max: Duration,
    /// Most promotions that share one commit.
    pub max_batch: usize,
    /// How many commits are scanned to name the commit behind a conflict.
    pub history_depth: usize,
    /// How long [`Engine::tip`] answers from its last check of a branch without asking the
    /// remote again; zero checks every time.
    pub head_ttl: Duration,
}

impl EngineConfig {
    /// Defaults: committer `Promote <promote@localhost>`, 8 attempts, 50 ms to 2 s backoff,
    /// batches of up to 100, 500 commits of history for conflict reports, branch tips shared
    /// for 2 s.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        Self {
            cache_dir: cache_dir.into(),
            committer: Identity::new("Promote", "promote@localhost"),
            max_attempts: 8,
            backoff_base: Duration::from_millis(50),
            backoff_max: Duration::from_secs(2),
            max_batch: 100,
            history_depth: 500,
            head_ttl: Duration::from_secs(2),
        }
    }
}

/// A commit found by its trailers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundCommit {
    /// The commit.
    pub commit: CommitId,
    /// Its subject line.
    pub summary: String,
    /// The matching promotion's trailers.
    pub trailers: Vec<(String, String)>,
}

/// Values read from one file at one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileValues {
    /// The commit read.
    pub commit: CommitId,
    /// One value per requested field.
    pub values: Vec<String>,
}

/// The Git engine. Cheap to clone; all clones share the caches, the per-branch writers and
/// the branch tips seen on remotes.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("cache_dir", &self.inner.cache.root())
            .finish()
    }
}

struct Inner {
    config: EngineConfig,
    cache: Cache,
    lanes: Mutex<HashMap<(String, String), Arc<batch::Lane>>>,
    heads: heads::Heads,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded data are queues and tips seen; a panic elsewhere leaves neither inconsistent.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Engine {
    /// Creates the engine and its cache directory.
    pub fn new(config: EngineConfig) -> Result<Self, GitError> {
        let cache = Cache::new(config.cache_dir.clone())?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                cache,
                lanes: Mutex::new(HashMap::new()),
                heads: heads::Heads::default(),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Runs `f` on tokio's blocking pool, inside the caller's span.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine) -> Result<T, GitError> + Send + 'static,
    ) -> Result<T, GitError> {
        let span = tracing::Span::current();
        let engine = self.clone();
        tokio::task::spawn_blocking(move || span.in_scope(|| f(&engine)))
            .instrument(tracing::Span::none())
            .await
            .map_err(|_| internal("a blocking git task stopped"))?
    }

    /// Fetches the branch into `repo` and returns its tip. The shared tip is forgotten, so
    /// [`Engine::tip`] checks the remote again instead of answering from before the fetch.
    fn fetch_tip(
        &self,
        repo: &Repository,
        remote: &RemoteSpec,
        branch: &str,
    ) -> Result<Oid, GitError> {
        let fetched = transport::fetch(repo, remote, branch);
        self.inner.heads.forget(remote, branch);
        fetched?.ok_or_else(|| branch_not_found(remote, branch))
    }
}

fn internal(what: &str) -> GitError {
    GitError::Git {
        repo: "(engine)".to_string(),
        message: what.to_string(),
    }
}

fn branch_not_found(remote: &RemoteSpec, branch: &str) -> GitError {
    GitError::NotFound {
        repo: remote.url.to_string(),
        what: format!("branch {branch}"),
    }
}

fn check_branch(branch: &str) -> Result<(), GitError> {
    if branch.is_empty() || !git2::Reference::is_valid_name(&format!("refs/heads/{branch}")) {
        return Err(GitError::InvalidRequest(format!(
            "{branch:?} is not a valid branch name"
        )));
    }
    Ok(())
}
