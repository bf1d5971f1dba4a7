//! The promotion engine: compare-and-swap commits built in memory on the branch tip, pushed
//! without force, retried on races, batched per repository and branch.

mod inspect;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use git2::{Oid, Repository, Signature, Sort, Tree};
use tokio::sync::oneshot;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::GitError;
use crate::auth::RemoteSpec;
use crate::cache::Cache;
use crate::message::{self, Moved, TrailerQuery};
use crate::path::RepoPath;
use crate::request::{
    ChangeInfo, CommitId, Committed, Conflict, Identity, Outcome, PromotionRequest, Side, Source,
};
use crate::transport::{self, PushFailure};
use crate::tree;

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
}

impl EngineConfig {
    /// Defaults: committer `Promote <promote@localhost>`, 8 attempts, 50 ms to 2 s backoff,
    /// batches of up to 100, 500 commits of history for conflict reports.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        Self {
            cache_dir: cache_dir.into(),
            committer: Identity::new("Promote", "promote@localhost"),
            max_attempts: 8,
            backoff_base: Duration::from_millis(50),
            backoff_max: Duration::from_secs(2),
            max_batch: 100,
            history_depth: 500,
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

/// The Git engine. Cheap to clone; all clones share the caches and the per-branch writers.
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
    lanes: Mutex<HashMap<(String, String), Arc<Lane>>>,
}

/// The queue of promotions waiting for one repository and branch.
#[derive(Default)]
struct Lane {
    state: Mutex<LaneState>,
}

#[derive(Default)]
struct LaneState {
    queue: VecDeque<Job>,
    running: bool,
}

struct Job {
    request: PromotionRequest,
    reply: oneshot::Sender<Result<Outcome, GitError>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded data is a queue; a panic elsewhere does not leave it inconsistent.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A request with its paths validated.
struct Prepared<'r> {
    request: &'r PromotionRequest,
    source: Option<RepoPath>,
    target: RepoPath,
}

enum Eval {
    InSync(Vec<String>),
    Conflict {
        side: Side,
        file: RepoPath,
        field: String,
        expected: String,
        found: String,
    },
    Edit {
        from: Vec<String>,
        to: Vec<String>,
        content: Vec<u8>,
        mode: i32,
    },
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
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Promotes, blocking the thread. Requests in this process for the same repository and
    /// branch never run at the same time.
    pub fn promote_blocking(&self, request: PromotionRequest) -> Result<Outcome, GitError> {
        self.run_batch(std::slice::from_ref(&request))
            .pop()
            .unwrap_or_else(|| Err(internal("no outcome")))
    }

    /// Promotes several requests for one repository and branch in one commit where possible;
    /// each request gets its own outcome. Requests for other repositories or branches are run
    /// as their own batches.
    pub fn promote_many_blocking(
        &self,
        requests: Vec<PromotionRequest>,
    ) -> Vec<Result<Outcome, GitError>> {
        let mut groups: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
        for (i, r) in requests.iter().enumerate() {
            groups
                .entry((r.remote.url.cache_key(), r.branch.clone()))
                .or_default()
                .push(i);
        }
        let mut results: Vec<Option<Result<Outcome, GitError>>> =
            requests.iter().map(|_| None).collect();
        for indices in groups.into_values() {
            for chunk in indices.chunks(self.inner.config.max_batch.max(1)) {
                let batch: Vec<PromotionRequest> =
                    chunk.iter().map(|&i| requests[i].clone()).collect();
                for (&i, r) in chunk.iter().zip(self.run_batch(&batch)) {
                    results[i] = Some(r);
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(internal("no outcome"))))
            .collect()
    }

    /// Promotes without blocking the async runtime. Requests that arrive while a commit for the
    /// same repository and branch is being built wait and then share the next commit.
    pub async fn promote(&self, request: PromotionRequest) -> Result<Outcome, GitError> {
        let key = (request.remote.url.cache_key(), request.branch.clone());
        let lane = lock(&self.inner.lanes).entry(key).or_default().clone();
        let (reply, outcome) = oneshot::channel();
        let start = {
            let mut state = lock(&lane.state);
            state.queue.push_back(Job { request, reply });
            !std::mem::replace(&mut state.running, true)
        };
        if start {
            let engine = self.clone();
            tokio::task::spawn_blocking(move || engine.drain(&lane));
        }
        outcome
            .await
            .map_err(|_| internal("the promotion worker stopped before answering"))?
    }

    /// Runs queued jobs until the lane is empty.
    fn drain(&self, lane: &Lane) {
        // If a batch panics, fail the waiting callers and let the next request start a worker.
        struct Reset<'a>(&'a Lane);
        impl Drop for Reset<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    let mut state = lock(&self.0.state);
                    state.queue.clear();
                    state.running = false;
                }
            }
        }
        let _reset = Reset(lane);
        loop {
            let jobs: Vec<Job> = {
                let mut state = lock(&lane.state);
                if state.queue.is_empty() {
                    state.running = false;
                    return;
                }
                let n = state.queue.len().min(self.inner.config.max_batch.max(1));
                state.queue.drain(..n).collect()
            };
            let (requests, replies): (Vec<_>, Vec<_>) =
                jobs.into_iter().map(|j| (j.request, j.reply)).unzip();
            for (reply, result) in replies.into_iter().zip(self.run_batch(&requests)) {
                // The caller may have gone away; its outcome is then only in the logs.
                let _ = reply.send(result);
            }
        }
    }

    /// The branch's commit on the remote, without fetching (`git ls-remote`). `None` when the
    /// branch does not exist.
    pub fn remote_head_blocking(
        &self,
        remote: &RemoteSpec,
        branch: &str,
    ) -> Result<Option<CommitId>, GitError> {
        check_branch(branch)?;
        let _span = info_span!("remote_head", repo = %remote.url, branch).entered();
        Ok(transport::remote_head(remote, branch)?.map(CommitId::from_oid))
    }

    /// Async [`Engine::remote_head_blocking`].
    pub async fn remote_head(
        &self,
        remote: &RemoteSpec,
        branch: &str,
    ) -> Result<Option<CommitId>, GitError> {
        let (engine, remote, branch) = (self.clone(), remote.clone(), branch.to_string());
        blocking(move || engine.remote_head_blocking(&remote, &branch)).await
    }

    /// The branch tip in the cache, if it has been fetched.
    pub fn cached_head_blocking(
        &self,
        remote: &RemoteSpec,
        branch: &str,
    ) -> Result<Option<CommitId>, GitError> {
        check_branch(branch)?;
        self.inner.cache.with(&remote.url, |repo| {
            Ok(repo
                .refname_to_id(&transport::tracking_ref(branch))
                .ok()
                .map(CommitId::from_oid))
        })
    }

    /// Fetches the branch into the cache (downloading only what is new) and returns its tip.
    pub fn refresh_blocking(
        &self,
        remote: &RemoteSpec,
        branch: &str,
    ) -> Result<CommitId, GitError> {
        check_branch(branch)?;
        let _span = info_span!("refresh", repo = %remote.url, branch).entered();
        self.inner.cache.with(&remote.url, |repo| {
            fetch_tip(repo, remote, branch).map(CommitId::from_oid)
        })
    }

    /// Async [`Engine::refresh_blocking`].
    pub async fn refresh(&self, remote: &RemoteSpec, branch: &str) -> Result<CommitId, GitError> {
        let (engine, remote, branch) = (self.clone(), remote.clone(), branch.to_string());
        blocking(move || engine.refresh_blocking(&remote, &branch)).await
    }

    /// Reads `fields` of `file` at the cached branch tip (fetching first only when the cache has
    /// never seen the branch).
    pub fn read_fields_blocking(
        &self,
        remote: &RemoteSpec,
        branch: &str,
        file: &str,
        fields: &[String],
    ) -> Result<FileValues, GitError> {
        check_branch(branch)?;
        let path = RepoPath::parse(file)?;
        let name = remote.url.to_string();
        self.inner.cache.with(&remote.url, |repo| {
            let tip = match repo.refname_to_id(&transport::tracking_ref(branch)) {
                Ok(oid) => oid,
                Err(_) => fetch_tip(repo, remote, branch)?,
            };
            let commit = repo.find_commit(tip).map_err(|e| tree::local(&name, &e))?;
            read_values(repo, &commit, &path, fields, &name)
        })
    }

    /// Async [`Engine::read_fields_blocking`].
    pub async fn read_fields(
        &self,
        remote: &RemoteSpec,
        branch: &str,
        file: &str,
        fields: &[String],
    ) -> Result<FileValues, GitError> {
        let (engine, remote, branch, file, fields) = (
            self.clone(),
            remote.clone(),
            branch.to_string(),
            file.to_string(),
            fields.to_vec(),
        );
        blocking(move || engine.read_fields_blocking(&remote, &branch, &file, &fields)).await
    }

    /// Fetches the branch, then scans its newest `limit` commits for one whose trailers match
    /// (one promotion's group must hold every pair). Lets a restarted operator recognise a
    /// commit it pushed before it could record the outcome.
    pub fn find_commit_blocking(
        &self,
        remote: &RemoteSpec,
        branch: &str,
        query: &TrailerQuery,
        limit: usize,
    ) -> Result<Option<FoundCommit>, GitError> {
        check_branch(branch)?;
        let _span = info_span!("find_commit", repo = %remote.url, branch).entered();
        let name = remote.url.to_string();
        self.inner.cache.with(&remote.url, |repo| {
            let tip = fetch_tip(repo, remote, branch)?;
            let mut walk = repo.revwalk().map_err(|e| tree::local(&name, &e))?;
            walk.set_sorting(Sort::TIME)
                .map_err(|e| tree::local(&name, &e))?;
            walk.push(tip).map_err(|e| tree::local(&name, &e))?;
            for oid in walk.take(limit) {
                let oid = oid.map_err(|e| tree::local(&name, &e))?;
                let commit = repo.find_commit(oid).map_err(|e| tree::local(&name, &e))?;
                let text = String::from_utf8_lossy(commit.message_bytes());
                if let Some(trailers) = query.find_in(&text) {
                    let summary = text.lines().next().unwrap_or_default().to_string();
                    return Ok(Some(FoundCommit {
                        commit: CommitId::from_oid(oid),
                        summary,
                        trailers,
                    }));
                }
            }
            Ok(None)
        })
    }

    /// Async [`Engine::find_commit_blocking`].
    pub async fn find_commit(
        &self,
        remote: &RemoteSpec,
        branch: &str,
        query: &TrailerQuery,
        limit: usize,
    ) -> Result<Option<FoundCommit>, GitError> {
        let (engine, remote, branch, query) = (
            self.clone(),
            remote.clone(),
            branch.to_string(),
            query.clone(),
        );
        blocking(move || engine.find_commit_blocking(&remote, &branch, &query, limit)).await
    }

    /// Runs one batch: all requests must name the same repository and branch.
    fn run_batch(&self, requests: &[PromotionRequest]) -> Vec<Result<Outcome, GitError>> {
        let Some(first) = requests.first() else {
            return Vec::new();
        };
        let remote = &first.remote;
        let branch = first.branch.as_str();
        let span = info_span!("promote", repo = %remote.url, branch, batch = requests.len());
        let _entered = span.enter();
        let mut results: Vec<Option<Result<Outcome, GitError>>> =
            requests.iter().map(|_| None).collect();
        let mut prepared: Vec<(usize, Prepared<'_>)> = Vec::new();
        for (i, request) in requests.iter().enumerate() {
            match prepare(request, remote, branch) {
                Ok(p) => prepared.push((i, p)),
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        if !prepared.is_empty() {
            let outcome = self.inner.cache.with(&remote.url, |repo| {
                Ok(self.attempts(repo, remote, branch, &prepared))
            });
            match outcome {
                Ok(done) => {
                    for (i, r) in done {
                        results[i] = Some(r);
                    }
                }
                Err(e) => {
                    for (i, _) in &prepared {
                        results[*i] = Some(Err(e.clone()));
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(internal("no outcome"))))
            .collect()
    }

    /// Fetch, evaluate, commit, push; on a lost race, again on the new tip.
    fn attempts(
        &self,
        repo: &Repository,
        remote: &RemoteSpec,
        branch: &str,
        prepared: &[(usize, Prepared<'_>)],
    ) -> Vec<(usize, Result<Outcome, GitError>)> {
        let config = &self.inner.config;
        let name = remote.url.to_string();
        let mut done: Vec<(usize, Result<Outcome, GitError>)> = Vec::new();
        let mut pending: Vec<usize> = (0..prepared.len()).collect();
        let mut expectations: Vec<Option<Vec<String>>> = prepared
            .iter()
            .map(|(_, p)| p.request.expect_target.clone())
            .collect();
        let max_attempts = config.max_attempts.max(1);
        for attempt in 1..=max_attempts {
            let fail_all = |pending: &[usize], e: GitError| {
                pending
                    .iter()
                    .map(|&k| (prepared[k].0, Err(e.clone())))
                    .collect::<Vec<_>>()
            };
            let tip = match fetch_tip(repo, remote, branch) {
                Ok(tip) => tip,
                Err(e) => {
                    done.extend(fail_all(&pending, e));
                    return done;
                }
            };
            let built = self.build(
                repo,
                remote,
                tip,
                prepared,
                &pending,
                &mut expectations,
                attempt == 1,
            );
            let (commit, planned) = match built {
                Ok(Built {
                    finished,
                    planned,
                    commit,
                }) => {
                    done.extend(finished);
                    match commit {
                        Some(c) => (c, planned),
                        None => return done,
                    }
                }
                Err(e) => {
                    done.extend(fail_all(&pending, e));
                    return done;
                }
            };
            pending = planned.iter().map(|p| p.0).collect();
            match transport::push(repo, remote, branch, commit, tip) {
                Ok(()) => {
                    if let Err(e) = repo.reference(
                        &transport::tracking_ref(branch),
                        commit,
                        true,
                        "promote: push",
                    ) {
                        // The next fetch corrects the tracking ref; the push itself landed.
                        warn!(error = %e.message(), "could not update the cached branch after pushing");
                    }
                    info!(commit = %commit, parent = %tip, promotions = planned.len(), attempt, "pushed promotion commit");
                    let batch_size = planned.len();
                    for (k, from, to) in planned {
                        let committed = Committed {
                            commit: CommitId::from_oid(commit),
                            parent: CommitId::from_oid(tip),
                            from,
                            to,
                            batch_size,
                            attempts: attempt,
                        };
                        done.push((prepared[k].0, Ok(Outcome::Committed(committed))));
                    }
                    return done;
                }
                Err(PushFailure::Race) => {
                    let delay = backoff(config, attempt);
                    debug!(
                        attempt,
                        delay_ms = delay.as_millis() as u64,
                        "branch moved while pushing; retrying on the new tip"
                    );
                    if attempt < max_attempts {
                        std::thread::sleep(delay);
                    }
                }
                Err(PushFailure::Error(e)) => {
                    warn!(category = e.category(), error = %e, "push failed");
                    done.extend(fail_all(&pending, e));
                    return done;
                }
            }
        }
        let e = GitError::NonFastForward {
            repo: name,
            branch: branch.to_string(),
            attempts: max_attempts,
        };
        done.extend(pending.iter().map(|&k| (prepared[k].0, Err(e.clone()))));
        done
    }

    /// Evaluates the pending requests on `tip` and writes the commit (not yet pushed).
    #[allow(clippy::too_many_arguments)]
    fn build(
        &self,
        repo: &Repository,
        remote: &RemoteSpec,
        tip: Oid,
        prepared: &[(usize, Prepared<'_>)],
        pending: &[usize],
        expectations: &mut [Option<Vec<String>>],
        first_attempt: bool,
    ) -> Result<Built, GitError> {
        let name = remote.url.to_string();
        let local = |e: git2::Error| tree::local(&name, &e);
        let tip_commit = repo.find_commit(tip).map_err(local)?;
        let root = tip_commit.tree().map_err(local)?;
        let mut overlay: BTreeMap<RepoPath, (Vec<u8>, i32)> = BTreeMap::new();
        let mut finished = Vec::new();
        let mut planned: Vec<(usize, Vec<String>, Vec<String>)> = Vec::new();
        let mut moved: Vec<Moved> = Vec::new();
        for &k in pending {
            let (index, p) = &prepared[k];
            let evaluated = evaluate(repo, &root, &overlay, p, expectations[k].as_deref(), &name);
            if first_attempt
                && expectations[k].is_none()
                && let Ok(Eval::Edit { from, .. }) = &evaluated
            {
                // The decision is made on what this first read saw; retries compare with it.
                expectations[k] = Some(from.clone());
            }
            match evaluated {
                Ok(Eval::InSync(values)) => finished.push((
                    *index,
                    Ok(Outcome::InSync {
                        commit: CommitId::from_oid(tip),
                        values,
                    }),
                )),
                Ok(Eval::Conflict {
                    side,
                    file,
                    field,
                    expected,
                    found,
                }) => {
                    let changed_by =
                        last_change(repo, tip, &file, &field, self.inner.config.history_depth);
                    info!(promotion = %p.request.promotion, ?side, file = %file, field, expected, found, "conflict: value changed since the decision");
                    let conflict = Conflict {
                        side,
                        file: file.to_string(),
                        field,
                        expected,
                        found,
                        tip: CommitId::from_oid(tip),
                        changed_by,
                    };
                    finished.push((*index, Ok(Outcome::Conflict(conflict))));
                }
                Ok(Eval::Edit {
                    from,
                    to,
                    content,
                    mode,
                }) => {
                    moved.push(describe(p, &from, &to));
                    overlay.insert(p.target.clone(), (content, mode));
                    planned.push((k, from, to));
                }
                Err(e) => finished.push((*index, Err(e))),
            }
        }
        if planned.is_empty() {
            return Ok(Built {
                finished,
                planned,
                commit: None,
            });
        }
        let mut edits = Vec::with_capacity(overlay.len());
        for (path, (content, mode)) in overlay {
            let oid = repo.blob(&content).map_err(local)?;
            edits.push((path, oid, mode));
        }
        let new_tree_oid = tree::write(repo, &root, &edits, &name)?;
        let new_tree = repo.find_tree(new_tree_oid).map_err(local)?;
        let committer = signature(&self.inner.config.committer, &name)?;
        let authors: Vec<&Identity> = planned
            .iter()
            .filter_map(|(k, ..)| prepared[*k].1.request.author.as_ref())
            .collect();
        let author = match authors.first() {
            Some(a) if authors.len() == planned.len() && authors.iter().all(|b| b == a) => {
                signature(a, &name)?
            }
            _ => committer.clone(),
        };
        let text = message::render(&moved);
        let commit = repo
            .commit(None, &author, &committer, &text, &new_tree, &[&tip_commit])
            .map_err(local)?;
        Ok(Built {
            finished,
            planned,
            commit: Some(commit),
        })
    }
}

struct Built {
    finished: Vec<(usize, Result<Outcome, GitError>)>,
    planned: Vec<(usize, Vec<String>, Vec<String>)>,
    commit: Option<Oid>,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, GitError> + Send + 'static,
) -> Result<T, GitError> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f))
        .instrument(tracing::Span::none())
        .await
        .map_err(|_| internal("a blocking git task stopped"))?
}

fn internal(what: &str) -> GitError {
    GitError::Git {
        repo: "(engine)".to_string(),
        message: what.to_string(),
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

fn prepare<'r>(
    request: &'r PromotionRequest,
    remote: &RemoteSpec,
    branch: &str,
) -> Result<Prepared<'r>, GitError> {
    if request.remote.url != remote.url || request.branch != branch {
        return Err(internal("a batch mixed repositories or branches"));
    }
    check_branch(branch)?;
    let target = RepoPath::parse(&request.target.file)?;
    let fields = request.target.fields.len();
    if fields == 0 {
        return Err(GitError::InvalidRequest("no fields to promote".into()));
    }
    if request.source.len() != fields {
        return Err(GitError::InvalidRequest(format!(
            "the source has {} fields or values but the target has {fields}",
            request.source.len()
        )));
    }
    let mut unique = request.target.fields.clone();
    unique.sort();
    unique.dedup();
    if unique.len() != fields {
        return Err(GitError::InvalidRequest(
            "a target field is named twice".into(),
        ));
    }
    if request
        .expect_target
        .as_ref()
        .is_some_and(|e| e.len() != fields)
    {
        return Err(GitError::InvalidRequest(
            "expected target values must match the target fields one to one".into(),
        ));
    }
    let source = match &request.source {
        Source::File { file, expect, .. } => {
            if expect.as_ref().is_some_and(|e| e.len() != fields) {
                return Err(GitError::InvalidRequest(
                    "expected source values must match the source fields one to one".into(),
                ));
            }
            Some(RepoPath::parse(file)?)
        }
        Source::Values { .. } => None,
    };
    if request.promotion.trim().is_empty() {
        return Err(GitError::InvalidRequest("the promotion has no name".into()));
    }
    Ok(Prepared {
        request,
        source,
        target,
    })
}

/// Reads `fields` of the file at `path` in `commit`.
fn read_values(
    repo: &Repository,
    commit: &git2::Commit<'_>,
    path: &RepoPath,
    fields: &[String],
    name: &str,
) -> Result<FileValues, GitError> {
    let root = commit.tree().map_err(|e| tree::local(name, &e))?;
    let (content, _) = tree::read(repo, &root, path, name)?;
    let values = fields
        .iter()
        .map(|f| get_value(path, &content, f))
        .collect::<Result<_, _>>()?;
    Ok(FileValues {
        commit: CommitId::from_oid(commit.id()),
        values,
    })
}

fn get_value(path: &RepoPath, content: &[u8], field: &str) -> Result<String, GitError> {
    promote_values::get(path.as_str(), content, field).map_err(|e| values_error(path, &e))
}

fn values_error(path: &RepoPath, e: &promote_values::ValuesError) -> GitError {
    GitError::InvalidValues {
        path: path.to_string(),
        message: format!("{}: {}", e.path, e.kind),
    }
}

fn read_through(
    repo: &Repository,
    root: &Tree<'_>,
    overlay: &BTreeMap<RepoPath, (Vec<u8>, i32)>,
    path: &RepoPath,
    name: &str,
) -> Result<(Vec<u8>, i32), GitError> {
    match overlay.get(path) {
        Some((content, mode)) => Ok((content.clone(), *mode)),
        None => tree::read(repo, root, path, name),
    }
}

/// Decides one request on one tree: in sync, conflict, or the edited target file.
fn evaluate(
    repo: &Repository,
    root: &Tree<'_>,
    overlay: &BTreeMap<RepoPath, (Vec<u8>, i32)>,
    p: &Prepared<'_>,
    expect_target: Option<&[String]>,
    name: &str,
) -> Result<Eval, GitError> {
    let request = p.request;
    let wanted: Vec<String> = match (&request.source, &p.source) {
        (Source::File { fields, expect, .. }, Some(path)) => {
            let (content, _) = read_through(repo, root, overlay, path, name)?;
            let values: Vec<String> = fields
                .iter()
                .map(|f| get_value(path, &content, f))
                .collect::<Result<_, _>>()?;
            if let Some(expect) = expect
                && let Some(i) = (0..values.len()).find(|&i| values[i] != expect[i])
            {
                return Ok(Eval::Conflict {
                    side: Side::Source,
                    file: path.clone(),
                    field: fields[i].clone(),
                    expected: expect[i].clone(),
                    found: values[i].clone(),
                });
            }
            values
        }
        (Source::Values { values, .. }, _) => values.clone(),
        (Source::File { .. }, None) => return Err(internal("source path missing")),
    };
    let (content, mode) = read_through(repo, root, overlay, &p.target, name)?;
    let fields = &request.target.fields;
    let current: Vec<String> = fields
        .iter()
        .map(|f| get_value(&p.target, &content, f))
        .collect::<Result<_, _>>()?;
    if current == wanted {
        return Ok(Eval::InSync(current));
    }
    if let Some(expect) = expect_target
        && let Some(i) = (0..current.len()).find(|&i| current[i] != expect[i])
    {
        return Ok(Eval::Conflict {
            side: Side::Target,
            file: p.target.clone(),
            field: fields[i].clone(),
            expected: expect[i].clone(),
            found: current[i].clone(),
        });
    }
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(String::as_str)
        .zip(wanted.iter().map(String::as_str))
        .collect();
    let edits = promote_values::set_many(p.target.as_str(), &content, &pairs)
        .map_err(|e| values_error(&p.target, &e))?;
    if !edits.changed {
        return Ok(Eval::InSync(current));
    }
    Ok(Eval::Edit {
        from: current,
        to: wanted,
        content: edits.content,
        mode,
    })
}

fn describe(p: &Prepared<'_>, from: &[String], to: &[String]) -> Moved {
    let request = p.request;
    let dir_name = |path: &RepoPath| {
        let c = path.components();
        if c.len() >= 2 {
            c[c.len() - 2].clone()
        } else {
            path.to_string()
        }
    };
    let (source, source_env) = match (&request.source, &p.source) {
        (Source::File { environment, .. }, Some(path)) => (
            path.to_string(),
            environment.clone().unwrap_or_else(|| dir_name(path)),
        ),
        (Source::Values { label, .. }, _) => (label.clone(), label.clone()),
        (Source::File { .. }, None) => (String::new(), String::new()),
    };
    Moved {
        promotion: request.promotion.clone(),
        app: request
            .app
            .clone()
            .unwrap_or_else(|| p.target.stem().to_string()),
        source,
        source_env,
        target: p.target.to_string(),
        target_env: request
            .target
            .environment
            .clone()
            .unwrap_or_else(|| dir_name(&p.target)),
        fields: request
            .target
            .fields
            .iter()
            .zip(from.iter().zip(to))
            .map(|(f, (a, b))| (f.clone(), a.clone(), b.clone()))
            .collect(),
        approved_by: request.approved_by.clone(),
        note: request.note.clone(),
    }
}

fn signature(who: &Identity, name: &str) -> Result<Signature<'static>, GitError> {
    let clean = |s: &str| {
        s.chars()
            .filter(|c| !c.is_control() && *c != '<' && *c != '>')
            .collect::<String>()
    };
    Signature::now(clean(&who.name).trim(), clean(&who.email).trim()).map_err(|e| {
        GitError::InvalidRequest(format!(
            "invalid commit identity for {name}: {}",
            e.message()
        ))
    })
}

fn fetch_tip(repo: &Repository, remote: &RemoteSpec, branch: &str) -> Result<Oid, GitError> {
    transport::fetch(repo, remote, branch)?.ok_or_else(|| GitError::NotFound {
        repo: remote.url.to_string(),
        what: format!("branch {branch}"),
    })
}

/// The newest commit (first-parent history from `tip`) that changed `field` of `file`.
fn last_change(
    repo: &Repository,
    tip: Oid,
    file: &RepoPath,
    field: &str,
    depth: usize,
) -> Option<ChangeInfo> {
    let value_at = |commit: &git2::Commit<'_>| -> Option<String> {
        let root = commit.tree().ok()?;
        let (content, _) = tree::read(repo, &root, file, "").ok()?;
        promote_values::get(file.as_str(), &content, field).ok()
    };
    let mut commit = repo.find_commit(tip).ok()?;
    let mut value = value_at(&commit);
    for _ in 0..depth {
        let changed_here = match commit.parent(0) {
            Ok(parent) => {
                let before = value_at(&parent);
                if before != value {
                    true
                } else {
                    commit = parent;
                    value = before;
                    false
                }
            }
            Err(_) => true,
        };
        if changed_here {
            return Some(ChangeInfo {
                commit: CommitId::from_oid(commit.id()),
                author: String::from_utf8_lossy(commit.author().name_bytes()).into_owned(),
                summary: commit
                    .summary()
                    .ok()
                    .flatten()
                    .unwrap_or_default()
                    .to_string(),
            });
        }
    }
    None
}

fn backoff(config: &EngineConfig, attempt: u32) -> Duration {
    let exp = config
        .backoff_base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let capped = exp.min(config.backoff_max);
    // Jitter between half and all of the delay, so competing writers spread out.
    capped.mul_f64(0.5 + fastrand::f64() * 0.5)
}
