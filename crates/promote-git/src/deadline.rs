//! Deadlines on network operations.
//!
//! Two layers, because no single one covers every wait:
//!
//! - libgit2's socket timeouts (connect, and each read or write) bound every wait on a socket,
//!   for smart HTTP(S) through libgit2's socket stream and for SSH through libssh2's session
//!   timeout. They are the only way to interrupt a read that gets no bytes: callbacks are not
//!   called while libgit2 blocks. libgit2 keeps them in process-wide globals, so they are set
//!   once per process, by the first engine (see [`install`]).
//!   With them, the same way, libgit2's `Expect: 100-continue` on smart HTTP POSTs: the wait
//!   for the server's `100 Continue` is a socket read, bounded by the same read timeout.
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
    /// Whether smart HTTP POSTs send their body only after the server's `100 Continue`. Not a
    /// deadline, but per process like the socket timeouts, so set with them.
    pub expect_continue: bool,
}

impl Limits {
    /// Defaults for tests of the transport, which run without an engine.
    #[cfg(test)]
    pub(crate) const DEFAULT: Limits = Limits {
        connect: Duration::from_secs(10),
        io: Duration::from_secs(60),
        operation: Duration::from_secs(600),
        expect_continue: true,
    };

    /// The process-wide settings in force in this process, with this engine's overall deadline.
    pub(crate) fn effective(self) -> Limits {
        let installed = install(Process {
            connect: self.connect,
            io: self.io,
            expect_continue: self.expect_continue,
        });
        Limits {
            connect: installed.connect,
            io: installed.io,
            operation: self.operation,
            expect_continue: installed.expect_continue,
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

/// libgit2's process-wide network settings that this crate sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Process {
    pub connect: Duration,
    pub io: Duration,
    pub expect_continue: bool,
}

static PROCESS: OnceLock<Process> = OnceLock::new();

/// Sets libgit2's socket timeouts and `Expect: 100-continue` the first time it is called in
/// this process and returns the values in force. A later call with other values keeps the
/// first ones and says so: libgit2 has one setting per process.
pub(crate) fn install(wanted: Process) -> Process {
    let wanted = Process {
        connect: at_least_a_millisecond(wanted.connect),
        io: at_least_a_millisecond(wanted.io),
        ..wanted
    };
    let installed = *PROCESS.get_or_init(|| {
        set_libgit2_options(
            millis(wanted.connect),
            millis(wanted.io),
            wanted.expect_continue,
        );
        wanted
    });
    if installed != wanted {
        warn!(
            connect_ms = millis(installed.connect),
            io_ms = millis(installed.io),
            expect_continue = installed.expect_continue,
            "libgit2's network settings are per process and were already set; keeping them"
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
fn set_libgit2_options(connect_ms: c_int, io_ms: c_int, expect_continue: bool) {
    // libgit2's own HTTP client writes a POST's headers and its body in separate `send`s on a
    // socket without TCP_NODELAY, so Nagle holds the body until the server's delayed ACK of
    // the headers: 40 to 200 ms per negotiation round. With `Expect: 100-continue` the body
    // follows the server's `100 Continue`, which carries that ACK. git2 has no setter for it.
    libgit2_sys::init();
    // SAFETY: the three options write plain globals (two `int`s, one `bool`) that libgit2
    // reads when it opens a socket or an SSH session, or builds an HTTP request; git2 marks
    // its setters unsafe only because the write is not synchronised with those reads. This
    // runs once, inside `PROCESS.get_or_init`, and every libgit2 network call in this crate
    // first goes through `Limits::effective` (via `Session::new`), which waits for that
    // initialisation, so no read can race the write. No other code in Promote opens libgit2
    // network connections. The timeout setters only fail for negative values, which `millis`
    // never produces. `git_libgit2_opts` is variadic: `GIT_OPT_ENABLE_HTTP_EXPECT_CONTINUE`
    // reads exactly one `int` argument (`va_arg(ap, int)` in libgit2's `settings.c`), which is
    // what is passed, and the library was initialised just above, as git2's setters do.
    unsafe {
        let _ = git2::opts::set_server_connect_timeout_in_milliseconds(connect_ms);
        let _ = git2::opts::set_server_timeout_in_milliseconds(io_ms);
        let _ = libgit2_sys::git_libgit2_opts(
            libgit2_sys::GIT_OPT_ENABLE_HTTP_EXPECT_CONTINUE as c_int,
            c_int::from(expect_continue),
        );
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
