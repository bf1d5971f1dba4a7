//! What every reconcile shares: the client, the git engine, the one Event recorder, metrics
//! and the tunables. It imports nothing else of this crate but metrics, the Application
//! cache and the branch registry, so every step can use it without a circle.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use kube::Client;
use kube::runtime::events::Recorder;
use promote_git::Engine;
use promote_lane::{Admission, Timing};

use crate::apps::AppCache;
use crate::branches::Branches;
use crate::metrics::Metrics;

/// Tunables of the reconcile loop.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Requeue intervals; `timing.idle` is the longest an idle lane goes unreconciled.
    pub timing: Timing,
    /// How often the branch each lane reads is checked (`--resync`).
    pub branch_check: Duration,
    /// Who the operator is in Events, commits and sync requests.
    pub identity: String,
    /// The e-mail of the commits' author (`--committer-email`).
    pub committer_email: String,
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
    /// The resourceVersions this replica wrote, by lane, until the watch caught up.
    pub written: WrittenVersions,
    /// The Applications as the watch last delivered them.
    pub apps: AppCache,
    /// Which lanes read which branch, for the shared branch checks.
    pub branches: Branches,
}

/// The resourceVersion of each lane's last status write, kept until the watch delivers it.
/// A reconcile started from a cached copy older than our own write would decide on stale
/// status (probing again, say); it reads the Promotion afresh instead.
#[derive(Debug, Default)]
pub struct WrittenVersions(Mutex<HashMap<String, String>>);

impl WrittenVersions {
    /// This replica wrote `key` at `version`.
    pub fn wrote(&self, key: &str, version: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.to_owned(), version.to_owned());
    }

    /// Whether the copy of `key` at `version` is older than our last write: true when a write
    /// is on record and `version` is another. Forgets the write once the copy shows it.
    pub fn behind(&self, key: &str, version: Option<&str>) -> bool {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match map.get(key) {
            None => false,
            Some(ours) if Some(ours.as_str()) == version => {
                map.remove(key);
                false
            }
            Some(_) => true,
        }
    }

    /// Forgets `key`: the copy read afresh is the newest there is.
    pub fn forget(&self, key: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("engine", &self.engine)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}
