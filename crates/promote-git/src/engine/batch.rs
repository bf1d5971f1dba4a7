//! The writer: one queue per repository and branch, batches that share a commit, and the
//! fetch → evaluate → commit → push loop that retries lost races on the new tip.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use git2::{Oid, Repository};
use tokio::sync::oneshot;
use tracing::{debug, info, info_span, warn};

use super::evaluate::{Eval, Prepared, describe, evaluate, last_change, prepare, signature};
use super::{Engine, EngineConfig, internal, lock};
use crate::GitError;
use crate::auth::RemoteSpec;
use crate::message::{self, Moved};
use crate::path::RepoPath;
use crate::request::{CommitId, Committed, Conflict, Identity, Outcome, PromotionRequest};
use crate::transport::{self, PushFailure};
use crate::tree;

/// The queue of promotions waiting for one repository and branch.
#[derive(Default)]
pub(super) struct Lane {
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

impl Engine {
    /// Promotes one request. Requests in this process for the same repository and branch never
    /// run at the same time; those that arrive while a commit for that branch is being built
    /// wait and then share the next commit.
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

    /// Promotes several requests for one repository and branch in one commit where possible;
    /// each request gets its own outcome, in order. Requests for other repositories or
    /// branches are run as their own batches.
    pub async fn promote_many(
        &self,
        requests: Vec<PromotionRequest>,
    ) -> Vec<Result<Outcome, GitError>> {
        let count = requests.len();
        match self
            .blocking(move |engine| Ok(engine.run_many(&requests)))
            .await
        {
            Ok(results) => results,
            Err(e) => (0..count).map(|_| Err(e.clone())).collect(),
        }
    }

    fn run_many(&self, requests: &[PromotionRequest]) -> Vec<Result<Outcome, GitError>> {
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
            let tip = match self.fetch_tip(repo, remote, branch) {
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
            let pushed = transport::push(repo, remote, branch, commit, tip);
            // Whatever the push did, the branch may have moved: the shared tip is stale.
            self.inner.heads.forget(remote, branch);
            match pushed {
                Ok(()) => {
                    done.extend(landed(
                        repo, branch, commit, tip, attempt, prepared, planned,
                    ));
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

/// Records a push that landed: the cached branch moves to `commit`, each planned request
/// learns its outcome.
fn landed(
    repo: &Repository,
    branch: &str,
    commit: Oid,
    tip: Oid,
    attempt: u32,
    prepared: &[(usize, Prepared<'_>)],
    planned: Vec<(usize, Vec<String>, Vec<String>)>,
) -> Vec<(usize, Result<Outcome, GitError>)> {
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
    planned
        .into_iter()
        .map(|(k, from, to)| {
            let committed = Committed {
                commit: CommitId::from_oid(commit),
                parent: CommitId::from_oid(tip),
                from,
                to,
                batch_size,
                attempts: attempt,
            };
            (prepared[k].0, Ok(Outcome::Committed(committed)))
        })
        .collect()
}

fn backoff(config: &EngineConfig, attempt: u32) -> Duration {
    let exp = config
        .backoff_base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let capped = exp.min(config.backoff_max);
    // Jitter between half and all of the delay, so competing writers spread out.
    capped.mul_f64(0.5 + fastrand::f64() * 0.5)
}
