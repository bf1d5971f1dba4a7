//! Prometheus metrics: promotions by result, phase durations, git operations, reconcile errors.

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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
        Self {
            registry: Mutex::new(registry),
            reconciles,
            reconcile_errors,
            promotions,
            phase_seconds,
            git_operations,
            push_retries,
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
        let text = m.render();
        for name in [
            "promote_reconciles_total 1",
            "promote_reconcile_errors_total{category=\"kube\"} 1",
            "promote_promotions_total{result=\"Succeeded\"} 1",
            "promote_promotion_phase_seconds_count{phase=\"healthy\"} 1",
            "promote_git_operations_total{operation=\"push\",result=\"committed\"} 1",
            "promote_git_push_retries_total 2",
        ] {
            assert!(text.contains(name), "{name} missing in\n{text}");
        }
    }
}
