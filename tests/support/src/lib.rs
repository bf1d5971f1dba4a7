//! Test support for tests that need a Kubernetes API server.
//!
//! [`ControlPlane::get`] finds the cluster once per test process: the one `KUBECONFIG`
//! names when it is set (`scripts/test` exports the test control plane's, or point it
//! at a kind cluster), otherwise it runs `tests/control-plane/up`, which builds and
//! starts the project's test control plane (or reuses a running one; `up` serialises
//! concurrent callers with a file lock). [`TestNamespace`] gives each test a namespace
//! of its own, deleted when dropped, and [`install_crds`] installs the Promotion CRD
//! and a minimal Argo CD `Application` CRD. [`TestEnv`] bundles the three.
//!
//! [`wait_until`] is the one way the test suites wait for something to become true: a
//! description, a timeout, a poll interval and an async check returning `Option<T>` or
//! `Result<Option<T>, E>` (an `Err` is retried and reported). On timeout the
//! [`WaitTimeout`] names what was awaited and the last reason the check gave. Wait for a
//! positive signal this way before asserting that something did *not* happen; never
//! sleep for a fixed time instead.
//!
//! ```no_run
//! # async fn demo(env: &promote_testsupport::TestEnv) -> Result<(), promote_testsupport::WaitTimeout> {
//! use std::time::Duration;
//! use k8s_openapi::api::core::v1::ConfigMap;
//! use promote_testsupport::wait_until;
//!
//! let api = env.api::<ConfigMap>();
//! let cm = wait_until("ConfigMap web exists", Duration::from_secs(30),
//!     Duration::from_millis(100), async || api.get_opt("web").await).await?;
//! # let _ = cm;
//! # Ok(())
//! # }
//! ```
//!
//! It must not depend on the operator's crates: it serves their tests, and the Argo CD
//! simulator builds on it.

mod cluster;
mod crds;
mod error;
mod namespace;
mod wait;

pub use cluster::ControlPlane;
pub use crds::{
    APPLICATION_CRD, APPLICATION_CRD_NAME, FIELD_MANAGER, PROMOTION_CRD, PROMOTION_CRD_NAME,
    apply_crd, install_crds, repo_root,
};
pub use error::Error;
pub use namespace::TestNamespace;
pub use wait::{Check, WaitTimeout, wait_until};

use k8s_openapi::NamespaceResourceScope;
use kube::api::Api;
use kube::{Client, Resource};

/// One test's world: the cluster, a client, the CRDs installed and a namespace of its own.
pub struct TestEnv {
    /// The cluster the test runs against.
    pub control_plane: &'static ControlPlane,
    /// The test's namespace (deleted when the environment is dropped).
    pub namespace: TestNamespace,
}

impl std::fmt::Debug for TestEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestEnv")
            .field("control_plane", &self.control_plane)
            .field("namespace", &self.namespace.name())
            .finish()
    }
}

impl TestEnv {
    /// Brings the cluster up (once per process), installs the CRDs and creates a
    /// namespace named after `prefix` (a short DNS label such as the test's name).
    pub async fn start(prefix: &str) -> Result<Self, Error> {
        let control_plane = ControlPlane::get().await?;
        let client = control_plane.client().await?;
        install_crds(&client).await?;
        let namespace = TestNamespace::create(control_plane, client, prefix).await?;
        Ok(Self {
            control_plane,
            namespace,
        })
    }

    /// A client for the cluster.
    pub fn client(&self) -> &Client {
        self.namespace.client()
    }

    /// The name of the test's namespace.
    pub fn ns(&self) -> &str {
        self.namespace.name()
    }

    /// An [`Api`] for a namespaced kind in the test's namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        self.namespace.api()
    }

    /// `kubectl` for this cluster, defaulting to the test's namespace.
    pub fn kubectl(&self) -> tokio::process::Command {
        let mut cmd = self.control_plane.kubectl();
        cmd.arg("--namespace").arg(self.ns());
        cmd
    }
}
