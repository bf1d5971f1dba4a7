//! A read-only view of an Argo CD `Application` (argoproj.io/v1alpha1), and the two writes
//! Promote makes to one: a refresh request and a sync operation.
//!
//! Pure: it turns the Application's JSON into plain data and builds patches. No Kubernetes
//! client, no I/O; the operator does the calls.

mod image;
mod patch;
mod sources;
mod view;

pub use image::{Image, normalize_image};
pub use patch::{
    REFRESH_ANNOTATION, Refresh, refresh_patch, sync_operation_patch, sync_source_patch,
};
pub use sources::same_repository;
pub use view::{
    Application, HealthStatus, HelmSource, OperationPhase, OperationState, SyncPolicy, SyncStatus,
};

/// API group of Argo CD Applications.
pub const GROUP: &str = "argoproj.io";
/// API version of Argo CD Applications.
pub const VERSION: &str = "v1alpha1";
/// Kind of Argo CD Applications.
pub const KIND: &str = "Application";
/// Plural resource name of Argo CD Applications.
pub const PLURAL: &str = "applications";

/// Why an Application could not be read or written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArgoError {
    /// The object is not an Application, or a field has the wrong shape.
    #[error("Application {name}: {reason}")]
    Malformed {
        /// `namespace/name` of the Application, or `?` when unknown.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A sync operation is already running; Argo CD would reject a second one.
    #[error(
        "Application {name}: an operation is already running (phase {phase}); wait for it to finish"
    )]
    OperationRunning {
        /// `namespace/name` of the Application.
        name: String,
        /// Phase of the running operation.
        phase: String,
    },
}

impl ArgoError {
    /// Whether trying again later can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::OperationRunning { .. })
    }

    /// A low-cardinality label for metrics and Event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Malformed { .. } => "application_malformed",
            Self::OperationRunning { .. } => "operation_running",
        }
    }
}
