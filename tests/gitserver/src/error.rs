//! The one error type of the fixture.

use std::io;

/// Everything that can go wrong while starting servers or driving repositories.
///
/// Messages never contain passwords, passphrases or private keys.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A program the fixture runs is not installed.
    #[error(
        "`{binary}` not found; install the Debian package `{package}` (scripts/test installs it)"
    )]
    MissingBinary {
        /// Program name, e.g. `lighttpd`.
        binary: &'static str,
        /// Debian package that provides it.
        package: &'static str,
    },
    /// The machine is set up in a way the server cannot work with.
    #[error("cannot run {server} here: {problem}")]
    Setup {
        /// `lighttpd` or `sshd`.
        server: &'static str,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// A filesystem or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What the fixture was doing.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A command exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line, with secrets left out.
        command: String,
        /// Exit status as text.
        status: String,
        /// The end of its standard error.
        stderr: String,
    },
    /// A server process exited or never became ready.
    #[error("{server} did not start on 127.0.0.1:{port}: {reason}\n--- {server} log ---\n{log}")]
    ServerStart {
        /// `lighttpd` or `sshd`.
        server: &'static str,
        /// The port it was asked to listen on.
        port: u16,
        /// Why the fixture gave up.
        reason: String,
        /// The end of the server's log.
        log: String,
        /// The port was taken by another process (a fresh port or a later retry helps).
        port_in_use: bool,
    },
    /// An outside-writer push kept losing races against other writers.
    #[error("push of branch `{branch}` to {url} still rejected after {attempts} attempts")]
    PushContention {
        /// Remote URL (never carries credentials).
        url: String,
        /// Branch being pushed.
        branch: String,
        /// How many times the fixture tried.
        attempts: u32,
    },
    /// A caller passed a name or path the fixture refuses.
    #[error("invalid {what} `{value}`: {reason}")]
    Invalid {
        /// Kind of value, e.g. `repository name`.
        what: &'static str,
        /// The value itself.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl Error {
    /// True when trying the same operation again may succeed (port races, push contention).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::ServerStart { port_in_use, .. } => *port_in_use,
            Error::PushContention { .. } => true,
            Error::MissingBinary { .. }
            | Error::Setup { .. }
            | Error::Io { .. }
            | Error::Command { .. }
            | Error::Invalid { .. } => false,
        }
    }

    /// True when a required program is not installed.
    pub fn is_missing_binary(&self) -> bool {
        matches!(self, Error::MissingBinary { .. })
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
