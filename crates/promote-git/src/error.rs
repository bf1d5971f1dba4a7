//! The engine's error type: what went wrong and whether trying again can help.

use std::fmt;
use std::time::Duration;

/// Why an SSH host key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyProblem {
    /// No known_hosts entry and no pinned key names this host.
    Unknown,
    /// known_hosts (or the pinned key) names this host with a different key.
    Changed,
    /// known_hosts marks the presented key as revoked.
    Revoked,
}

impl fmt::Display for HostKeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unknown => "the host is not in known_hosts and no host key is pinned",
            Self::Changed => {
                "the host presented a key that differs from known_hosts or the pinned key"
            }
            Self::Revoked => "the host presented a key that known_hosts marks as revoked",
        })
    }
}

/// An error from the Git engine. Messages never contain credentials; URLs are shown without
/// userinfo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GitError {
    /// The remote could not be reached or the transfer broke off.
    #[error("cannot reach {repo}: {message}")]
    Network {
        /// The repository URL, without userinfo.
        repo: String,
        /// What the transport reported.
        message: String,
    },
    /// Other writers kept moving the branch; every attempt to push lost the race.
    #[error(
        "push to {repo} branch {branch} lost the race with other writers {attempts} times in a row"
    )]
    NonFastForward {
        /// The repository URL, without userinfo.
        repo: String,
        /// The branch pushed to.
        branch: String,
        /// How many attempts were made.
        attempts: u32,
    },
    /// The server refused the credentials, or asked for credentials when none were configured.
    #[error("authentication to {repo} failed: {message}")]
    Auth {
        /// The repository URL, without userinfo.
        repo: String,
        /// What failed, without the secret.
        message: String,
    },
    /// The SSH host key could not be verified.
    #[error("SSH host key of {host} refused: {problem}")]
    HostKey {
        /// `host` or `[host]:port`, as known_hosts names it.
        host: String,
        /// Why it was refused.
        problem: HostKeyProblem,
    },
    /// The repository, branch or file does not exist.
    #[error("{what} not found in {repo}")]
    NotFound {
        /// The repository URL, without userinfo.
        repo: String,
        /// What is missing (repository, branch, file).
        what: String,
    },
    /// A path escapes the repository or leads through something that is not a plain directory.
    #[error("refusing path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why it is refused.
        reason: String,
    },
    /// The values editor refused to read or edit the file; nothing was written.
    #[error("cannot edit {path}: {message}")]
    InvalidValues {
        /// The values file.
        path: String,
        /// The editor's explanation.
        message: String,
    },
    /// The server declined the update for a reason other than a race (hook, protected branch).
    #[error("{repo} rejected the push to {branch}: {reason}")]
    PushRejected {
        /// The repository URL, without userinfo.
        repo: String,
        /// The branch pushed to.
        branch: String,
        /// The server's reason.
        reason: String,
    },
    /// The request itself is malformed (field counts, branch name, empty fields).
    #[error("invalid promotion request: {0}")]
    InvalidRequest(String),
    /// The local repository cache could not be created, locked or opened.
    #[error("repository cache at {path}: {message}")]
    Cache {
        /// The cache directory.
        path: String,
        /// What failed.
        message: String,
    },
    /// Any other libgit2 failure.
    #[error("git operation on {repo} failed: {message}")]
    Git {
        /// The repository URL, without userinfo.
        repo: String,
        /// What libgit2 reported.
        message: String,
    },
    /// The remote did not answer in time: connecting, a transfer that made no progress, or the
    /// whole operation ran past its deadline. Nothing was pushed unless the server had
    /// already received the whole push.
    #[error("timed out after {}s talking to {host}", seconds(*after))]
    Timeout {
        /// `host` or `host:port`, without userinfo.
        host: String,
        /// The deadline that ran out.
        after: Duration,
    },
    /// The commit could not be signed with the remote's signing key; nothing was committed.
    #[error("cannot sign the commit for {repo}: {source}")]
    Signing {
        /// The repository URL, without userinfo.
        repo: String,
        /// Why.
        source: crate::SigningKeyError,
    },
    /// The fence refused the push (this process is no longer allowed to write); nothing was
    /// pushed.
    #[error("push fenced off: {reason}")]
    Fenced {
        /// Why the fence refused.
        reason: String,
    },
}

/// Seconds as a person reads them: `10`, `1.5`, `0.25`.
fn seconds(d: Duration) -> String {
    let text = format!("{:.3}", d.as_secs_f64());
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl GitError {
    /// Whether the same request may succeed later without anyone changing anything.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Network { .. }
            | Self::NonFastForward { .. }
            | Self::Cache { .. }
            | Self::Git { .. }
            | Self::Timeout { .. } => true,
            Self::Auth { .. }
            | Self::HostKey { .. }
            | Self::NotFound { .. }
            | Self::InvalidPath { .. }
            | Self::InvalidValues { .. }
            | Self::PushRejected { .. }
            | Self::InvalidRequest(_)
            | Self::Signing { .. }
            | Self::Fenced { .. } => false,
        }
    }

    /// A low-cardinality label for metrics and Event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Network { .. } => "network",
            Self::NonFastForward { .. } => "non_fast_forward",
            Self::Auth { .. } => "auth",
            Self::HostKey { .. } => "host_key",
            Self::NotFound { .. } => "not_found",
            Self::InvalidPath { .. } => "invalid_path",
            Self::InvalidValues { .. } => "invalid_values",
            Self::PushRejected { .. } => "push_rejected",
            Self::InvalidRequest(_) => "invalid_request",
            Self::Cache { .. } => "cache",
            Self::Git { .. } => "git",
            Self::Timeout { .. } => "timeout",
            Self::Signing { .. } => "signing",
            Self::Fenced { .. } => "fenced",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_classification_matches_categories() {
        let net = GitError::Network {
            repo: "r".into(),
            message: "refused".into(),
        };
        let auth = GitError::Auth {
            repo: "r".into(),
            message: "bad".into(),
        };
        let path = GitError::InvalidPath {
            path: "../x".into(),
            reason: "parent".into(),
        };
        assert!(net.is_retryable());
        assert!(!auth.is_retryable());
        assert!(!path.is_retryable());
        assert_eq!(net.category(), "network");
        assert_eq!(auth.category(), "auth");
        assert_eq!(path.category(), "invalid_path");
    }

    #[test]
    fn timeouts_say_how_long_and_to_whom() {
        let long = GitError::Timeout {
            host: "git.example.com:443".into(),
            after: Duration::from_secs(60),
        };
        assert_eq!(
            long.to_string(),
            "timed out after 60s talking to git.example.com:443"
        );
        assert!(long.is_retryable());
        assert_eq!(long.category(), "timeout");
        let short = GitError::Timeout {
            host: "h".into(),
            after: Duration::from_millis(1500),
        };
        assert_eq!(short.to_string(), "timed out after 1.5s talking to h");
    }

    #[test]
    fn a_fenced_push_is_not_retried_here() {
        let fenced = GitError::Fenced {
            reason: "lease lost".into(),
        };
        assert!(!fenced.is_retryable());
        assert_eq!(fenced.category(), "fenced");
        assert_eq!(fenced.to_string(), "push fenced off: lease lost");
    }
}
