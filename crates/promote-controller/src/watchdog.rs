//! What the probes report: liveness (is this replica making progress, does its Lease still
//! hold) and readiness (could it lead: start-up checks passed, API server answering).
//!
//! Progress is judged on this process's monotonic clock. A reconcile makes progress when it
//! returns without being abandoned and without a transport failure; work is pending while a
//! reconcile runs or one that made no progress waits to be retried. Liveness fails once work
//! has been pending for the stall timeout without any progress: the replica is stuck, and a
//! restart is the remedy. A replica with nothing to do is live.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::leader::Tenure;

/// What the probes report; shared by the controller, the leader loop and the HTTP server.
#[derive(Debug)]
pub struct Health {
    /// Start-up checks passed and the controller (or the standby loop) runs.
    pub ready: AtomicBool,
    /// This replica holds the Lease.
    pub leader: AtomicBool,
    /// The Lease could not be renewed in time (sticky: the replica is on its way out).
    lapsed: AtomicBool,
    stall_ms: AtomicU64,
    progress: Mutex<Progress>,
    api: Mutex<ApiContact>,
    tenure: OnceLock<Arc<Tenure>>,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            ready: AtomicBool::new(false),
            leader: AtomicBool::new(false),
            lapsed: AtomicBool::new(false),
            stall_ms: AtomicU64::new(300_000),
            progress: Mutex::new(Progress::default()),
            api: Mutex::new(ApiContact::default()),
            tenure: OnceLock::new(),
        }
    }
}

/// Reconciles running and failing, and since when work has waited without progress.
#[derive(Debug, Default)]
struct Progress {
    in_flight: u32,
    /// Lanes whose last reconcile made no progress (each will be retried).
    failing: HashSet<String>,
    pending_since: Option<Instant>,
    last_progress: Option<Instant>,
}

impl Progress {
    fn pending(&self) -> bool {
        self.in_flight > 0 || !self.failing.is_empty()
    }
}

/// The outcome of the last call this replica made to learn whether the API server answers.
#[derive(Debug, Default)]
struct ApiContact {
    last_ok: Option<Instant>,
    failing: Option<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Health {
    /// Sets how long work may wait without progress before liveness fails.
    pub fn set_stall_timeout(&self, stall: Duration) {
        let ms = u64::try_from(stall.as_millis()).unwrap_or(u64::MAX);
        self.stall_ms.store(ms, Ordering::Relaxed);
    }

    fn stall_timeout(&self) -> Duration {
        Duration::from_millis(self.stall_ms.load(Ordering::Relaxed))
    }

    /// Shares the leader's view of its Lease, judged by liveness while this replica leads.
    pub fn watch_tenure(&self, tenure: Arc<Tenure>) {
        let _ = self.tenure.set(tenure);
    }

    /// Records that the Lease could not be renewed in time.
    pub fn lease_lapsed(&self) {
        self.lapsed.store(true, Ordering::Relaxed);
    }

    /// A reconcile of `key` starts.
    pub fn reconcile_started(&self, _key: &str) {
        let mut p = lock(&self.progress);
        p.in_flight += 1;
        p.pending_since.get_or_insert_with(Instant::now);
    }

    /// A reconcile of `key` ended; `progressed` when it was neither abandoned nor cut off
    /// from the API server.
    pub fn reconcile_ended(&self, key: &str, progressed: bool) {
        let now = Instant::now();
        let mut p = lock(&self.progress);
        p.in_flight = p.in_flight.saturating_sub(1);
        if progressed {
            p.failing.remove(key);
            p.last_progress = Some(now);
            p.pending_since = p.pending().then_some(now);
        } else {
            p.failing.insert(key.to_owned());
        }
    }

    /// `key` is gone: nothing of it waits to be retried.
    pub fn forget(&self, key: &str) {
        let mut p = lock(&self.progress);
        if p.failing.remove(key) && !p.pending() {
            p.pending_since = None;
        }
    }

    /// When a reconcile last made progress.
    pub fn last_progress(&self) -> Option<Instant> {
        lock(&self.progress).last_progress
    }

    /// Reconciles running now.
    pub fn in_flight(&self) -> u32 {
        lock(&self.progress).in_flight
    }

    /// Records that a call to the API server was answered.
    pub fn api_answered(&self) {
        let mut api = lock(&self.api);
        api.last_ok = Some(Instant::now());
        api.failing = None;
    }

    /// Records that a call to the API server failed or timed out.
    pub fn api_failed(&self, why: impl Into<String>) {
        lock(&self.api).failing = Some(why.into());
    }

    /// Liveness: Ok, or why this replica should be restarted.
    pub fn liveness(&self) -> Result<(), String> {
        self.liveness_at(Instant::now())
    }

    fn liveness_at(&self, now: Instant) -> Result<(), String> {
        if self.lapsed.load(Ordering::Relaxed) {
            return Err("the leader Lease could not be renewed in time".to_owned());
        }
        if self.leader.load(Ordering::Relaxed)
            && let Some(tenure) = self.tenure.get()
            && let Err(e) = tenure.check()
        {
            return Err(e);
        }
        let stall = self.stall_timeout();
        let p = lock(&self.progress);
        match p.pending_since {
            Some(since) if now.saturating_duration_since(since) >= stall => Err(format!(
                "no reconcile completed for {}s while {} ran and {} waited to be retried",
                now.saturating_duration_since(since).as_secs(),
                p.in_flight,
                p.failing.len()
            )),
            _ => Ok(()),
        }
    }

    /// Readiness: Ok with this replica's role, or why it could not lead now.
    pub fn readiness(&self) -> Result<&'static str, String> {
        if !self.ready.load(Ordering::Relaxed) {
            return Err("starting: start-up checks have not passed".to_owned());
        }
        if self.lapsed.load(Ordering::Relaxed) {
            return Err("the leader Lease could not be renewed in time".to_owned());
        }
        if let Some(why) = &lock(&self.api).failing {
            return Err(format!("the API server does not answer: {why}"));
        }
        Ok(if self.leader.load(Ordering::Relaxed) {
            "leader"
        } else {
            "standby"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stalled_after(h: &Health, d: Duration) -> bool {
        h.liveness_at(Instant::now() + d).is_err()
    }

    #[test]
    fn idle_is_live_and_pending_work_without_progress_is_not() {
        let h = Health::default();
        h.set_stall_timeout(Duration::from_secs(60));
        assert!(
            !stalled_after(&h, Duration::from_secs(3600)),
            "nothing to do"
        );
        h.reconcile_started("ns/a");
        assert!(!stalled_after(&h, Duration::from_secs(59)));
        assert!(
            stalled_after(&h, Duration::from_secs(61)),
            "in flight too long"
        );
    }

    #[test]
    fn a_failed_reconcile_keeps_work_pending_until_progress_or_deletion() {
        let h = Health::default();
        h.set_stall_timeout(Duration::from_secs(60));
        h.reconcile_started("ns/a");
        h.reconcile_ended("ns/a", false);
        assert_eq!(h.in_flight(), 0);
        assert!(
            stalled_after(&h, Duration::from_secs(61)),
            "waits to be retried"
        );
        h.forget("ns/a");
        assert!(!stalled_after(&h, Duration::from_secs(61)), "gone");

        h.reconcile_started("ns/a");
        h.reconcile_ended("ns/a", false);
        h.reconcile_started("ns/b");
        h.reconcile_ended("ns/b", true);
        assert!(h.last_progress().is_some());
        assert!(
            !stalled_after(&h, Duration::from_secs(59)),
            "progress restarts the clock"
        );
        assert!(
            stalled_after(&h, Duration::from_secs(61)),
            "a still failing"
        );
        h.reconcile_started("ns/a");
        h.reconcile_ended("ns/a", true);
        assert!(!stalled_after(&h, Duration::from_secs(3600)), "all done");
    }

    #[test]
    fn readiness_needs_the_checks_and_an_answering_api_server() {
        let h = Health::default();
        assert!(h.readiness().is_err(), "starting");
        h.ready.store(true, Ordering::Relaxed);
        assert_eq!(h.readiness(), Ok("standby"));
        h.api_failed("connection refused");
        let why = h.readiness().expect_err("unreachable");
        assert!(why.contains("connection refused"), "{why}");
        h.api_answered();
        h.leader.store(true, Ordering::Relaxed);
        assert_eq!(h.readiness(), Ok("leader"));
        h.lease_lapsed();
        assert!(h.readiness().is_err());
        assert!(h.liveness().is_err());
    }
}
