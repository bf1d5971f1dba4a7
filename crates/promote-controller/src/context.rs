//! What every reconcile shares: clients, the git engine, the Event recorder, metrics.

use std::time::Duration;

use kube::Client;
use kube::runtime::events::Recorder;
use promote_git::Engine;

use crate::decide::Timing;
use crate::metrics::Metrics;
use crate::observe::Heads;

/// Tunables of the reconcile loop.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Requeue intervals.
    pub timing: Timing,
    /// How long a remote-head check is shared by the lanes of one repository.
    pub head_ttl: Duration,
    /// Who the operator is in Events and commits.
    pub identity: String,
    /// Most reconciles running at once; bounds API connections and git threads.
    pub concurrency: u16,
}

/// Shared state of the controller.
pub struct Context {
    /// The Kubernetes client.
    pub client: Client,
    /// The git engine (one cache per repository, one writer per branch).
    pub engine: Engine,
    /// The one Event recorder, so Events deduplicate.
    pub recorder: Recorder,
    /// Metrics, shared with the HTTP server.
    pub metrics: std::sync::Arc<Metrics>,
    /// Remote heads seen recently.
    pub heads: Heads,
    /// Tunables.
    pub settings: Settings,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("engine", &self.engine)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}
