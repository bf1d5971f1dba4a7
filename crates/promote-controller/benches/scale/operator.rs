//! The `promote-operator` binary as a child process: start, readiness, its log, its counters
//! from `/metrics`, and a graceful stop.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Res;

/// The operator's `--head-ttl`; Argo CD's dev sync follows a CI commit a little later than this
/// ([`ARGO_DELAY`](crate::phases::ARGO_DELAY)), as a real sync would, so the operator does not
/// read a tip it cached before the commit.
pub const HEAD_TTL: Duration = Duration::from_secs(2);
/// The operator's `--resync` unless `PROMOTE_BENCH_RESYNC` says otherwise: its default.
const RESYNC: &str = "60s";
const POLL: &str = "1s";

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A plain HTTP/1.1 GET on loopback: (status code, body).
fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((code, body))
}

/// Sum of the samples whose line starts with `prefix` (a name and the start of its labels).
fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next())
        .filter_map(|v| v.parse::<f64>().ok())
        .sum()
}

/// The counters the run reports, from `/metrics`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters {
    pub reconciles: f64,
    pub ls_remote: f64,
    pub fetches: f64,
    pub pushes: f64,
    pub git_errors: f64,
    pub reconcile_errors: f64,
}

impl Counters {
    pub fn minus(self, before: Self) -> Self {
        Self {
            reconciles: self.reconciles - before.reconciles,
            ls_remote: self.ls_remote - before.ls_remote,
            fetches: self.fetches - before.fetches,
            pushes: self.pushes - before.pushes,
            git_errors: self.git_errors - before.git_errors,
            reconcile_errors: self.reconcile_errors - before.reconcile_errors,
        }
    }
}

/// The operator binary as a child process.
#[derive(Debug)]
pub struct OperatorProcess {
    child: Child,
    metrics: SocketAddr,
    log: PathBuf,
    cache: PathBuf,
}

impl OperatorProcess {
    /// Starts the operator on `namespace`, its log and git cache under `work`, named by `tag`.
    pub fn start(
        bin: &Path,
        kubeconfig: &OsStr,
        namespace: &str,
        work: &Path,
        tag: &str,
    ) -> Res<Self> {
        let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let log = work.join(format!("operator-{tag}.log"));
        let cache = work.join(format!("cache-{tag}"));
        let out = std::fs::File::create(&log)?;
        let child = Command::new(bin)
            .env("KUBECONFIG", kubeconfig)
            .arg("--namespace")
            .arg(namespace)
            .arg("--application-namespaces")
            .arg(namespace)
            .arg("--no-leader-election")
            .arg("--metrics-addr")
            .arg(metrics.to_string())
            .arg("--cache-dir")
            .arg(&cache)
            .arg("--resync")
            .arg(std::env::var("PROMOTE_BENCH_RESYNC").unwrap_or_else(|_| RESYNC.to_owned()))
            .args(["--poll", POLL])
            .arg("--head-ttl")
            .arg(format!("{}s", HEAD_TTL.as_secs()))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        Ok(Self {
            child,
            metrics,
            log,
            cache,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The operator's `--cache-dir`.
    pub fn cache(&self) -> &Path {
        &self.cache
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Warnings and errors in the operator's log: (count, the most frequent messages).
    pub fn log_problems(&self) -> (usize, Vec<(usize, String)>) {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut by_message: HashMap<String, usize> = HashMap::new();
        let mut total = 0;
        for line in text.lines() {
            let Some(at) = line.find(" WARN ").or_else(|| line.find(" ERROR ")) else {
                continue;
            };
            total += 1;
            let message: String = line[at..].trim().chars().take(160).collect();
            *by_message.entry(message).or_insert(0) += 1;
        }
        let mut top: Vec<(usize, String)> = by_message.into_iter().map(|(m, n)| (n, m)).collect();
        top.sort_by(|a, b| b.cmp(a));
        top.truncate(5);
        (total, top)
    }

    /// An error with the log's last lines if the operator is no longer running.
    pub fn exited(&mut self) -> Res<()> {
        match self.child.try_wait()? {
            Some(status) => Err(format!(
                "the operator exited ({status}); last lines of {}:\n{}",
                self.log.display(),
                self.log_tail()
            )
            .into()),
            None => Ok(()),
        }
    }

    async fn get(&self, path: &'static str) -> Res<(u16, String)> {
        let addr = self.metrics;
        Ok(tokio::task::spawn_blocking(move || http_get(addr, path)).await??)
    }

    pub async fn wait_ready(&mut self) -> Res<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            self.exited()?;
            if matches!(self.get("/readyz").await, Ok((200, _))) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(
                    format!("the operator was not ready in 60 s:\n{}", self.log_tail()).into(),
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn counters(&self) -> Res<Counters> {
        let (code, text) = self.get("/metrics").await?;
        if code != 200 {
            return Err(format!("/metrics answered {code}").into());
        }
        Ok(Counters {
            reconciles: metric(&text, "promote_reconciles_total "),
            ls_remote: metric(
                &text,
                "promote_git_operations_total{operation=\"ls_remote\"",
            ),
            fetches: metric(&text, "promote_git_operations_total{operation=\"fetch\""),
            pushes: metric(&text, "promote_git_operations_total{operation=\"push\""),
            git_errors: text
                .lines()
                .filter(|l| l.contains("result=\"error\""))
                .map(|l| metric(l, "promote_git_operations_total{"))
                .sum(),
            reconcile_errors: metric(&text, "promote_reconcile_errors_total{"),
        })
    }

    /// SIGTERM (a graceful stop), then SIGKILL after 15 s.
    pub async fn stop(mut self) -> Res<()> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                self.child.kill()?;
                self.child.wait()?;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
