//! How a test configures the simulator: namespaces, timing, git credentials.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// A secret string (password or token). Its `Debug` output never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for handing to git through its environment only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How the simulator authenticates to a git server, like an Argo CD repository secret.
#[derive(Clone, Debug)]
pub enum GitAuth {
    /// HTTP(S) basic authentication (username and password or token).
    Basic {
        /// User name.
        username: String,
        /// Password or token; handed to git through a credential helper, never on a command line.
        password: Secret,
    },
    /// SSH with a private key file (no passphrase: git runs non-interactively).
    Ssh {
        /// Path of the private key.
        private_key: PathBuf,
        /// A known_hosts file checked strictly; `None` accepts any host key (loopback tests only).
        known_hosts: Option<PathBuf>,
    },
}

/// The simulator's settings. Start from [`SimulatorConfig::new`] and adjust.
#[derive(Clone, Debug)]
pub struct SimulatorConfig {
    /// Namespaces whose Applications the simulator manages; empty means all namespaces.
    pub namespaces: Vec<String>,
    /// Pause between two reconcile rounds (Argo CD reacts to watches; we poll).
    pub poll_interval: Duration,
    /// How long a new rollout stays `Progressing` before it turns `Healthy` (or `Degraded`).
    pub health_delay: Duration,
    /// While a rollout is `Progressing`, `summary.images` lists the old images next to the new
    /// ones, as Argo CD does while old Pods still run.
    pub show_old_images_while_progressing: bool,
    /// Limit for any single git command.
    pub git_timeout: Duration,
    /// Credentials by repository URL prefix; the longest matching prefix wins.
    pub git_auth: Vec<(String, GitAuth)>,
}

impl SimulatorConfig {
    /// Defaults: poll every 200 ms, healthy 500 ms after a rollout, old images shown while
    /// progressing, git commands limited to 60 s, no credentials.
    pub fn new<I, S>(namespaces: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            namespaces: namespaces.into_iter().map(Into::into).collect(),
            poll_interval: Duration::from_millis(200),
            health_delay: Duration::from_millis(500),
            show_old_images_while_progressing: true,
            git_timeout: Duration::from_secs(60),
            git_auth: Vec::new(),
        }
    }

    /// Sets the pause between reconcile rounds.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Sets how long a rollout stays `Progressing`.
    pub fn health_delay(mut self, delay: Duration) -> Self {
        self.health_delay = delay;
        self
    }

    /// Turns the old-and-new image list during a rollout on or off.
    pub fn show_old_images_while_progressing(mut self, show: bool) -> Self {
        self.show_old_images_while_progressing = show;
        self
    }

    /// Uses `auth` for repositories whose URL starts with `url_prefix`.
    pub fn git_auth(mut self, url_prefix: impl Into<String>, auth: GitAuth) -> Self {
        self.git_auth.push((url_prefix.into(), auth));
        self
    }

    /// The credentials for `url`: the longest matching prefix.
    pub(crate) fn auth_for(&self, url: &str) -> Option<&GitAuth> {
        self.git_auth
            .iter()
            .filter(|(prefix, _)| url.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, auth)| auth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let config = SimulatorConfig::new(["ns"]).git_auth(
            "http://127.0.0.1",
            GitAuth::Basic {
                username: "ci".into(),
                password: Secret::new("hunter2"),
            },
        );
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("ci"));
    }

    #[test]
    fn the_longest_prefix_wins() {
        let config = SimulatorConfig::new(Vec::<String>::new())
            .git_auth(
                "http://127.0.0.1:1/",
                GitAuth::Basic {
                    username: "short".into(),
                    password: Secret::new("a"),
                },
            )
            .git_auth(
                "http://127.0.0.1:1/team/",
                GitAuth::Basic {
                    username: "long".into(),
                    password: Secret::new("b"),
                },
            );
        let user = |url: &str| match config.auth_for(url) {
            Some(GitAuth::Basic { username, .. }) => Some(username.clone()),
            _ => None,
        };
        assert_eq!(
            user("http://127.0.0.1:1/team/web.git").as_deref(),
            Some("long")
        );
        assert_eq!(
            user("http://127.0.0.1:1/other.git").as_deref(),
            Some("short")
        );
        assert_eq!(user("file:///tmp/x.git"), None);
    }
}
