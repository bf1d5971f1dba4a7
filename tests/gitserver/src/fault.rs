//! Network faults on loopback: a server that accepts and never answers ([`Blackhole`]), and a
//! TCP proxy in front of a real server that can hang, cut or truncate the traffic on demand
//! ([`FaultProxy`]). Plain TCP, so it serves git over HTTP or SSH and the Kubernetes API (TLS
//! passes through untouched).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use crate::error::{Error, Result};

/// How often idle threads look at the stop and fault flags.
const TICK: Duration = Duration::from_millis(20);

/// A server that accepts connections and never sends a byte; it reads and discards what it
/// is sent, so a client's writes do not fail either. Stopped when dropped.
#[derive(Debug)]
pub struct Blackhole {
    addr: SocketAddr,
    accepted: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Blackhole {
    /// Listens on `127.0.0.1:<free port>`.
    pub fn start() -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| Error::io("bind", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("local_addr", e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::io("set_nonblocking", e))?;
        let (accepted, stop) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let (count, halt) = (accepted.clone(), stop.clone());
        thread::spawn(move || {
            let mut held = Vec::new();
            while !halt.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        count.fetch_add(1, Ordering::Relaxed);
                        let _ = stream.set_read_timeout(Some(TICK));
                        held.push(stream);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(TICK),
                    Err(_) => break,
                }
                let mut sink = [0_u8; 4096];
                held.retain_mut(|s| match s.read(&mut sink) {
                    Ok(0) => false,
                    Ok(_) => true,
                    Err(e) => matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
                });
            }
        });
        Ok(Self {
            addr,
            accepted,
            stop,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many connections it has accepted: the positive signal that a client reached it.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for Blackhole {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// What the proxy does to traffic right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Forward both ways.
    Forward,
    /// Keep connections open, forward nothing (the peer hangs).
    Hang,
    /// Close every connection and refuse new ones.
    Cut,
}

#[derive(Debug)]
struct State {
    mode: Mutex<Mode>,
    changed: Condvar,
    /// Close a connection once this many bytes came back from the server on it.
    truncate_after: Mutex<Option<u64>>,
    connections: AtomicU64,
    stop: AtomicBool,
}

impl State {
    fn mode(&self) -> Mode {
        *self
            .mode
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set(&self, mode: Mode) {
        *self
            .mode
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = mode;
        self.changed.notify_all();
    }

    /// Blocks while hanging; false when the connection must close.
    fn may_forward(&self) -> bool {
        let mut mode = self
            .mode
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return false;
            }
            match *mode {
                Mode::Forward => return true,
                Mode::Cut => return false,
                Mode::Hang => {
                    mode = self
                        .changed
                        .wait_timeout(mode, TICK)
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .0;
                }
            }
        }
    }
}

/// A TCP proxy on `127.0.0.1:<free port>` in front of `upstream`. Forwards by default;
/// [`hang`](Self::hang) stops forwarding with connections left open, [`cut`](Self::cut)
/// closes them and refuses new ones, [`truncate_after`](Self::truncate_after) closes a
/// connection mid-response. Stopped when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<State>,
}

impl FaultProxy {
    /// Starts forwarding to `upstream`.
    pub fn start(upstream: SocketAddr) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| Error::io("bind", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("local_addr", e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::io("set_nonblocking", e))?;
        let state = Arc::new(State {
            mode: Mutex::new(Mode::Forward),
            changed: Condvar::new(),
            truncate_after: Mutex::new(None),
            connections: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let shared = state.clone();
        thread::spawn(move || accept_loop(&listener, upstream, &shared));
        Ok(Self { addr, state })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::Relaxed)
    }

    /// Stops forwarding; connections stay open, so peers wait without an error.
    pub fn hang(&self) {
        self.state.set(Mode::Hang);
    }

    /// Closes every connection and refuses new ones (a server that is down).
    pub fn cut(&self) {
        self.state.set(Mode::Cut);
    }

    /// Forwards again.
    pub fn resume(&self) {
        self.state.set(Mode::Forward);
    }

    /// From now on, closes each connection once `bytes` came back from the server on it (a
    /// transfer cut mid-pack); None forwards whole responses again.
    pub fn truncate_after(&self, bytes: Option<u64>) {
        *self
            .state
            .truncate_after
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = bytes;
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::Relaxed);
        self.state.changed.notify_all();
    }
}

fn accept_loop(listener: &TcpListener, upstream: SocketAddr, state: &Arc<State>) {
    while !state.stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((client, _)) if state.mode() == Mode::Cut => {
                let _ = client.shutdown(Shutdown::Both);
            }
            Ok((client, _)) => {
                state.connections.fetch_add(1, Ordering::Relaxed);
                let Ok(server) = TcpStream::connect(upstream) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let limit = *state
                    .truncate_after
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                pipe(&client, &server, state, None);
                pipe(&server, &client, state, limit);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(TICK),
            Err(_) => return,
        }
    }
}

/// Copies `from` → `to` on a thread of its own, obeying the proxy's mode; closes both sides
/// when either ends, when the proxy cuts or stops, or after `limit` bytes.
fn pipe(from: &TcpStream, to: &TcpStream, state: &Arc<State>, limit: Option<u64>) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    let state = state.clone();
    thread::spawn(move || {
        let _ = from.set_read_timeout(Some(TICK));
        let mut sent = 0_u64;
        let mut buf = [0_u8; 16 * 1024];
        loop {
            if !state.may_forward() {
                break;
            }
            let n = match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    continue;
                }
                Err(_) => break,
            };
            let allowed = limit.map_or(n as u64, |l| (l.saturating_sub(sent)).min(n as u64));
            let allowed = usize::try_from(allowed).unwrap_or(n);
            if to.write_all(&buf[..allowed]).is_err() || allowed < n {
                break;
            }
            sent += n as u64;
            // Hold the bytes while hanging: they go out when the proxy resumes.
            if !state.may_forward() {
                break;
            }
        }
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                thread::spawn(move || {
                    let mut s = stream;
                    let mut buf = [0_u8; 1024];
                    while let Ok(n) = s.read(&mut buf) {
                        if n == 0 || s.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    fn round_trip(addr: SocketAddr, timeout: Duration) -> std::io::Result<Vec<u8>> {
        let mut s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(timeout))?;
        s.write_all(b"hello")?;
        let mut buf = [0_u8; 5];
        s.read_exact(&mut buf)?;
        Ok(buf.to_vec())
    }

    #[test]
    fn forwards_hangs_cuts_and_resumes() {
        let proxy = FaultProxy::start(echo_server()).expect("proxy");
        assert_eq!(
            round_trip(proxy.addr(), Duration::from_secs(5)).expect("forwarded"),
            b"hello"
        );
        proxy.hang();
        let hung = round_trip(proxy.addr(), Duration::from_millis(300)).expect_err("hangs");
        assert!(matches!(
            hung.kind(),
            ErrorKind::WouldBlock | ErrorKind::TimedOut
        ));
        proxy.cut();
        assert!(
            round_trip(proxy.addr(), Duration::from_secs(5)).is_err(),
            "refused"
        );
        proxy.resume();
        assert_eq!(
            round_trip(proxy.addr(), Duration::from_secs(5)).expect("again"),
            b"hello"
        );
        assert!(proxy.connections() >= 3);
    }

    #[test]
    fn truncates_responses() {
        let proxy = FaultProxy::start(echo_server()).expect("proxy");
        proxy.truncate_after(Some(2));
        let err = round_trip(proxy.addr(), Duration::from_secs(5)).expect_err("cut short");
        assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
    }

    #[test]
    fn a_blackhole_accepts_and_never_answers() {
        let hole = Blackhole::start().expect("blackhole");
        let err = round_trip(hole.addr(), Duration::from_millis(300)).expect_err("silent");
        assert!(matches!(
            err.kind(),
            ErrorKind::WouldBlock | ErrorKind::TimedOut
        ));
        assert_eq!(hole.accepted(), 1);
    }
}
