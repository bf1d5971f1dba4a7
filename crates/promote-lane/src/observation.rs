//! What the lane is decided on: the observation the controller gathers (Git, both
//! Applications, the previous status, the clock), and failures as classified data.

use jiff::Timestamp;
use promote_api::PromotionStatus;
use promote_argocd::Application;

use crate::spec::LaneSpec;

/// Everything the decision needs, gathered by the observe step.
#[derive(Debug, Clone)]
pub struct Observation {
    /// The clock, read once.
    pub now: Timestamp,
    /// `metadata.generation` of the Promotion.
    pub generation: Option<i64>,
    /// `namespace/name` of the Promotion.
    pub key: String,
    /// The Promotion's spec, validated.
    pub spec: LaneSpec,
    /// The status as last written.
    pub previous: PromotionStatus,
    /// What Git holds, or why it could not be read.
    pub git: Result<GitView, Failure>,
    /// The source environment's Application.
    pub source_app: AppView,
    /// The target environment's Application.
    pub target_app: AppView,
    /// The upstream lane named by `spec.after`.
    pub upstream: Upstream,
}

/// The upstream lane (`spec.after`) as observed.
#[derive(Debug, Clone, PartialEq)]
pub enum Upstream {
    /// The lane follows no other.
    NotConfigured,
    /// The named Promotion does not exist.
    Missing(String),
    /// Its name and status.
    Found {
        /// Its name.
        name: String,
        /// Its status.
        status: Box<PromotionStatus>,
    },
    /// It could not be read.
    Error(Failure),
}

/// The release values files as read at the branch tip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitView {
    /// The branch tip the files were read at.
    pub revision: String,
    /// The source file's field values, in `spec.fields` order, or why they could not be read.
    pub source: Result<Vec<String>, Failure>,
    /// The target file's field values.
    pub target: Result<Vec<String>, Failure>,
    /// The source file's field values at the revision the source Application is synced at,
    /// when it is synced at a revision known to the cache.
    pub source_at_synced: Option<Vec<String>>,
    /// Who last changed the target's version, when it no longer holds the version this lane
    /// last promoted (`<commit> (<author>, <summary>)`).
    pub target_changed_by: Option<String>,
    /// Whether the target Application's synced revision contains the in-flight promotion's
    /// commit (the commit or a descendant of it). None when there is nothing to check.
    pub in_flight_synced: Option<bool>,
    /// The configuration files compared for parity, when the lane names them and they were
    /// read this time.
    pub config: ConfigFiles,
}

/// The environments' configuration files (`configFile`), as read for the parity check.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ConfigFiles {
    /// Not read: the lane compares none, or nothing changed since the last comparison
    /// (`status.parity` is kept as it is).
    #[default]
    NotRead,
    /// Both files' text at the branch tip, or why each could not be read.
    Read {
        /// The source's configuration file.
        source: Result<String, Failure>,
        /// The target's configuration file.
        target: Result<String, Failure>,
    },
}

/// An error from a step, classified so the decision can report it well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What went wrong, safe to show (no credentials).
    pub message: String,
    /// A low-cardinality reason, used as the condition reason and Event reason.
    pub reason: &'static str,
    /// Whether trying again later can succeed without a spec change.
    pub retryable: bool,
}

impl Failure {
    /// A failure that will not go away until the spec (or the repository) changes.
    pub fn permanent(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            reason,
            retryable: false,
        }
    }

    /// A failure that may go away by itself.
    pub fn transient(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            reason,
            retryable: true,
        }
    }
}

/// An environment's Argo CD Application as observed.
#[derive(Debug, Clone, PartialEq)]
pub enum AppView {
    /// The lane names no Application for this environment.
    NotConfigured,
    /// The named Application does not exist.
    Missing(String),
    /// The Application, read.
    Found(Box<Application>),
    /// It could not be read.
    Error(Failure),
}

impl AppView {
    /// The Application, when it was read.
    pub fn app(&self) -> Option<&Application> {
        match self {
            Self::Found(app) => Some(app),
            _ => None,
        }
    }
}
