//! An **Argo CD simulator** for Promote's end-to-end tests. It is not Argo CD: Argo CD cannot
//! run where the tests run, so this crate plays the part of Argo CD's application controller
//! on `Application` objects (argoproj.io/v1alpha1) in a real Kubernetes API server, reading
//! the same real git servers the engine writes to.
//!
//! A test starts it with [`Simulator::start`] and gets a [`SimulatorHandle`]; every poll
//! interval the simulator lists the Applications of its namespaces and, for each one:
//!
//! - resolves `spec.source` (or `spec.sources[0]`) `targetRevision` with `git ls-remote`,
//!   fetches only missing commits into a bare cache, and "renders" the chart: the image
//!   `<image.repository>:<image.tag>` from the chart's `values.yaml`, then `helm.valueFiles`
//!   (relative to `path`, `../` resolved), inline `helm.values`, then `helm.parameters`;
//! - compares that with what it deployed: `status.sync` (`Synced`/`OutOfSync`, the tip as
//!   `revision`, or `revisions` for multi-source apps, `Unknown` with a `ComparisonError`
//!   condition when Git cannot be read);
//! - auto-syncs when `spec.syncPolicy.automated` is present and its `enabled` is absent or true
//!   (Argo CD 3.1), re-syncing an unchanged revision only with `selfHeal`; runs a written
//!   `.operation` (optionally to `sync.revision`) in two steps, `Running` then `Succeeded`, and
//!   then removes `.operation`; records `status.operationState`, `status.history`;
//! - reports `status.health` (`Missing` before the first sync, `Progressing` for
//!   [`SimulatorConfig::health_delay`] after each change, then `Healthy`, or `Degraded` for
//!   versions marked bad), `status.summary.images` (old and new while progressing),
//!   `status.reconciledAt`;
//! - removes the `argocd.argoproj.io/refresh` annotation when it refreshes (`hard` also
//!   re-fetches);
//! - writes everything as one JSON merge patch on the main resource (Applications have no
//!   status subresource) carrying the resourceVersion it decided on, re-reading and deciding
//!   again on a conflict.
//!
//! The test steers what is not in Git: hot-reload sessions ([`SimulatorHandle::start_hot_session`])
//! and failing versions ([`SimulatorHandle::mark_bad`]). The README lists what is not simulated.
//!
//! This crate must not depend on `promote-argocd`, `promote-git` or `promote-controller`: it is
//! the independent counterpart the operator's reading and writing of Applications is checked
//! against. (It reads one scalar of a values file with `promote_values::get`, as asked of every
//! reader of values files in the project.) It reaches Git only through the `git` program
//! (started as `promote_gitserver::git()` does, with no user or system configuration) and
//! Kubernetes only through the `kube::Client` it is given, so it works with any API server and
//! any git server the tests start, and never depends on their crates' internals. Its waits go
//! through `promote_testsupport::wait_until`, like every test suite's.

mod config;
mod error;
mod fixture;
mod git;
mod merge;
mod reconcile;
mod render;
mod sim;
mod snapshot;
mod spec;
mod values;

use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};

pub use config::{GitAuth, Secret, SimulatorConfig};
pub use error::{Error, Result};
pub use fixture::ApplicationBuilder;
pub use reconcile::REFRESH_ANNOTATION;
pub use sim::{Simulator, SimulatorHandle};
pub use snapshot::{AppRef, AppSnapshot, wait_for};

/// API group of Argo CD Applications.
pub const GROUP: &str = "argoproj.io";
/// API version of Argo CD Applications.
pub const VERSION: &str = "v1alpha1";
/// Kind of Argo CD Applications.
pub const KIND: &str = "Application";
/// Plural resource name of Argo CD Applications.
pub const PLURAL: &str = "applications";

/// The Application resource, for dynamic API calls.
pub fn api_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, VERSION, KIND), PLURAL)
}

/// The Applications of one namespace.
pub fn applications(client: Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client, namespace, &api_resource())
}
