//! What every reconcile shares: the client, the git engine, the one Event recorder, metrics
//! and the tunables. It imports nothing else of this crate but metrics, so every step can
//! use it without a circle.

use std::sync::Arc;

use kube::Client;
use kube::runtime::events::Recorder;
use promote_git::Engine;
use promote_lane::{Admission, Timing};

use crate::metrics::Metrics;

/// Tunables of the reconcile loop.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Requeue intervals.
    pub timing: Timing,
    /// Who the operator is in Events, commits and sync requests.
    pub identity: String,
    /// Most reconciles running at once; bounds API connections and git threads.
    pub concurrency: u16,
    /// What lanes may name: Application namespaces, `file://` repositories.
    pub admission: Admission,
}

/// What every reconcile shares: the client, the git engine, the one Event recorder, metrics.
pub struct Context {
    /// The Kubernetes client.
    pub client: Client,
    /// The git engine (one cache per repository, one writer per branch, shared branch tips).
    pub engine: Engine,
    /// The one Event recorder, so Events deduplicate.
    pub recorder: Recorder,
    /// Metrics, shared with the HTTP server.
    pub metrics: Arc<Metrics>,
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
