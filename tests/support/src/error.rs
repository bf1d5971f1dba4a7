//! What can go wrong while preparing a test's cluster.

use std::path::PathBuf;

/// An error preparing the cluster, a namespace or the CRDs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `tests/control-plane/up` could not be run.
    #[error("running {path}: {source}")]
    Spawn {
        /// The script.
        path: PathBuf,
        /// Why it could not be started.
        source: std::io::Error,
    },
    /// `tests/control-plane/up` failed; its progress output says why.
    #[error("tests/control-plane/up failed ({status}):\n{stderr}")]
    Up {
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it wrote to stderr (progress and errors, never credentials).
        stderr: String,
    },
    /// `tests/control-plane/up` succeeded but printed no `KUBECONFIG=` line.
    #[error("tests/control-plane/up printed no KUBECONFIG= line")]
    NoKubeconfig,
    /// The kubeconfig could not be read or used.
    #[error("kubeconfig {kubeconfig}: {source}")]
    Kubeconfig {
        /// The KUBECONFIG value.
        kubeconfig: String,
        /// What was wrong with it.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The cluster did not answer.
    #[error(
        "the cluster at {server} is not reachable (unset KUBECONFIG to use the test control plane): {source}"
    )]
    Unreachable {
        /// The API server's URL.
        server: String,
        /// The client's error.
        source: kube::Error,
    },
    /// A file the tests need could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A CRD file is not a CustomResourceDefinition.
    #[error("parsing {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_yaml::Error,
    },
    /// An API call failed.
    #[error("{action}: {source}")]
    Api {
        /// What was being done.
        action: String,
        /// The client's error.
        source: kube::Error,
    },
    /// A CRD was applied but never reported Established.
    #[error("CRD {name} was not Established in time")]
    NotEstablished {
        /// The CRD's name.
        name: String,
    },
}

impl Error {
    /// Whether trying again may help (the server was busy or briefly unreachable).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Unreachable { .. } | Error::NotEstablished { .. } => true,
            Error::Api { source, .. } => match source {
                kube::Error::Api(status) => status.code == 429 || status.code >= 500,
                kube::Error::HyperError(_) | kube::Error::Service(_) => true,
                _ => false,
            },
            _ => false,
        }
    }

    pub(crate) fn api(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
        let action = action.into();
        move |source| Error::Api { action, source }
    }
}
