//! The one error type of the simulator.

use std::time::Duration;

/// Everything that can go wrong while simulating Argo CD or waiting on an Application.
///
/// Messages never contain passwords or private keys: git output is redacted before it is
/// stored here.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes API call failed.
    #[error("{context}: {source}")]
    Kube {
        /// What the simulator was doing.
        context: String,
        /// The client error.
        #[source]
        source: Box<kube::Error>,
    },
    /// A git command exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    Git {
        /// The command line, with credentials left out.
        command: String,
        /// Exit status as text.
        status: String,
        /// The end of its standard error, redacted.
        stderr: String,
    },
    /// A git command could not be started, or did not finish in time.
    #[error("`{command}`: {reason}")]
    GitRun {
        /// The command line, with credentials left out.
        command: String,
        /// Why it did not run to the end.
        reason: String,
    },
    /// A revision does not exist in the repository.
    #[error("revision {revision} not found in {repo}")]
    RevisionNotFound {
        /// Repository URL, credentials left out.
        repo: String,
        /// The revision asked for.
        revision: String,
    },
    /// The Application's spec cannot be simulated (missing source, unsupported field).
    #[error("{0}")]
    InvalidSpec(String),
    /// A values file is missing or not valid YAML, so nothing can be rendered.
    #[error("{0}")]
    Render(String),
    /// A filesystem operation of the git cache failed.
    #[error("{context}: {source}")]
    Io {
        /// What the simulator was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `wait_for` gave up.
    #[error(
        "Application {app}: condition not met within {timeout:?}; last seen: {last}{}",
        recent_errors_suffix(.recent_errors)
    )]
    WaitTimeout {
        /// `namespace/name`.
        app: String,
        /// How long the caller waited.
        timeout: Duration,
        /// A summary of the last state seen, or `not found`.
        last: String,
        /// The simulator's most recent reconcile errors, to explain a stall.
        recent_errors: Vec<String>,
    },
    /// The simulator's task is gone (stopped, or panicked).
    #[error("the Argo CD simulator is not running")]
    Stopped,
}

fn recent_errors_suffix(errors: &[String]) -> String {
    if errors.is_empty() {
        String::new()
    } else {
        format!("; simulator errors: {}", errors.join(" | "))
    }
}

impl Error {
    pub(crate) fn kube(context: impl Into<String>, source: kube::Error) -> Self {
        Self::Kube {
            context: context.into(),
            source: Box::new(source),
        }
    }

    /// Whether trying again (next round, or after re-reading the object) can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Kube { source, .. } => match source.as_ref() {
                kube::Error::Api(status) => status.code == 409 || status.code >= 500,
                _ => true,
            },
            Self::Git { .. } | Self::GitRun { .. } | Self::Io { .. } => true,
            // A later commit may add the revision or fix the file.
            Self::RevisionNotFound { .. } | Self::Render(_) => true,
            Self::InvalidSpec(_) | Self::WaitTimeout { .. } | Self::Stopped => false,
        }
    }

    /// Whether this is the API server rejecting a write made on a stale resourceVersion.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Kube { source, .. }
            if matches!(source.as_ref(), kube::Error::Api(s) if s.code == 409))
    }

    /// A low-cardinality label, for logs.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Kube { .. } => "kube",
            Self::Git { .. } | Self::GitRun { .. } => "git",
            Self::RevisionNotFound { .. } => "revision_not_found",
            Self::InvalidSpec(_) => "invalid_spec",
            Self::Render(_) => "render",
            Self::Io { .. } => "io",
            Self::WaitTimeout { .. } => "wait_timeout",
            Self::Stopped => "stopped",
        }
    }
}

/// Result with the simulator's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
