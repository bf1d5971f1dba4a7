//! How long the operator waits for anything: the Kubernetes API, git servers, one reconcile,
//! and how long it may go without progress before its liveness probe fails.

use std::time::Duration;

/// Deadlines of the Kubernetes client's connections.
///
/// The read timeout bounds the silence between two reads on one connection, so a hung API
/// server fails a call instead of holding it forever. Watches are long polls that stay silent
/// while nothing changes; to keep them from tripping it, every watch asks the server to end
/// the call a little earlier ([`ApiTimeouts::watch_timeout_secs`]), and the watcher resumes
/// from the last resourceVersion (no relist).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiTimeouts {
    /// Longest TCP and TLS connect.
    pub connect: Duration,
    /// Longest silence while a response is awaited or read (and longest blocked write).
    pub read: Duration,
}

impl Default for ApiTimeouts {
    /// 10 s to connect, 30 s of silence.
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            read: Duration::from_secs(30),
        }
    }
}

impl ApiTimeouts {
    /// Sets these deadlines on a client configuration.
    pub fn apply(&self, config: &mut kube::Config) {
        config.connect_timeout = Some(self.connect);
        config.read_timeout = Some(self.read);
        config.write_timeout = Some(self.read);
        // Count from the request, not from when a pooled connection went idle.
        config.reset_reader_on_write = true;
    }

    /// The server-side timeout of watch calls: shorter than the read timeout, so an idle
    /// watch is closed by the server (and resumed) before the client would call it dead.
    pub fn watch_timeout_secs(&self) -> u32 {
        let read = self.read.as_secs();
        let margin = (read / 6).max(5);
        let secs = if read > margin {
            read - margin
        } else {
            read / 2
        };
        u32::try_from(secs.max(1)).unwrap_or(u32::MAX)
    }
}

/// What one replica waits for, and how long it may go without progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// The Kubernetes client's deadlines (used here for the watch calls' server-side timeout;
    /// the client itself is built by the caller, see [`ApiTimeouts::apply`]).
    pub api: ApiTimeouts,
    /// Longest TCP connect to a git server.
    pub git_connect: Duration,
    /// Longest stall of one git network operation.
    pub git_io: Duration,
    /// Longest one reconcile may run; then it is abandoned and retried with backoff. Also the
    /// longest one git network operation may take in all, so none outlives its reconcile by much.
    pub reconcile: Duration,
    /// Longest time without a completed reconcile, while reconciles run or wait to be
    /// retried, before `/healthz` fails.
    pub stall: Duration,
}

impl Default for Deadlines {
    /// The API defaults, git 10 s to connect and 60 s of silence, 5 min per reconcile, and
    /// 5 min without progress.
    fn default() -> Self {
        Self {
            api: ApiTimeouts::default(),
            git_connect: Duration::from_secs(10),
            git_io: Duration::from_secs(60),
            reconcile: Duration::from_secs(300),
            stall: Duration::from_secs(300),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_end_before_the_read_timeout() {
        for (read, watch) in [(30, 25), (60, 50), (300, 250), (8, 3), (2, 1), (1, 1)] {
            let t = ApiTimeouts {
                connect: Duration::from_secs(1),
                read: Duration::from_secs(read),
            };
            assert_eq!(t.watch_timeout_secs(), watch, "read timeout {read}s");
            assert!(u64::from(t.watch_timeout_secs()) < read.max(2));
        }
    }

    #[test]
    fn applies_to_a_client_config() {
        let mut config = kube::Config::new("https://127.0.0.1:6443".parse().expect("uri"));
        ApiTimeouts::default().apply(&mut config);
        assert_eq!(config.connect_timeout, Some(Duration::from_secs(10)));
        assert_eq!(config.read_timeout, Some(Duration::from_secs(30)));
        assert!(config.reset_reader_on_write);
    }
}
