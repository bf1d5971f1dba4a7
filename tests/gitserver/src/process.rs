//! One server process: spawn, wait until ready, stop by PID, reap; and the fixture's one
//! polling loop.

use std::ffi::OsString;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

use crate::cmd::tail;
use crate::error::{Error, Result};

/// How long a server may take to come up on a loaded two-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// How often a starting server's log and exit status are checked.
const START_POLL: Duration = Duration::from_millis(10);

/// How long `stop` lets the server's children (finishing connections, CGI) end on their own.
const STOP_GRACE: Duration = Duration::from_millis(300);

/// How often `stop` looks whether those children have ended.
const STOP_POLL: Duration = Duration::from_millis(5);

/// Calls `check` every `interval` until it returns `Some`, or `None` once `timeout` has passed.
///
/// The fixture's one polling loop. It blocks: this crate has no async runtime, and it must
/// not depend on `promote-testsupport`, whose async `wait_until` the test suites use.
pub(crate) fn poll_until<T>(
    timeout: Duration,
    interval: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(done) = check() {
            return Some(done);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        std::thread::sleep(interval.min(left));
    }
}

/// Asks the kernel for a free port on 127.0.0.1.
///
/// The port is released before the server binds it, so another process may take it first;
/// callers retry with a new port when the server reports "Address already in use".
pub(crate) fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| Error::io("binding 127.0.0.1:0", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::io("reading local address", e))?
        .port();
    Ok(port)
}

/// A long-running server the fixture owns. Dropping it kills and reaps the process.
#[derive(Debug)]
pub(crate) struct ServerProcess {
    name: &'static str,
    program: PathBuf,
    args: Vec<OsString>,
    log_path: PathBuf,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    child: Option<Child>,
    /// Length of the log when the current process was spawned.
    log_offset: u64,
}

impl ServerProcess {
    /// Describes a server; nothing runs until [`ServerProcess::start`].
    pub(crate) fn new(
        name: &'static str,
        program: PathBuf,
        args: Vec<OsString>,
        log_path: PathBuf,
    ) -> Self {
        ServerProcess {
            name,
            program,
            args,
            log_path,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state usable: it is only a Child handle.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Spawns the server unless it runs already, then polls `ready` with the log written since.
    pub(crate) fn start(&self, port: u16, ready: &mut dyn FnMut(&str) -> bool) -> Result<()> {
        let mut state = self.state();
        if let Some(child) = state.child.as_mut()
            && matches!(child.try_wait(), Ok(None))
        {
            return Ok(());
        }
        state.child = None;
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|e| Error::io(format!("opening {}", self.log_path.display()), e))?;
        state.log_offset = log
            .metadata()
            .map_err(|e| Error::io(format!("reading {}", self.log_path.display()), e))?
            .len();
        let log_err = log
            .try_clone()
            .map_err(|e| Error::io("duplicating log handle", e))?;
        let child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| Error::io(format!("starting {}", self.program.display()), e))?;
        state.child = Some(child);

        let offset = state.log_offset;
        let outcome = poll_until(START_TIMEOUT, START_POLL, || {
            let since = self.read_log(offset);
            let exited = match state.child.as_mut().map(Child::try_wait) {
                Some(Ok(Some(status))) => Some(status.to_string()),
                Some(Err(e)) => Some(e.to_string()),
                _ => None,
            };
            match exited {
                Some(status) => Some(Err((format!("exited ({status})"), since))),
                None => ready(&since).then_some(Ok(())),
            }
        });
        match outcome {
            Some(Ok(())) => Ok(()),
            Some(Err((reason, since))) => {
                state.child = None;
                Err(self.start_error(port, reason, &since))
            }
            None => {
                Self::kill(&mut state);
                let reason = format!("not ready after {}s", START_TIMEOUT.as_secs());
                Err(self.start_error(port, reason, &self.read_log(offset)))
            }
        }
    }

    fn start_error(&self, port: u16, reason: String, log: &str) -> Error {
        Error::ServerStart {
            server: self.name,
            port,
            reason,
            log: tail(log, 4000),
            port_in_use: log.contains("Address already in use"),
        }
    }

    /// Kills the server and the processes it started (SIGKILL, by PID) and reaps it.
    /// Stopping a stopped server is a no-op.
    pub(crate) fn stop(&self) {
        Self::kill(&mut self.state());
    }

    fn kill(state: &mut State) {
        let Some(mut child) = state.child.take() else {
            return;
        };
        if matches!(child.try_wait(), Ok(None)) {
            let pid = child.id();
            // Connections that just ended are still being torn down; let them finish so they
            // are reaped by the server, not orphaned.
            poll_until(STOP_GRACE, STOP_POLL, || {
                live_descendants(pid).is_empty().then_some(())
            });
            // Listed before the server dies: afterwards they are re-parented and untraceable.
            let leftovers = live_descendants(pid);
            // Fails only when the process is already gone; wait() reaps it either way.
            let _ = child.kill();
            for pid in leftovers {
                if let Ok(pid) = i32::try_from(pid) {
                    let _ = signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
        }
        let _ = child.wait();
    }

    /// True while the process is alive.
    pub(crate) fn is_running(&self) -> bool {
        let mut state = self.state();
        state
            .child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The process id while running.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.state().child.as_ref().map(Child::id)
    }

    /// Everything the server wrote to its log so far.
    pub(crate) fn log(&self) -> String {
        self.read_log(0)
    }

    fn read_log(&self, offset: u64) -> String {
        let mut text = Vec::new();
        if let Ok(mut file) = fs::File::open(&self.log_path)
            && file.seek(SeekFrom::Start(offset)).is_ok()
        {
            let _ = file.read_to_end(&mut text);
        }
        String::from_utf8_lossy(&text).into_owned()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts a server on a fresh free port, trying again with another port if one was taken.
///
/// `launch` writes the configuration for the port and starts the process.
pub(crate) fn start_on_free_port<T>(mut launch: impl FnMut(u16) -> Result<T>) -> Result<T> {
    const ATTEMPTS: u32 = 5;
    let mut attempt = 1;
    loop {
        match launch(free_port()?) {
            Err(e) if e.is_retryable() && attempt < ATTEMPTS => attempt += 1,
            other => return other,
        }
    }
}

/// Living (not zombie) descendants of `root`, found through `/proc`.
fn live_descendants(root: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let table: Vec<(u32, u32, bool)> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (state, ppid) = parse_stat(&stat)?;
            Some((pid, ppid, state == 'Z'))
        })
        .collect();
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid, zombie) in &table {
            if ppid == parent && !found.contains(&pid) {
                frontier.push(pid);
                if !zombie {
                    found.push(pid);
                }
            }
        }
    }
    found
}

/// State and parent PID from `/proc/<pid>/stat` (`pid (comm) state ppid …`; comm may hold
/// spaces and parentheses, so parse after the last `)`).
fn parse_stat(stat: &str) -> Option<(char, u32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_names() {
        let stat = "4242 (sshd: a (b) c) S 17 4242 4242 0 -1 4194560";
        assert_eq!(parse_stat(stat), Some(('S', 17)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn finds_own_children() {
        let mut child = Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let me = std::process::id();
        assert!(live_descendants(me).contains(&child.id()));
        child.kill().expect("kill");
        child.wait().expect("reap");
        assert!(!live_descendants(me).contains(&child.id()));
    }
}
