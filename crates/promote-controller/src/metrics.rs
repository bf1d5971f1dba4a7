//! Prometheus metrics: promotions by result, phase durations, git operations, reconcile errors,
//! reconciles in flight and the last one completed, leadership and fenced pushes; and the
//! per-lane gauges of [`lanes`].

#[path = "lane_metrics.rs"]
pub mod lanes;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabel {
    phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GitLabel {
    operation: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CategoryLabel {
    category: String,
}

/// The operator's metrics and the registry that renders them.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    reconciles: Counter,
    reconcile_errors: Family<CategoryLabel, Counter>,
    promotions: Family<ResultLabel, Counter>,
    phase_seconds: Family<PhaseLabel, Histogram>,
    git_operations: Family<GitLabel, Counter>,
    push_retries: Counter,
    in_flight: Gauge,
    last_reconcile: Gauge<f64, AtomicU64>,
    leader: Gauge,
    fenced_pushes: Counter,
    probes: Family<ResultLabel, Counter>,
    lanes: Arc<lanes::LaneMetrics>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("promote");
        let reconciles = Counter::default();
        let reconcile_errors = Family::<CategoryLabel, Counter>::default();
        let promotions = Family::<ResultLabel, Counter>::default();
        let phase_seconds = Family::<PhaseLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.5, 2.0, 14))
        });
        let git_operations = Family::<GitLabel, Counter>::default();
        let push_retries = Counter::default();
        let in_flight = Gauge::default();
        let last_reconcile = Gauge::<f64, AtomicU64>::default();
        let leader = Gauge::default();
        let fenced_pushes = Counter::default();
        let probes = Family::<ResultLabel, Counter>::default();
        // Both results from the start, so an alert on failures has a series before the first.
        for result in ["passed", "failed"] {
            let _ = probes.get_or_create(&ResultLabel {
                result: result.to_owned(),
            });
        }
        registry.register("reconciles", "Reconciles run", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Reconcile errors by category",
            reconcile_errors.clone(),
        );
        registry.register(
            "promotions",
            "Finished promotions by result",
            promotions.clone(),
        );
        registry.register(
            "promotion_phase_seconds",
            "Seconds from approval (or start) to each phase: committed, synced, healthy",
            phase_seconds.clone(),
        );
        registry.register(
            "git_operations",
            "Git operations by operation and result",
            git_operations.clone(),
        );
        registry.register(
            "git_push_retries",
            "Push attempts beyond the first, after losing a race",
            push_retries.clone(),
        );
        registry.register(
            "reconciles_in_flight",
            "Reconciles running now",
            in_flight.clone(),
        );
        registry.register(
            "last_reconcile_timestamp_seconds",
            "Unix time of the last reconcile that completed (neither abandoned nor cut off from the API server)",
            last_reconcile.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease",
            leader.clone(),
        );
        registry.register(
            "git_pushes_fenced",
            "Pushes refused because the leader Lease was no longer safely held",
            fenced_pushes.clone(),
        );
        registry.register(
            "health_probes",
            "Probes of spec.verification.healthUrl by result (passed, failed)",
            probes.clone(),
        );
        let lanes = Arc::new(lanes::LaneMetrics::default());
        registry.register_collector(Box::new(lanes.clone()));
        Self {
            registry: Mutex::new(registry),
            reconciles,
            reconcile_errors,
            promotions,
            phase_seconds,
            git_operations,
            push_retries,
            in_flight,
            last_reconcile,
            leader,
            fenced_pushes,
            probes,
            lanes,
        }
    }
}

impl Metrics {
    /// Counts one reconcile.
    pub fn reconciled(&self) {
        self.reconciles.inc();
    }

    /// Counts one reconcile error.
    pub fn reconcile_error(&self, category: &str) {
        self.reconcile_errors
            .get_or_create(&CategoryLabel {
                category: category.to_owned(),
            })
            .inc();
    }

    /// Counts one finished promotion.
    pub fn promotion_finished(&self, result: &str) {
        self.promotions
            .get_or_create(&ResultLabel {
                result: result.to_owned(),
            })
            .inc();
    }

    /// Records how long it took from the start of a promotion to `phase`.
    pub fn phase_reached(&self, phase: &str, seconds: f64) {
        self.phase_seconds
            .get_or_create(&PhaseLabel {
                phase: phase.to_owned(),
            })
            .observe(seconds);
    }

    /// Counts one git operation.
    pub fn git_operation(&self, operation: &str, result: &str) {
        self.git_operations
            .get_or_create(&GitLabel {
                operation: operation.to_owned(),
                result: result.to_owned(),
            })
            .inc();
    }

    /// Counts push retries.
    pub fn push_retries(&self, retries: u64) {
        self.push_retries.inc_by(retries);
    }

    /// A reconcile started.
    pub fn reconcile_started(&self) {
        self.in_flight.inc();
    }

    /// A reconcile ended; `completed` when it was neither abandoned nor cut off.
    pub fn reconcile_ended(&self, completed: bool) {
        self.in_flight.dec();
        if completed {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            self.last_reconcile.set(now);
        }
    }

    /// Whether this replica holds the leader Lease.
    pub fn leading(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// Counts a push the fence refused.
    pub fn push_fenced(&self) {
        self.fenced_pushes.inc();
    }

    /// Counts one probe of a health URL.
    pub fn probe(&self, passed: bool) {
        self.probes
            .get_or_create(&ResultLabel {
                result: if passed { "passed" } else { "failed" }.to_owned(),
            })
            .inc();
    }

    /// The per-lane gauges.
    pub fn lanes(&self) -> &lanes::LaneMetrics {
        &self.lanes
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family() {
        let m = Metrics::default();
        m.reconciled();
        m.reconcile_error("kube");
        m.promotion_finished("Succeeded");
        m.phase_reached("healthy", 3.0);
        m.git_operation("push", "committed");
        m.push_retries(2);
        m.reconcile_started();
        m.reconcile_started();
        m.reconcile_ended(true);
        m.leading(true);
        m.push_fenced();
        let text = m.render();
        for name in [
            "promote_reconciles_total 1",
            "promote_reconcile_errors_total{category=\"kube\"} 1",
            "promote_promotions_total{result=\"Succeeded\"} 1",
            "promote_promotion_phase_seconds_count{phase=\"healthy\"} 1",
            "promote_git_operations_total{operation=\"push\",result=\"committed\"} 1",
            "promote_git_push_retries_total 2",
            "promote_reconciles_in_flight 1",
            "promote_leader 1",
            "promote_git_pushes_fenced_total 1",
        ] {
            assert!(text.contains(name), "{name} missing in\n{text}");
        }
        let last = text
            .lines()
            .find_map(|l| l.strip_prefix("promote_last_reconcile_timestamp_seconds "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .expect("last reconcile timestamp");
        assert!(last > 1.0e9, "{last}");
    }
}
