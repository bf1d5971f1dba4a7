//! Leader election on a coordination.k8s.io/v1 Lease, so two replicas never both write.
//!
//! Time is judged on each process's monotonic clock, never by comparing another node's
//! `renewTime` with this node's wall clock:
//!
//! - The holder counts its Lease as valid until `sent + leaseDuration`, where `sent` is when
//!   the last successful renew was *sent* (the server stamped it later, so others count from
//!   later still). That view is its [`Tenure`].
//! - It renews every `renew_every` (a third of the Lease), each attempt with a deadline of at
//!   most `renew_every`. Once less than `renew_every` of the Lease is left it has not renewed in
//!   time: it starts nothing new, cancels what runs and stops, a full `renew_every` before any
//!   other replica could take over. Git pushes check the same clock ([`Tenure::check`]).
//! - A standby takes a held Lease only after the record stayed unchanged for
//!   `leaseDuration` on its own clock, counted from when it first saw that record.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use tracing::{debug, info, instrument, warn};

use crate::watchdog::Health;

/// Where the Lease lives and how it is held.
#[derive(Debug, Clone)]
pub struct LeaderConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This replica's identity (its pod name).
    pub identity: String,
    /// How long a Lease stays valid without renewal.
    pub lease_duration: Duration,
    /// How often the holder renews (and the longest one renew may take), how often others
    /// look, and how much of the Lease must be left for this replica to keep writing.
    pub renew_every: Duration,
}

/// The holder's view of its Lease on the local monotonic clock: valid until a moment it
/// computed itself, with a safety margin, and lost for good once it lapsed.
#[derive(Debug)]
pub struct Tenure {
    lease_duration: Duration,
    margin: Duration,
    state: Mutex<TenureState>,
}

#[derive(Debug, Default, Clone, Copy)]
struct TenureState {
    valid_until: Option<Instant>,
    lost: bool,
}

impl Tenure {
    /// A Lease of `lease_duration`, usable while more than `margin` of it is left.
    pub fn new(lease_duration: Duration, margin: Duration) -> Self {
        Self {
            lease_duration,
            margin,
            state: Mutex::new(TenureState::default()),
        }
    }

    fn state(&self) -> TenureState {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A renew (or the acquisition) sent at `sent` succeeded.
    pub fn renewed(&self, sent: Instant) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let until = sent + self.lease_duration;
        if !s.lost && s.valid_until.is_none_or(|v| v < until) {
            s.valid_until = Some(until);
        }
    }

    /// The Lease is lost; nothing may be written on its strength any more.
    pub fn lose(&self) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .lost = true;
    }

    /// How much of the Lease is left at `now`.
    pub fn remaining_at(&self, now: Instant) -> Duration {
        let s = self.state();
        if s.lost {
            return Duration::ZERO;
        }
        s.valid_until
            .map_or(Duration::ZERO, |v| v.saturating_duration_since(now))
    }

    /// Ok while more than the safety margin of the Lease is left: the check before starting
    /// a reconcile and right before every git push.
    pub fn check(&self) -> Result<(), String> {
        self.check_at(Instant::now())
    }

    fn check_at(&self, now: Instant) -> Result<(), String> {
        let left = self.remaining_at(now);
        if self.state().lost || left <= self.margin {
            Err(format!(
                "the leader Lease was not renewed in time ({}ms left, {}ms needed)",
                left.as_millis(),
                self.margin.as_millis()
            ))
        } else {
            Ok(())
        }
    }
}

/// Why [`hold`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lost {
    /// Renewals failed until too little of the Lease was left.
    Lapsed,
    /// Another replica holds the Lease.
    Taken,
}

/// Waits until this replica holds the Lease; its [`Tenure`] starts then.
pub async fn acquire(client: &Client, cfg: &LeaderConfig, tenure: &Tenure, health: &Health) {
    let api: Api<Lease> = Api::namespaced(client.clone(), &cfg.namespace);
    let mut seen: Option<Seen> = None;
    loop {
        let sent = Instant::now();
        match tokio::time::timeout(cfg.renew_every, try_take(&api, cfg, &mut seen)).await {
            Ok(Ok(true)) => {
                health.api_answered();
                tenure.renewed(sent);
                info!(lease = %cfg.name, identity = %cfg.identity, "became leader");
                return;
            }
            Ok(Ok(false)) => {
                health.api_answered();
                debug!(lease = %cfg.name, "another replica leads; waiting");
            }
            Ok(Err(e)) => {
                health.api_failed(e.to_string());
                warn!(lease = %cfg.name, error = %e, "cannot read or take the Lease");
            }
            Err(_) => {
                health.api_failed("the Lease call timed out");
                warn!(lease = %cfg.name, "reading or taking the Lease timed out");
            }
        }
        tokio::time::sleep_until((sent + cfg.renew_every).into()).await;
    }
}

/// Renews the Lease until it is lost; returns when this replica must stop writing, having
/// marked its [`Tenure`] lost.
pub async fn hold(client: &Client, cfg: &LeaderConfig, tenure: &Tenure, health: &Health) -> Lost {
    let api: Api<Lease> = Api::namespaced(client.clone(), &cfg.namespace);
    // A failed attempt is retried sooner, as long as one fits before the margin.
    let retry = (cfg.renew_every / 5).max(Duration::from_millis(50));
    let mut next = Instant::now() + cfg.renew_every;
    loop {
        tokio::time::sleep_until(next.into()).await;
        let sent = Instant::now();
        let budget = tenure
            .remaining_at(sent)
            .saturating_sub(cfg.renew_every)
            .min(cfg.renew_every);
        if tenure.check_at(sent).is_err() || budget.is_zero() {
            warn!(lease = %cfg.name, "the Lease was not renewed in time; stopping");
            tenure.lose();
            return Lost::Lapsed;
        }
        match tokio::time::timeout(budget, renew(&api, cfg)).await {
            Ok(Ok(true)) => {
                health.api_answered();
                tenure.renewed(sent);
                next = sent + cfg.renew_every;
            }
            Ok(Ok(false)) => {
                health.api_answered();
                warn!(lease = %cfg.name, "the Lease was taken by another replica");
                tenure.lose();
                return Lost::Taken;
            }
            Ok(Err(e)) => {
                health.api_failed(e.to_string());
                warn!(lease = %cfg.name, error = %e, "cannot renew the Lease");
                next = Instant::now() + retry;
            }
            Err(_) => {
                health.api_failed("renewing the Lease timed out");
                warn!(lease = %cfg.name, budget_ms = budget.as_millis() as u64, "renewing the Lease timed out");
                next = Instant::now();
            }
        }
    }
}

/// Gives the Lease up on shutdown so a standby replica takes over at once.
#[instrument(skip_all, fields(lease = %cfg.name))]
pub async fn release(client: &Client, cfg: &LeaderConfig) {
    let api: Api<Lease> = Api::namespaced(client.clone(), &cfg.namespace);
    let released = tokio::time::timeout(cfg.renew_every, async {
        if let Ok(Some(mut lease)) = api.get_opt(&cfg.name).await {
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            if spec.holder_identity.as_deref() == Some(cfg.identity.as_str()) {
                spec.holder_identity = None;
                spec.renew_time = None;
                if let Err(e) = api.replace(&cfg.name, &PostParams::default(), &lease).await {
                    warn!(error = %e, "cannot release the Lease");
                }
            }
        }
    })
    .await;
    if released.is_err() {
        warn!("releasing the Lease timed out; a standby takes over once it lapses");
    }
}

/// A Lease record as a standby saw it, and when (on its own clock) it first saw it.
#[derive(Debug)]
struct Seen {
    holder: String,
    version: Option<String>,
    since: Instant,
}

/// Renews our Lease; false when another replica holds it.
#[instrument(skip_all, fields(lease = %cfg.name))]
async fn renew(api: &Api<Lease>, cfg: &LeaderConfig) -> Result<bool, kube::Error> {
    let Some(mut lease) = api.get_opt(&cfg.name).await? else {
        // Deleted under us: nobody else holds it, so take it back.
        return create(api, cfg).await;
    };
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    if spec.holder_identity.as_deref() != Some(cfg.identity.as_str()) {
        return Ok(false);
    }
    spec.renew_time = Some(MicroTime(Timestamp::now()));
    spec.lease_duration_seconds = Some(duration_secs(cfg));
    api.replace(&cfg.name, &PostParams::default(), &lease)
        .await
        .map(|_| true)
}

/// Takes the Lease if it is free, released, ours from an earlier run, or unchanged for a whole
/// lease duration since this replica first saw it. Optimistic concurrency on the
/// resourceVersion makes two replicas racing for it fail all but one.
#[instrument(skip_all, fields(lease = %cfg.name))]
async fn try_take(
    api: &Api<Lease>,
    cfg: &LeaderConfig,
    seen: &mut Option<Seen>,
) -> Result<bool, kube::Error> {
    let Some(mut lease) = api.get_opt(&cfg.name).await? else {
        return create(api, cfg).await;
    };
    let version = lease.metadata.resource_version.clone();
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    let holder = spec.holder_identity.clone().unwrap_or_default();
    if !holder.is_empty() && holder != cfg.identity {
        let valid = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(cfg.lease_duration, Duration::from_secs);
        let now = Instant::now();
        match seen {
            Some(s) if s.holder == holder && s.version == version => {
                if now.saturating_duration_since(s.since) < valid {
                    return Ok(false);
                }
            }
            _ => {
                *seen = Some(Seen {
                    holder,
                    version,
                    since: now,
                });
                return Ok(false);
            }
        }
        info!(lease = %cfg.name, "the Lease was not renewed for a whole lease duration; taking it");
    }
    let now = MicroTime(Timestamp::now());
    spec.acquire_time = Some(now.clone());
    spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    spec.holder_identity = Some(cfg.identity.clone());
    spec.renew_time = Some(now);
    spec.lease_duration_seconds = Some(duration_secs(cfg));
    match api.replace(&cfg.name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

async fn create(api: &Api<Lease>, cfg: &LeaderConfig) -> Result<bool, kube::Error> {
    let now = MicroTime(Timestamp::now());
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some(cfg.name.clone()),
            namespace: Some(cfg.namespace.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(cfg.identity.clone()),
            lease_duration_seconds: Some(duration_secs(cfg)),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            lease_transitions: Some(0),
            ..LeaseSpec::default()
        }),
    };
    match api.create(&PostParams::default(), &lease).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// The Lease duration in whole seconds, rounded up so others never count a shorter one.
fn duration_secs(cfg: &LeaderConfig) -> i32 {
    let secs = cfg.lease_duration.as_secs() + u64::from(cfg.lease_duration.subsec_nanos() > 0);
    i32::try_from(secs).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_secs(15);
    const RENEW: Duration = Duration::from_secs(5);

    #[test]
    fn a_tenure_holds_until_the_margin_from_the_last_renew_sent() {
        let t = Tenure::new(LEASE, RENEW);
        let t0 = Instant::now();
        assert!(t.check_at(t0).is_err(), "never renewed");
        t.renewed(t0);
        assert!(t.check_at(t0 + Duration::from_secs(9)).is_ok());
        assert!(t.check_at(t0 + Duration::from_secs(10)).is_err(), "margin");
        t.renewed(t0 + Duration::from_secs(5));
        assert!(t.check_at(t0 + Duration::from_secs(14)).is_ok());
        // A late success of an earlier attempt does not shorten it.
        t.renewed(t0 + Duration::from_secs(1));
        assert_eq!(
            t.remaining_at(t0 + Duration::from_secs(10)),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn a_lost_tenure_stays_lost() {
        let t = Tenure::new(LEASE, RENEW);
        let t0 = Instant::now();
        t.renewed(t0);
        t.lose();
        assert!(t.check_at(t0).is_err());
        t.renewed(t0 + Duration::from_secs(1));
        assert_eq!(t.remaining_at(t0), Duration::ZERO);
    }

    #[test]
    fn lease_seconds_round_up() {
        let cfg = |d: Duration| LeaderConfig {
            namespace: "ns".into(),
            name: "l".into(),
            identity: "a".into(),
            lease_duration: d,
            renew_every: d / 3,
        };
        assert_eq!(duration_secs(&cfg(Duration::from_secs(15))), 15);
        assert_eq!(duration_secs(&cfg(Duration::from_millis(6500))), 7);
    }
}
