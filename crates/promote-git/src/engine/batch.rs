//! The writer: one queue per repository, branch and access, batches that share a commit, and
//! the fetch → evaluate → commit → push loop that retries lost races on the new tip and splits
//! a batch the server declines.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use git2::Repository;
use tokio::sync::oneshot;
use tracing::{debug, info_span, warn};

use super::build::{Built, landed};
use super::evaluate::{Prepared, prepare};
use super::{Engine, EngineConfig, LaneKey, internal, lane_key, lock};
use crate::GitError;
use crate::auth::RemoteSpec;
use crate::request::{Outcome, PromotionRequest};
use crate::transport::PushFailure;

/// Most pushes of one batch the server may decline while the batch is split to find the
/// requests it refuses; past that, the requests not settled yet get the server's refusal
/// (a branch that refuses every push should not cost a push per request).
const MAX_DECLINED_PUSHES: usize = 16;

/// The queue of promotions waiting for one repository, branch and access.
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
    /// wait and then share the next commit, if they use the same credentials (requests with
    /// other credentials get commits, fetches and pushes of their own).
    pub async fn promote(&self, request: PromotionRequest) -> Result<Outcome, GitError> {
        let key = lane_key(&request.remote, &request.branch);
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
    /// each request gets its own outcome, in order. Requests for other repositories, branches
    /// or credentials are run as their own batches.
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
        let mut groups: BTreeMap<LaneKey, Vec<usize>> = BTreeMap::new();
        for (i, r) in requests.iter().enumerate() {
            groups
                .entry(lane_key(&r.remote, &r.branch))
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

    /// Runs one batch: all requests must name the same repository, branch and access.
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
                Ok(self.settle(repo, remote, branch, &prepared))
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

    /// Runs the batch's attempts. When the server declines a push of several requests (a hook,
    /// a branch rule), the batch is split in halves and each half pushed on its own, so the
    /// requests it accepts land and the one it refuses gets the refusal alone.
    fn settle(
        &self,
        repo: &Repository,
        remote: &RemoteSpec,
        branch: &str,
        prepared: &[(usize, Prepared<'_>)],
    ) -> Vec<(usize, Result<Outcome, GitError>)> {
        let mut expectations: Vec<Option<Vec<String>>> = prepared
            .iter()
            .map(|(_, p)| p.request.expect_target.clone())
            .collect();
        let mut done = Vec::new();
        let mut groups: Vec<Vec<usize>> = vec![(0..prepared.len()).collect()];
        let mut declined = 0;
        while let Some(group) = groups.pop() {
            let refuse = |group: &[usize], e: &GitError| {
                group
                    .iter()
                    .map(|&k| (prepared[k].0, Err(e.clone())))
                    .collect::<Vec<_>>()
            };
            let run = self.attempts(repo, remote, branch, prepared, group, &mut expectations);
            done.extend(run.done);
            let Some((group, e)) = run.declined else {
                continue;
            };
            declined += 1;
            if group.len() == 1 || declined >= MAX_DECLINED_PUSHES {
                done.extend(refuse(&group, &e));
                if declined >= MAX_DECLINED_PUSHES {
                    // The branch refuses whatever it is sent: stop pushing.
                    for rest in groups.drain(..) {
                        done.extend(refuse(&rest, &e));
                    }
                }
                continue;
            }
            debug!(
                requests = group.len(),
                "the server declined the batch; splitting it"
            );
            let (front, back) = group.split_at(group.len() / 2);
            groups.push(back.to_vec());
            groups.push(front.to_vec());
        }
        done
    }

    /// Fetch, evaluate, commit, push for the requests `pending` (indices into `prepared`); on a
    /// lost race, again on the new tip.
    fn attempts(
        &self,
        repo: &Repository,
        remote: &RemoteSpec,
        branch: &str,
        prepared: &[(usize, Prepared<'_>)],
        mut pending: Vec<usize>,
        expectations: &mut [Option<Vec<String>>],
    ) -> Run {
        let config = &self.inner.config;
        let mut done: Vec<(usize, Result<Outcome, GitError>)> = Vec::new();
        let fail_all = |pending: &[usize], e: GitError| {
            pending
                .iter()
                .map(|&k| (prepared[k].0, Err(e.clone())))
                .collect::<Vec<_>>()
        };
        let max_attempts = config.max_attempts.max(1);
        for attempt in 1..=max_attempts {
            let built = self.fetch_tip(repo, remote, branch).and_then(|tip| {
                let built = self.build(
                    repo,
                    remote,
                    tip,
                    prepared,
                    &pending,
                    expectations,
                    attempt == 1,
                );
                built.map(|b| (tip, b))
            });
            let (tip, commit, planned) = match built {
                Ok((
                    tip,
                    Built {
                        finished,
                        planned,
                        commit,
                    },
                )) => {
                    done.extend(finished);
                    match commit {
                        Some(c) => (tip, c, planned),
                        None => return Run::settled(done),
                    }
                }
                Err(e) => {
                    done.extend(fail_all(&pending, e));
                    return Run::settled(done);
                }
            };
            pending = planned.iter().map(|p| p.0).collect();
            match self.push(repo, remote, branch, (commit, tip)) {
                Ok(()) => {
                    done.extend(landed(
                        repo, branch, commit, tip, attempt, prepared, planned,
                    ));
                    return Run::settled(done);
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
                Err(PushFailure::Error(e @ GitError::PushRejected { .. })) => {
                    warn!(error = %e, requests = pending.len(), "the server declined the push");
                    return Run {
                        done,
                        declined: Some((pending, e)),
                    };
                }
                Err(PushFailure::Error(e)) => {
                    warn!(category = e.category(), error = %e, "push failed");
                    done.extend(fail_all(&pending, e));
                    return Run::settled(done);
                }
            }
        }
        let e = GitError::NonFastForward {
            repo: remote.url.to_string(),
            branch: branch.to_string(),
            attempts: max_attempts,
        };
        done.extend(fail_all(&pending, e));
        Run::settled(done)
    }
}

/// What a run of attempts came to: outcomes, and the requests of a push the server declined.
struct Run {
    done: Vec<(usize, Result<Outcome, GitError>)>,
    declined: Option<(Vec<usize>, GitError)>,
}

impl Run {
    fn settled(done: Vec<(usize, Result<Outcome, GitError>)>) -> Self {
        Self {
            done,
            declined: None,
        }
    }
}

fn backoff(config: &EngineConfig, attempt: u32) -> Duration {
    let exp = config
        .backoff_base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let capped = exp.min(config.backoff_max);
    // Jitter between half and all of the delay, so competing writers spread out.
    capped.mul_f64(0.5 + fastrand::f64() * 0.5)
}
