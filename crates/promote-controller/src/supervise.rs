//! Every reconcile under supervision: a deadline after which it is abandoned and retried with
//! backoff (so one hung lane cannot hold a reconcile slot for ever), no new reconciles once
//! the leader's Lease was not renewed in time, cancellation of those running when leadership
//! is lost, and the progress the watchdog and the metrics report.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use kube::ResourceExt;
use kube::runtime::controller::Action as Requeue;
use tokio::sync::watch;
use tracing::warn;

use crate::context::Context;
use crate::leader::Tenure;
use crate::reconcile::{self, Guarded};
use crate::watchdog::Health;

/// First retry after an abandoned reconcile; doubled for each one in a row.
const BACKOFF_BASE: Duration = Duration::from_secs(5);
/// Longest wait before retrying a lane whose reconciles keep being abandoned.
const BACKOFF_MAX: Duration = Duration::from_secs(600);

/// What a supervised reconcile needs besides the reconcile's own context.
pub struct Supervisor {
    /// What every reconcile shares.
    pub ctx: Arc<Context>,
    /// Longest one reconcile may run.
    pub deadline: Duration,
    /// Progress for the probes.
    pub health: Arc<Health>,
    /// The leader's Lease, when leader election is on.
    pub tenure: Option<Arc<Tenure>>,
    /// Turns true when running reconciles must be cancelled (leadership lost).
    pub cancel: watch::Receiver<bool>,
    /// Reconciles abandoned in a row, by lane.
    abandoned: Mutex<HashMap<String, u32>>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("deadline", &self.deadline)
            .field("tenure", &self.tenure)
            .finish_non_exhaustive()
    }
}

/// Why a supervised reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The reconcile itself failed.
    #[error(transparent)]
    Reconcile(#[from] reconcile::Error),
    /// It ran past its deadline and was abandoned.
    #[error("the reconcile did not finish within {0:?} and was abandoned")]
    Abandoned(Duration),
    /// The Lease was not renewed in time, so nothing new starts.
    #[error("not started: {0}")]
    NotLeading(String),
    /// Leadership was lost while it ran.
    #[error("cancelled: leadership was lost")]
    Cancelled,
}

impl Error {
    /// A low-cardinality label for metrics.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Reconcile(e) => e.category(),
            Self::Abandoned(_) => "deadline",
            Self::NotLeading(_) => "not_leading",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether the reconcile ran to an end that counts as progress: it returned, and when it
    /// failed the API server at least answered.
    fn progressed(&self) -> bool {
        matches!(
            self,
            Self::Reconcile(reconcile::Error::Kube(kube::Error::Api(_)))
        )
    }
}

impl Supervisor {
    /// Supervises reconciles with `ctx`.
    pub fn new(
        ctx: Arc<Context>,
        deadline: Duration,
        health: Arc<Health>,
        tenure: Option<Arc<Tenure>>,
        cancel: watch::Receiver<bool>,
    ) -> Self {
        Self {
            ctx,
            deadline,
            health,
            tenure,
            cancel,
            abandoned: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one more abandoned reconcile of `key` in a row, or ends the run.
    fn count_abandoned(&self, key: &str, abandoned: bool) {
        let mut map = self
            .abandoned
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if abandoned {
            let n = map.entry(key.to_owned()).or_insert(0);
            *n = n.saturating_add(1);
        } else {
            map.remove(key);
        }
    }

    /// Reconciles of `key` abandoned in a row.
    fn abandoned(&self, key: &str) -> u32 {
        let map = self
            .abandoned
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.get(key).copied().unwrap_or(0)
    }
}

/// The key a lane goes by in logs and in the watchdog.
pub fn key_of(guarded: &Guarded) -> String {
    format!(
        "{}/{}",
        guarded.namespace().unwrap_or_default(),
        guarded.name_any()
    )
}

/// Runs one reconcile under the deadline, the Lease and the cancel signal.
pub async fn reconcile(guarded: Arc<Guarded>, sup: Arc<Supervisor>) -> Result<Requeue, Error> {
    if let Some(tenure) = &sup.tenure {
        tenure.check().map_err(Error::NotLeading)?;
    }
    let key = key_of(&guarded);
    sup.health.reconcile_started(&key);
    sup.ctx.metrics.reconcile_started();
    // Counted as ended even when the controller drops this future.
    let slot = Slot {
        sup: &sup,
        key: &key,
        progressed: std::cell::Cell::new(false),
    };
    let mut cancel = sup.cancel.clone();
    let run = tokio::time::timeout(sup.deadline, reconcile::reconcile(guarded, sup.ctx.clone()));
    let result = tokio::select! {
        r = run => r.map_err(|_| Error::Abandoned(sup.deadline)).and_then(|r| r.map_err(Error::from)),
        _ = cancel.wait_for(|c| *c) => Err(Error::Cancelled),
    };
    slot.progressed
        .set(result.as_ref().map_or_else(Error::progressed, |_| true));
    sup.count_abandoned(&key, matches!(result, Err(Error::Abandoned(_))));
    result
}

/// One running reconcile, as the watchdog and the metrics count it.
struct Slot<'a> {
    sup: &'a Supervisor,
    key: &'a str,
    progressed: std::cell::Cell<bool>,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let progressed = self.progressed.get();
        self.sup.health.reconcile_ended(self.key, progressed);
        self.sup.ctx.metrics.reconcile_ended(progressed);
    }
}

/// Reconcile errors go to the reconcile's own policy; an abandoned reconcile is retried after
/// a delay that doubles with each one in a row.
pub fn error_policy(guarded: Arc<Guarded>, error: &Error, sup: Arc<Supervisor>) -> Requeue {
    match error {
        Error::Reconcile(e) => reconcile::error_policy(guarded, e, sup.ctx.clone()),
        Error::Abandoned(_) => {
            let key = key_of(&guarded);
            let delay = backoff(sup.abandoned(&key).saturating_sub(1));
            warn!(promotion = %key, %error, retry_in_s = delay.as_secs(), "reconcile abandoned");
            sup.ctx.metrics.reconcile_error(error.category());
            Requeue::requeue(delay)
        }
        Error::NotLeading(_) | Error::Cancelled => {
            sup.ctx.metrics.reconcile_error(error.category());
            Requeue::requeue(BACKOFF_BASE)
        }
    }
}

/// The delay before retrying after `n` earlier abandoned reconciles in a row (with up to a
/// tenth of jitter).
fn backoff(n: u32) -> Duration {
    let delay = BACKOFF_BASE
        .saturating_mul(2_u32.saturating_pow(n.min(16)))
        .min(BACKOFF_MAX);
    let spread = u64::try_from(delay.as_millis() / 10).unwrap_or(0);
    delay + Duration::from_millis(fastrand::u64(0..=spread))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let secs = |n| backoff(n).as_secs();
        assert!((5..=5).contains(&secs(0)));
        assert!((10..=11).contains(&secs(1)));
        assert!((40..=44).contains(&secs(3)));
        assert!((600..=660).contains(&secs(20)));
    }
}
