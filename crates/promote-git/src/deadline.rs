//! Deadlines on network operations.
//!
//! Two layers, because no single one covers every wait:
//!
//! - libgit2's socket timeouts (connect, and each read or write) bound every wait on a socket,
//!   for smart HTTP(S) through libgit2's socket stream and for SSH through libssh2's session
//!   timeout. They are the only way to interrupt a read that gets no bytes: callbacks are not
//!   called while libgit2 blocks. libgit2 keeps them in process-wide globals, so they are set
//!   once per process, by the first engine (see [`install`]).
//! - An overall deadline per operation, checked in the callbacks that libgit2 calls while data
//!   flows (transfer and sideband progress, credentials, certificates, push negotiation), so a
//!   server that trickles bytes cannot keep an operation going forever.

use std::ffi::c_int;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tracing::warn;

/// The deadlines one engine asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Establishing a TCP connection.
    pub connect: Duration,
    /// A socket read or write that makes no progress.
    pub io: Duration,
    /// One whole operation (a head check, a fetch, a push).
    pub operation: Duration,
}

impl Limits {
    /// Defaults for tests of the transport, which run without an engine.
    #[cfg(test)]
    pub(crate) const DEFAULT: Limits = Limits {
        connect: Duration::from_secs(10),
        io: Duration::from_secs(60),
        operation: Duration::from_secs(600),
    };

    /// The socket timeouts in force in this process, with this engine's overall deadline.
    pub(crate) fn effective(self) -> Limits {
        let (connect, io) = install(self.connect, self.io);
        Limits {
            connect,
            io,
            operation: self.operation,
        }
    }
}

/// When an operation must end.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    at: Instant,
    after: Duration,
}

impl Deadline {
    /// A deadline `after` from now.
    pub(crate) fn after(after: Duration) -> Self {
        Self {
            at: Instant::now() + after,
            after,
        }
    }

    /// Whether it has passed.
    pub(crate) fn passed(&self) -> bool {
        Instant::now() >= self.at
    }

    /// How long the operation was given.
    pub(crate) fn budget(&self) -> Duration {
        self.after
    }
}

static SOCKET_TIMEOUTS: OnceLock<(Duration, Duration)> = OnceLock::new();

/// Sets libgit2's socket timeouts the first time it is called in this process and returns the
/// values in force. A later call with other values keeps the first ones and says so: libgit2
/// has one setting per process.
pub(crate) fn install(connect: Duration, io: Duration) -> (Duration, Duration) {
    let (connect, io) = (at_least_a_millisecond(connect), at_least_a_millisecond(io));
    let installed = *SOCKET_TIMEOUTS.get_or_init(|| {
        set_socket_timeouts(millis(connect), millis(io));
        (connect, io)
    });
    if installed != (connect, io) {
        warn!(
            connect_ms = millis(installed.0),
            io_ms = millis(installed.1),
            "libgit2 socket timeouts are per process and were already set; keeping them"
        );
    }
    installed
}

/// Zero would switch libgit2's timeouts off.
fn at_least_a_millisecond(d: Duration) -> Duration {
    d.max(Duration::from_millis(1))
}

fn millis(d: Duration) -> c_int {
    c_int::try_from(d.as_millis()).unwrap_or(c_int::MAX)
}

/// The one place this crate calls unsafe code.
#[allow(unsafe_code)]
fn set_socket_timeouts(connect_ms: c_int, io_ms: c_int) {
    // SAFETY: the two setters write plain `int` globals that libgit2 reads when it opens a
    // socket or an SSH session; git2 marks them unsafe only because the write is not
    // synchronised with those reads. This runs once, inside `SOCKET_TIMEOUTS.get_or_init`, and
    // every libgit2 network call in this crate first goes through `Limits::effective` (via
    // `Session::new`), which waits for that initialisation, so no read can race the write. No
    // other code in Promote opens libgit2 network connections. Both setters only fail for
    // negative values, which `millis` never produces.
    unsafe {
        let _ = git2::opts::set_server_connect_timeout_in_milliseconds(connect_ms);
        let _ = git2::opts::set_server_timeout_in_milliseconds(io_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_knows_its_budget() {
        let d = Deadline::after(Duration::ZERO);
        assert!(d.passed());
        assert_eq!(d.budget(), Duration::ZERO);
        assert!(!Deadline::after(Duration::from_secs(60)).passed());
    }

    #[test]
    fn zero_never_disables_libgit2_timeouts() {
        assert_eq!(
            at_least_a_millisecond(Duration::ZERO),
            Duration::from_millis(1)
        );
        assert_eq!(millis(Duration::from_secs(u64::MAX)), c_int::MAX);
    }
}
