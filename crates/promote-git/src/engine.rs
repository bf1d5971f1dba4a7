//! The promotion engine: compare-and-swap commits built in memory on the branch tip, pushed
//! without force under a lease on the parent, retried on races, batched per repository, branch
//! and credentials.
//!
//! Every public method is async and runs its libgit2 work on tokio's blocking pool; the
//! synchronous implementations stay private to this module.

mod batch;
mod build;
mod evaluate;
mod files;
mod heads;
mod inspect;
mod log;
mod net;
mod preview;
mod reads;
mod recognise;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tracing::Instrument;

use crate::GitError;
use crate::access::AccessId;
use crate::auth::RemoteSpec;
use crate::cache::Cache;
use crate::deadline::Limits;
use crate::fence::Fence;
use crate::request::{CommitId, Identity};
use crate::url::RepoUrl;

pub use heads::{HeadCheck, Tip};
pub use preview::{Preview, PreviewChange};
pub use recognise::Recognition;

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
    /// How many commits are scanned to name the commit behind a conflict (the cap on that
    /// walk; a change further back is reported without a name).
    pub history_depth: usize,
    /// How long [`Engine::tip`] answers from its last check of a branch without asking the
    /// remote again; zero checks every time. Also how long a successful contact with the remote
    /// vouches for reads from the cache made with the same credentials.
    pub head_ttl: Duration,
    /// Longest wait for a TCP connection to the remote. libgit2 keeps socket timeouts per
    /// process: the first engine created sets them for all (see [`EngineConfig::io_timeout`]).
    pub connect_timeout: Duration,
    /// Longest a socket read or write may make no progress before the operation is aborted
    /// (HTTP(S) and SSH). Per process, like [`EngineConfig::connect_timeout`]; an engine
    /// created later with other values keeps the first ones and logs a warning.
    pub io_timeout: Duration,
    /// Longest one network operation (a head check, a fetch or a push) may take in all, even
    /// while bytes keep trickling in; checked whenever libgit2 reports progress.
    pub operation_timeout: Duration,
    /// Send `Expect: 100-continue` on smart HTTP(S) POSTs, so each body follows the server's
    /// `100 Continue` instead of waiting out a delayed ACK (40 to 200 ms per request with
    /// libgit2's HTTP client). Turn it off only for a server or proxy that never answers it:
    /// every POST would then wait for [`EngineConfig::io_timeout`] and fail. Per process, like
    /// [`EngineConfig::connect_timeout`].
    pub http_expect_continue: bool,
    /// Called right before every push; `Err` stops the push (see [`Fence`]).
    pub fence: Option<Fence>,
    /// Largest values file read, in bytes; a larger one is refused before it is parsed.
    pub max_values_file: usize,
    /// Loose objects (the commits this engine builds) are packed after this many write uses
    /// of a cache; zero never packs.
    pub pack_loose_every: u32,
}

impl EngineConfig {
    /// Defaults: committer `Promote <promote@localhost>`, 8 attempts, 50 ms to 2 s backoff,
    /// batches of up to 100, 500 commits of history for conflict reports, branch tips shared
    /// for 2 s, 10 s to connect, 60 s without progress, 10 min per operation, `Expect:
    /// 100-continue` on HTTP POSTs, no fence, values files up to 1 MiB, loose objects packed
    /// every 50 write uses of a cache.
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
            connect_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(60),
            operation_timeout: Duration::from_secs(600),
            http_expect_continue: true,
            fence: None,
            max_values_file: 1024 * 1024,
            pack_loose_every: 50,
        }
    }

    fn limits(&self) -> Limits {
        Limits {
            connect: self.connect_timeout,
            io: self.io_timeout,
            operation: self.operation_timeout,
            expect_continue: self.http_expect_continue,
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
    /// The deadlines in force (libgit2's socket timeouts are per process).
    limits: Limits,
    cache: Cache,
    lanes: Mutex<HashMap<LaneKey, Arc<batch::Lane>>>,
    heads: heads::Heads,
}

/// One writer per repository, branch, access and signing key: requests made with different
/// credentials never share a commit or a push, nor do requests signed by different keys.
type LaneKey = (String, String, AccessId, Option<String>);

fn lane_key(remote: &RemoteSpec, branch: &str) -> LaneKey {
    let signer = remote.signing.as_ref().map(|k| k.identity().to_owned());
    (
        remote.url.cache_key(),
        branch.to_owned(),
        remote.access(),
        signer,
    )
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded data are queues and tips seen; a panic elsewhere leaves neither inconsistent.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Engine {
    /// Creates the engine and its cache directory.
    pub fn new(config: EngineConfig) -> Result<Self, GitError> {
        let cache = Cache::new(config.cache_dir.clone(), config.pack_loose_every)?;
        let limits = config.limits().effective();
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                limits,
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

    /// Removes the bare caches of every repository not in `keep` (caches on disk from an
    /// earlier run included) and returns how many were removed. Operations on kept
    /// repositories go on undisturbed; a removed repository's cache is created again if it is
    /// used later.
    pub async fn retain_caches<'a>(
        &self,
        keep: impl IntoIterator<Item = &'a RepoUrl>,
    ) -> Result<usize, GitError> {
        let keep: HashSet<String> = keep.into_iter().map(RepoUrl::cache_key).collect();
        self.blocking(move |engine| engine.inner.cache.retain(&keep))
            .await
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
