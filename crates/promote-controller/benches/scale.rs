//! Operator resident memory and CPU at scale: 1,000 Promotions across 50 repositories.
//!
//! `cargo bench -p promote-controller --bench scale` (knobs: `PROMOTE_BENCH_REPOS`, default 50;
//! `PROMOTE_BENCH_APPS` per repository, default 20; `PROMOTE_BENCH_WAVE`, default 100;
//! `PROMOTE_BENCH_IDLE_SECS`, default 60; `PROMOTE_OPERATOR_BIN` to measure another build).
//!
//! The real `promote-operator` binary runs as a child process against the test control plane
//! (`promote-testsupport`), with the bare repositories served by one smart-HTTP git server
//! (basic auth, credentials in one Secret). Every lane has a dev and a prod Application whose
//! status this bench writes itself, the way Argo CD reports a finished sync: the Argo CD
//! simulator runs git for every Application on every round, which at 2,000 Applications would
//! measure the simulator rather than the operator. The operator's VmRSS, VmHWM, CPU time,
//! threads and open sockets come from `/proc/<pid>`, its counters from `/metrics`, and at the end
//! of idle and of the wave its resident memory is split by mapping (`/proc/<pid>/smaps`):
//!
//! 1. baselines: the operator with no Applications and no Promotions, then with the
//!    Applications but no Promotions;
//! 2. start-up with every Promotion (trigger Auto) until each one is InSync, then until no
//!    Promotion was written for a while;
//! 3. idle (and which status fields, if any, were written meanwhile);
//! 4. a wave: one CI commit per repository bumps the dev tag of two lanes, the dev
//!    Applications report the new revision, each prod Application reports the branch tip once
//!    its Promotion's commit is pushed; until every wave lane is Promoted. Then the
//!    repositories are checked: every promoted prod file holds the new tag, nothing else
//!    changed, no merge commits.
//!
//! Setup (repositories, objects) happens before any measurement.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use promote_api::{Phase, Promotion, PromotionResult};
use promote_argocd_sim::ApplicationBuilder;
use promote_gitserver::{BareRepo, HttpServer, RepoDir};
use promote_testsupport::TestEnv;
use serde_json::{Value, json};

type Failure = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, Failure>;

/// The operator's `--head-ttl`; Argo CD's dev sync follows a CI commit a little later than this,
/// as a real sync would, so the operator does not read a tip it cached before the commit.
const HEAD_TTL: Duration = Duration::from_secs(2);
const ARGO_DELAY: Duration = Duration::from_millis(2500);
const RESYNC: &str = "30s";
const POLL: &str = "1s";
const CREATE_CONCURRENCY: usize = 16;
const SAMPLE_EVERY: Duration = Duration::from_millis(250);
const BASELINE_SETTLE: Duration = Duration::from_secs(10);
/// Start-up is over when no Promotion was written for this long (or after `SETTLE_MAX`).
const SETTLE_QUIET: Duration = Duration::from_secs(10);
const SETTLE_MAX: Duration = Duration::from_secs(60);
const PHASE_TIMEOUT: Duration = Duration::from_secs(300);
const OLD_TAG: &str = "v1";
const NEW_TAG: &str = "v2";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn release(tag: &str) -> String {
    format!("image:\n  tag: {tag}\n")
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// One lane: app `app` of repository `repo`, dev → prod.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Lane {
    repo: usize,
    app: usize,
}

impl Lane {
    fn repo_name(repo: usize) -> String {
        format!("team-{repo:02}")
    }
    fn name(self) -> String {
        format!("t{:02}-app-{:02}", self.repo, self.app)
    }
    fn application(self, env: &str) -> String {
        format!("{}-{env}", self.name())
    }
    fn file(self, env: &str) -> String {
        format!("deploy/env/release-{env}/app-{:02}.yaml", self.app)
    }
    fn image(self, tag: &str) -> String {
        format!(
            "registry.example.com/{}/app-{:02}:{tag}",
            Self::repo_name(self.repo),
            self.app
        )
    }
}

/// Application status as Argo CD reports it after a successful sync to `revision`, reconciled
/// after the sync finished (so the operator trusts its health).
fn synced_status(lane: Lane, revision: &str, tag: &str) -> Value {
    let at = jiff::Timestamp::now().to_string();
    json!({
        "sync": {"status": "Synced", "revision": revision},
        "health": {"status": "Healthy"},
        "operationState": {
            "phase": "Succeeded",
            "message": "successfully synced (all tasks run)",
            "startedAt": at,
            "finishedAt": at,
            "syncResult": {"revision": revision},
        },
        "reconciledAt": at,
        "summary": {"images": [lane.image(tag)]},
    })
}

fn application(lane: Lane, env: &str, url: &str, ns: &str, revision: &str) -> Res<DynamicObject> {
    let mut builder = ApplicationBuilder::new(lane.application(env), url, "deploy/charts/app")
        .value_file(format!("../../env/release-{env}/app-{:02}.yaml", lane.app));
    if env == "prod" {
        builder = builder.auto_sync(true);
    }
    let mut object = builder.to_json(ns);
    object["status"] = synced_status(lane, revision, OLD_TAG);
    Ok(serde_json::from_value(object)?)
}

fn promotion(lane: Lane, url: &str, ns: &str) -> Res<Promotion> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "promote.dev/v1alpha1",
        "kind": "Promotion",
        "metadata": {"name": lane.name()},
        "spec": {
            "repository": {"url": url, "credentials": {"secretName": "git"}},
            "source": {"environment": "dev", "valuesFile": lane.file("dev"),
                       "application": {"name": lane.application("dev"), "namespace": ns}},
            "target": {"environment": "prod", "valuesFile": lane.file("prod"),
                       "application": {"name": lane.application("prod"), "namespace": ns}},
            "trigger": "Auto",
        },
    }))?)
}

/// Creates `objects` with a few requests in flight at a time.
async fn create_all<K>(api: &Api<K>, objects: Vec<K>) -> Res<Duration>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let started = Instant::now();
    let results: Vec<Result<K, kube::Error>> = stream::iter(objects)
        .map(|o| {
            let api = api.clone();
            async move { api.create(&PostParams::default(), &o).await }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .collect()
        .await;
    for r in results {
        r?;
    }
    Ok(started.elapsed())
}

/// A merge patch of the Application's status (there is no status subresource), clearing the
/// refresh annotation the way Argo CD does when it has refreshed.
async fn report_sync(apps: &Api<DynamicObject>, lane: Lane, env: &str, revision: &str) -> Res<()> {
    let patch = json!({
        "metadata": {"annotations": {promote_argocd_sim::REFRESH_ANNOTATION: null}},
        "status": synced_status(lane, revision, NEW_TAG),
    });
    apps.patch(
        &lane.application(env),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

/// What `/proc/<pid>` says about the operator at one moment.
#[derive(Clone, Copy, Debug)]
struct Sample {
    at: Instant,
    rss: u64,
    hwm: u64,
    anon: u64,
    file: u64,
    threads: u64,
    sockets: u64,
    cpu_ticks: u64,
}

fn sample(pid: u32) -> std::io::Result<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces; fields are counted after its closing parenthesis,
    // where the state is field 3 of proc(5), utime 14 and stime 15.
    let rest: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, r)| r)
        .split_whitespace()
        .collect();
    let tick = |i: usize| rest.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Ok(Sample {
        at: Instant::now(),
        rss: field("VmRSS:"),
        hwm: field("VmHWM:"),
        anon: field("RssAnon:"),
        file: field("RssFile:"),
        threads: field("Threads:"),
        sockets: sockets(pid),
        cpu_ticks: tick(11) + tick(12),
    })
}

/// Open sockets: each kept-alive connection to the API server holds TLS buffers.
fn sockets(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .filter(|l| l.to_string_lossy().starts_with("socket:"))
                .count() as u64
        })
        .unwrap_or(0)
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Resets VmHWM, so the next reading is the peak since now (Linux 4.0+).
fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// One mapping of `/proc/<pid>/smaps`.
struct Mapping {
    start: u64,
    end: u64,
    perms: String,
    path: String,
    rss: u64,
}

/// Resident memory by mapping, in KiB: what the operator's RSS is made of.
fn smaps_breakdown(
    pid: u32,
    binary: &Path,
    cache: &Path,
) -> std::io::Result<BTreeMap<&'static str, u64>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps"))?;
    let binary = std::fs::canonicalize(binary).unwrap_or_else(|_| binary.to_path_buf());
    let mut maps: Vec<Mapping> = Vec::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let first = parts.next().unwrap_or_default();
        let range = first.split_once('-').and_then(|(a, b)| {
            Some((
                u64::from_str_radix(a, 16).ok()?,
                u64::from_str_radix(b, 16).ok()?,
            ))
        });
        if let Some((start, end)) = range {
            let perms = parts.next().unwrap_or_default().to_owned();
            let path = parts.skip(3).collect::<Vec<_>>().join(" ");
            maps.push(Mapping {
                start,
                end,
                perms,
                path,
                rss: 0,
            });
        } else if let (Some(kib), Some(m)) = (line.strip_prefix("Rss:"), maps.last_mut()) {
            m.rss = kib
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
        }
    }
    let mut out = BTreeMap::new();
    for (i, m) in maps.iter().enumerate() {
        // glibc puts a one-page PROT_NONE guard right below each thread stack it maps.
        let below_guard = i > 0 && {
            let prev = &maps[i - 1];
            prev.path.is_empty()
                && prev.perms.starts_with("---")
                && prev.end == m.start
                && prev.end - prev.start == 4096
        };
        let kind = if m.path.is_empty() && below_guard {
            "thread stacks (live, and exited ones glibc keeps for reuse)"
        } else if m.path.is_empty() {
            "anonymous: malloc arenas of other threads, large allocations"
        } else if m.path == "[heap]" {
            "[heap]: the main malloc arena"
        } else if m.path.starts_with('[') {
            "kernel ([stack], [vdso], ...)"
        } else if Path::new(&m.path) == binary {
            "promote-operator binary (code, read-only data)"
        } else if Path::new(&m.path).starts_with(cache) {
            "git cache files (mmapped packs, indexes)"
        } else {
            "shared libraries and other files"
        };
        *out.entry(kind).or_insert(0) += m.rss;
    }
    Ok(out)
}

/// Samples the operator every [`SAMPLE_EVERY`] until it exits.
struct Sampler {
    samples: Arc<Mutex<Vec<Sample>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    fn start(pid: u32) -> Self {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn({
            let samples = samples.clone();
            async move {
                while let Ok(s) = sample(pid) {
                    if s.rss > 0 {
                        samples
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push(s);
                    }
                    tokio::time::sleep(SAMPLE_EVERY).await;
                }
            }
        });
        Self { samples, task }
    }

    /// What was sampled since `since`.
    fn window(&self, since: Instant) -> Window {
        let samples = self
            .samples
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let window: Vec<&Sample> = samples.iter().filter(|s| s.at >= since).collect();
        let max = |f: fn(&Sample) -> u64| window.iter().map(|s| f(s)).max().unwrap_or(0);
        Window {
            rss_max: max(|s| s.rss),
            rss_mean: if window.is_empty() {
                0.0
            } else {
                window.iter().map(|s| s.rss).sum::<u64>() as f64 / window.len() as f64
            },
            threads_max: max(|s| s.threads),
            sockets_max: max(|s| s.sockets),
        }
    }
}

/// Highest and mean figures of a stretch of samples.
#[derive(Clone, Copy, Debug)]
struct Window {
    rss_max: u64,
    rss_mean: f64,
    threads_max: u64,
    sockets_max: u64,
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One figure row: a phase of the run.
#[derive(Debug)]
struct Row {
    phase: String,
    wall: Duration,
    cpu: f64,
    end: Sample,
    peak: u64,
    mean: f64,
    threads_peak: u64,
    sockets_peak: u64,
}

impl Row {
    fn print(&self) {
        let wall = self.wall.as_secs_f64();
        println!(
            "| {} | {:.1} s | {:.2} s | {:.1} % | {} | {} | {} | {} / {} | {} / {} | {} / {} |",
            self.phase,
            wall,
            self.cpu,
            if wall > 0.0 {
                100.0 * self.cpu / wall
            } else {
                0.0
            },
            mib(self.mean.round() as u64),
            mib(self.end.rss),
            mib(self.peak),
            mib(self.end.anon),
            mib(self.end.file),
            self.threads_peak.max(self.end.threads),
            self.end.threads,
            self.sockets_peak.max(self.end.sockets),
            self.end.sockets,
        );
    }
}

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
struct Counters {
    reconciles: f64,
    ls_remote: f64,
    fetches: f64,
    pushes: f64,
    git_errors: f64,
    reconcile_errors: f64,
}

impl Counters {
    fn minus(self, before: Self) -> Self {
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
struct OperatorProcess {
    child: Child,
    metrics: SocketAddr,
    log: PathBuf,
    cache: PathBuf,
}

impl OperatorProcess {
    fn start(bin: &Path, kubeconfig: &OsStr, namespace: &str, work: &Path, tag: &str) -> Res<Self> {
        let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let log = work.join(format!("operator-{tag}.log"));
        let cache = work.join(format!("cache-{tag}"));
        let out = std::fs::File::create(&log)?;
        let child = Command::new(bin)
            .env("KUBECONFIG", kubeconfig)
            .arg("--namespace")
            .arg(namespace)
            .arg("--no-leader-election")
            .arg("--metrics-addr")
            .arg(metrics.to_string())
            .arg("--cache-dir")
            .arg(&cache)
            .args(["--resync", RESYNC, "--poll", POLL])
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

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Warnings and errors in the operator's log: (count, the most frequent messages).
    fn log_problems(&self) -> (usize, Vec<(usize, String)>) {
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

    fn exited(&mut self) -> Res<()> {
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

    async fn wait_ready(&mut self) -> Res<()> {
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

    async fn counters(&self) -> Res<Counters> {
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
    async fn stop(mut self) -> Res<()> {
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

/// Runs an operator for a while with what exists now and reports its resident memory.
async fn baseline(bin: &Path, env: &TestEnv, work: &Path, tag: &str, label: &str) -> Res<Row> {
    let mut op = OperatorProcess::start(bin, env.control_plane.kubeconfig(), env.ns(), work, tag)?;
    let started = Instant::now();
    let first = sample(op.pid())?;
    op.wait_ready().await?;
    tokio::time::sleep(BASELINE_SETTLE).await;
    op.exited()?;
    let end = sample(op.pid())?;
    op.stop().await?;
    Ok(Row {
        phase: label.to_owned(),
        wall: started.elapsed(),
        cpu: (end.cpu_ticks - first.cpu_ticks) as f64 / clock_ticks(),
        end,
        peak: end.hwm,
        mean: end.rss as f64,
        threads_peak: end.threads,
        sockets_peak: end.sockets,
    })
}

fn phase_of(store: &Store<Promotion>, ns: &str, lane: Lane) -> Option<Arc<Promotion>> {
    store.get(&ObjectRef::new(&lane.name()).within(ns))
}

fn phases(store: &Store<Promotion>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for p in store.state() {
        let phase = p
            .status
            .as_ref()
            .and_then(|s| s.phase)
            .map_or("none", Phase::as_str);
        *out.entry(phase.to_owned()).or_insert(0) += 1;
    }
    out
}

/// Each Promotion's status as JSON, by name.
fn statuses(store: &Store<Promotion>) -> HashMap<String, Value> {
    store
        .state()
        .iter()
        .map(|p| {
            let status = serde_json::to_value(&p.status).unwrap_or(Value::Null);
            (p.metadata.name.clone().unwrap_or_default(), status)
        })
        .collect()
}

/// For each status field (array indexes folded into `[]`), how many Promotions changed it.
fn changed_fields(
    before: &HashMap<String, Value>,
    after: &HashMap<String, Value>,
) -> BTreeMap<String, usize> {
    fn walk(a: &Value, b: &Value, path: &str, out: &mut std::collections::BTreeSet<String>) {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                for key in x.keys().chain(y.keys()) {
                    let (u, v) = (
                        x.get(key).unwrap_or(&Value::Null),
                        y.get(key).unwrap_or(&Value::Null),
                    );
                    walk(u, v, &format!("{path}.{key}"), out);
                }
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                for (u, v) in x.iter().zip(y) {
                    walk(u, v, &format!("{path}[]"), out);
                }
            }
            _ if a != b => {
                out.insert(path.to_owned());
            }
            _ => {}
        }
    }
    let mut counts = BTreeMap::new();
    for (name, b) in after {
        let a = before.get(name).unwrap_or(&Value::Null);
        let mut fields = std::collections::BTreeSet::new();
        walk(a, b, "status", &mut fields);
        for f in fields {
            *counts.entry(f).or_insert(0) += 1;
        }
    }
    counts
}

/// The repositories after the wave: commits the operator made, merges, lost and stray updates.
#[derive(Debug, Default)]
struct Audit {
    commits: usize,
    merges: usize,
    lost: Vec<String>,
    stray: Vec<String>,
}

fn audit(
    repos: &[BareRepo],
    ci: &HashMap<usize, String>,
    wave: &[Lane],
    apps: usize,
) -> Res<Audit> {
    let mut audit = Audit::default();
    for (r, repo) in repos.iter().enumerate() {
        audit.merges += repo.merge_count("main")?;
        let in_wave: Vec<Lane> = wave.iter().copied().filter(|l| l.repo == r).collect();
        if let Some(ci) = ci.get(&r) {
            let before = repo.commits(ci)?;
            let wave_files: Vec<String> = in_wave.iter().map(|l| l.file("prod")).collect();
            for commit in repo
                .commits("main")?
                .into_iter()
                .filter(|c| !before.contains(c))
            {
                audit.commits += 1;
                for file in repo.changed_files(&commit)? {
                    if !wave_files.contains(&file) {
                        audit
                            .stray
                            .push(format!("{}: {commit} changed {file}", repo.name()));
                    }
                }
            }
        }
        for app in 0..apps {
            let lane = Lane { repo: r, app };
            let want = if in_wave.contains(&lane) {
                NEW_TAG
            } else {
                OLD_TAG
            };
            let prod = repo.read_file("main", &lane.file("prod"))?;
            if prod.as_deref() != Some(release(want).as_str()) {
                let what = format!("{}: {:?}", lane.file("prod"), prod);
                if want == NEW_TAG {
                    audit.lost.push(what);
                } else {
                    audit.stray.push(what);
                }
            }
        }
    }
    Ok(audit)
}

fn main() -> Res<()> {
    // `cargo bench` passes `--bench`; anything else (`cargo test --benches`, a listing) only
    // checks that it builds: the run takes minutes and needs the test control plane.
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> Res<()> {
    let repo_count = env_usize("PROMOTE_BENCH_REPOS", 50).max(1);
    let apps = env_usize("PROMOTE_BENCH_APPS", 20).max(1);
    let lanes = repo_count * apps;
    let wave_size = env_usize("PROMOTE_BENCH_WAVE", 100).min(lanes);
    let idle = Duration::from_secs(env_usize("PROMOTE_BENCH_IDLE_SECS", 60) as u64);
    let bin = std::env::var_os("PROMOTE_OPERATOR_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_promote-operator")));
    if !bin.is_file() {
        return Err(format!(
            "{} is missing: build it with `cargo build --release -p promote-controller --bin promote-operator`",
            bin.display()
        )
        .into());
    }
    let ticks = clock_ticks();
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "operator at scale: {lanes} Promotions in {repo_count} repositories, {} Applications, wave of {wave_size}; {cpus} CPUs, load average at start {}",
        lanes * 2,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("operator: {}", bin.display());

    let setup = Instant::now();
    let env = TestEnv::start("scale").await?;
    println!(
        "test control plane and namespace ready in {:.1} s",
        setup.elapsed().as_secs_f64()
    );
    let setup = Instant::now();
    let ns = env.ns().to_owned();
    let work = tempfile::tempdir()?;
    let (repos, dir, http) = tokio::task::spawn_blocking(move || -> Res<_> {
        let dir = RepoDir::new()?;
        let mut repos = Vec::new();
        for r in 0..repo_count {
            let files: Vec<(String, String)> = (0..apps)
                .flat_map(|app| {
                    let lane = Lane { repo: r, app };
                    ["dev", "prod"].map(|env| (lane.file(env), release(OLD_TAG)))
                })
                .collect();
            let files: Vec<(&str, &str)> = files
                .iter()
                .map(|(p, c)| (p.as_str(), c.as_str()))
                .collect();
            repos.push(dir.create(&Lane::repo_name(r), &files)?);
        }
        let http = HttpServer::start(&dir)?;
        Ok((repos, dir, http))
    })
    .await??;
    let repos = Arc::new(repos);
    let urls: Vec<String> = repos.iter().map(|r| http.url(r.name())).collect();
    let tips: Vec<String> = repos
        .iter()
        .map(|r| r.head("main")?.ok_or_else(|| "empty repository".into()))
        .collect::<Res<_>>()?;
    let creds = http.credentials().clone();
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "git"},
        "stringData": {"username": creds.username, "password": creds.password},
    }))?;
    env.api::<Secret>()
        .create(&PostParams::default(), &secret)
        .await?;
    println!(
        "repositories and git server ready in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    let mut rows = Vec::new();
    rows.push(
        baseline(
            &bin,
            &env,
            work.path(),
            "empty",
            "no Applications, no Promotions (after 10 s)",
        )
        .await?,
    );

    let all: Vec<Lane> = (0..repo_count)
        .flat_map(|repo| (0..apps).map(move |app| Lane { repo, app }))
        .collect();
    let app_api: Api<DynamicObject> = promote_argocd_sim::applications(env.client().clone(), &ns);
    let mut objects = Vec::new();
    for lane in &all {
        for e in ["dev", "prod"] {
            objects.push(application(
                *lane,
                e,
                &urls[lane.repo],
                &ns,
                &tips[lane.repo],
            )?);
        }
    }
    let took = create_all(&app_api, objects).await?;
    println!(
        "{} Applications created in {:.1} s",
        lanes * 2,
        took.as_secs_f64()
    );
    rows.push(
        baseline(
            &bin,
            &env,
            work.path(),
            "apps",
            &format!("{} Applications, no Promotions (after 10 s)", lanes * 2),
        )
        .await?,
    );

    let promotions: Api<Promotion> = env.api();
    let objects = all
        .iter()
        .map(|l| promotion(*l, &urls[l.repo], &ns))
        .collect::<Res<Vec<_>>>()?;
    let took = create_all(&promotions, objects).await?;
    println!("{lanes} Promotions created in {:.1} s", took.as_secs_f64());

    // The bench follows the Promotions through a watch, and counts every change it sees.
    let (store, writer) = reflector::store::<Promotion>();
    let changes: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let watch = tokio::spawn({
        let changes = changes.clone();
        watcher(promotions.clone(), watcher::Config::default())
            .default_backoff()
            .reflect(writer)
            .applied_objects()
            .for_each(move |_| {
                changes
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(Instant::now());
                futures::future::ready(())
            })
    });
    store.wait_until_ready().await?;

    // Start-up: every Promotion reconciled to InSync.
    let mut op = OperatorProcess::start(
        &bin,
        env.control_plane.kubeconfig(),
        &ns,
        work.path(),
        "run",
    )?;
    let pid = op.pid();
    let started = Instant::now();
    let first = sample(pid)?;
    let sampler = Sampler::start(pid);
    let mut last_report = Instant::now();
    loop {
        op.exited()?;
        let counts = phases(&store);
        if counts.get("InSync") == Some(&lanes) && store.state().len() == lanes {
            break;
        }
        if started.elapsed() > PHASE_TIMEOUT {
            return Err(format!(
                "not every Promotion was InSync in time: {counts:?}\n{}",
                op.log_tail()
            )
            .into());
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "  start-up {:.0} s: {counts:?}",
                started.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let end = sample(pid)?;
    let startup_counters = op.counters().await?;
    let w = sampler.window(started);
    rows.push(Row {
        phase: format!("start-up: {lanes} Promotions to InSync"),
        wall: started.elapsed(),
        cpu: (end.cpu_ticks - first.cpu_ticks) as f64 / ticks,
        end,
        peak: end.hwm,
        mean: w.rss_mean,
        threads_peak: w.threads_max,
        sockets_peak: w.sockets_max,
    });

    // Settle: the last writes of start-up (second reconciles of the same Promotion) land.
    let settle_start = Instant::now();
    let settle_snapshot = statuses(&store);
    loop {
        let last = changes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .last()
            .copied();
        let quiet = last.is_none_or(|at| at.elapsed() >= SETTLE_QUIET);
        if quiet || settle_start.elapsed() > SETTLE_MAX {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let settle_wall = settle_start.elapsed();
    let settle_writes = changes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .filter(|at| **at >= settle_start)
        .count();
    let settle_diff = changed_fields(&settle_snapshot, &statuses(&store));

    // Idle.
    let peak_reset = reset_peak(pid);
    let before = op.counters().await?;
    let idle_start = Instant::now();
    let first = sample(pid)?;
    let snapshot = statuses(&store);
    tokio::time::sleep(idle).await;
    op.exited()?;
    let end = sample(pid)?;
    let idle_counters = op.counters().await?.minus(before);
    // Promotion writes seen during idle, by 10-second stretch.
    let mut idle_changes = vec![0usize; idle.as_secs().div_ceil(10).max(1) as usize];
    for at in changes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .filter(|at| **at >= idle_start)
    {
        let i = (at.duration_since(idle_start).as_secs() / 10) as usize;
        if let Some(n) = idle_changes.get_mut(i) {
            *n += 1;
        }
    }
    let w = sampler.window(idle_start);
    let idle_phases = phases(&store);
    let idle_diff = changed_fields(&snapshot, &statuses(&store));
    rows.push(Row {
        phase: format!("idle, {} s", idle.as_secs()),
        wall: idle_start.elapsed(),
        cpu: (end.cpu_ticks - first.cpu_ticks) as f64 / ticks,
        end,
        peak: if peak_reset {
            end.hwm.max(w.rss_max)
        } else {
            w.rss_max
        },
        mean: w.rss_mean,
        threads_peak: w.threads_max,
        sockets_peak: w.sockets_max,
    });
    let idle_smaps = smaps_breakdown(pid, &bin, &op.cache)?;

    // The wave: lanes spread over the repositories, two (or so) per repository.
    let per_repo = wave_size.div_ceil(repo_count);
    let wave: Vec<Lane> = (0..wave_size)
        .map(|i| Lane {
            repo: i % repo_count,
            app: (i / repo_count) * apps / per_repo,
        })
        .collect();
    let peak_reset = reset_peak(pid);
    let before = op.counters().await?;
    let wave_start = Instant::now();
    let first = sample(pid)?;
    let dev_synced: Arc<Mutex<HashMap<Lane, Instant>>> = Arc::default();
    let ci = tokio::spawn({
        let (repos, wave, apps_api, dev_synced) = (
            repos.clone(),
            wave.clone(),
            app_api.clone(),
            dev_synced.clone(),
        );
        async move {
            let mut by_repo: BTreeMap<usize, Vec<Lane>> = BTreeMap::new();
            for lane in wave {
                by_repo.entry(lane.repo).or_default().push(lane);
            }
            let results: Vec<Res<(usize, String)>> = stream::iter(by_repo)
                .map(|(r, lanes)| {
                    let (repos, apps_api, dev_synced) =
                        (repos.clone(), apps_api.clone(), dev_synced.clone());
                    async move {
                        let files: Vec<(String, String)> = lanes
                            .iter()
                            .map(|l| (l.file("dev"), release(NEW_TAG)))
                            .collect();
                        let commit = tokio::task::spawn_blocking(move || {
                            let files: Vec<(&str, &str)> = files
                                .iter()
                                .map(|(p, c)| (p.as_str(), c.as_str()))
                                .collect();
                            repos[r].commit_files("main", &files, "ci: release v2")
                        })
                        .await??;
                        tokio::time::sleep(ARGO_DELAY).await;
                        for lane in &lanes {
                            report_sync(&apps_api, *lane, "dev", &commit).await?;
                            dev_synced
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .insert(*lane, Instant::now());
                        }
                        Ok((r, commit))
                    }
                })
                .buffer_unordered(8)
                .collect()
                .await;
            results.into_iter().collect::<Res<HashMap<usize, String>>>()
        }
    });

    // Argo CD's part for prod: once a lane's commit is pushed, report its Application synced to
    // the branch tip (which contains the commit) and healthy.
    let mut prod_synced: HashMap<Lane, Instant> = HashMap::new();
    let mut promoted: HashMap<Lane, Instant> = HashMap::new();
    let mut last_report = Instant::now();
    while promoted.len() < wave.len() {
        op.exited()?;
        for lane in &wave {
            let Some(p) = phase_of(&store, &ns, *lane) else {
                continue;
            };
            let Some(status) = p.status.as_ref() else {
                continue;
            };
            if matches!(status.phase, Some(Phase::Failed | Phase::RolledBack)) {
                return Err(format!("{} failed: {:?}", lane.name(), status.message).into());
            }
            let committed = status
                .last_promotion
                .as_ref()
                .is_some_and(|r| r.result == PromotionResult::Running && r.commit.is_some());
            if committed && !prod_synced.contains_key(lane) {
                let repo = repos[lane.repo].clone();
                let tip = tokio::task::spawn_blocking(move || repo.head("main"))
                    .await??
                    .ok_or("the branch disappeared")?;
                report_sync(&app_api, *lane, "prod", &tip).await?;
                prod_synced.insert(*lane, Instant::now());
            }
            let done = status.phase == Some(Phase::Promoted)
                && status.target.as_ref().and_then(|t| t.version.as_deref()) == Some(NEW_TAG);
            if done && !promoted.contains_key(lane) {
                promoted.insert(*lane, Instant::now());
            }
        }
        if wave_start.elapsed() > PHASE_TIMEOUT {
            return Err(format!(
                "only {} of {} lanes were Promoted in time: {:?}\n{}",
                promoted.len(),
                wave.len(),
                phases(&store),
                op.log_tail()
            )
            .into());
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "  wave {:.0} s: {} prod synced, {} promoted",
                wave_start.elapsed().as_secs_f64(),
                prod_synced.len(),
                promoted.len()
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let end = sample(pid)?;
    let wave_wall = wave_start.elapsed();
    let wave_counters = op.counters().await?.minus(before);
    let ci = ci.await??;
    let w = sampler.window(wave_start);
    rows.push(Row {
        phase: format!("wave: {} promotions to Promoted", wave.len()),
        wall: wave_wall,
        cpu: (end.cpu_ticks - first.cpu_ticks) as f64 / ticks,
        end,
        peak: if peak_reset {
            end.hwm.max(w.rss_max)
        } else {
            w.rss_max
        },
        mean: w.rss_mean,
        threads_peak: w.threads_max,
        sockets_peak: w.sockets_max,
    });
    let wave_smaps = smaps_breakdown(pid, &bin, &op.cache)?;
    let dev_synced = dev_synced
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let mut latencies: Vec<Duration> = wave
        .iter()
        .filter_map(|l| {
            Some(
                promoted
                    .get(l)?
                    .saturating_duration_since(*dev_synced.get(l)?),
            )
        })
        .collect();
    latencies.sort();
    let (problems, top_problems) = op.log_problems();
    op.stop().await?;
    drop(sampler);
    watch.abort();

    let audit = {
        let (repos, wave, ci) = (repos.clone(), wave.clone(), ci.clone());
        tokio::task::spawn_blocking(move || audit(&repos, &ci, &wave, apps)).await??
    };

    println!();
    println!(
        "| phase | wall | operator CPU | CPU (% of one core) | RSS mean | RSS at end | RSS peak | anon / file at end | threads peak / end | sockets peak / end |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for row in &rows {
        row.print();
    }
    println!();
    println!(
        "start-up: {:.0} reconciles, {:.0} remote-head checks, {:.0} fetches",
        startup_counters.reconciles, startup_counters.ls_remote, startup_counters.fetches
    );
    println!(
        "after start-up: {settle_writes} more Promotion writes before {} s without one ({:.1} s); fields changed, by Promotions: {settle_diff:?}",
        SETTLE_QUIET.as_secs(),
        settle_wall.as_secs_f64()
    );
    println!(
        "idle: {:.1} reconciles/s, {:.0} remote-head checks, {:.0} fetches, {:.0} pushes, {} Promotion writes (by 10 s: {idle_changes:?}); phases {idle_phases:?}",
        idle_counters.reconciles / idle.as_secs_f64().max(1.0),
        idle_counters.ls_remote,
        idle_counters.fetches,
        idle_counters.pushes,
        idle_changes.iter().sum::<usize>(),
    );
    println!(
        "errors: idle {:.0} git, {:.0} reconcile; wave {:.0} git, {:.0} reconcile; {problems} warnings or errors logged in the whole run",
        idle_counters.git_errors,
        idle_counters.reconcile_errors,
        wave_counters.git_errors,
        wave_counters.reconcile_errors,
    );
    for (n, message) in &top_problems {
        println!("  {n} x {message}");
    }
    if !idle_diff.is_empty() {
        println!("idle: status fields that changed, by Promotions changed: {idle_diff:?}");
    }
    let pick = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q).round() as usize)
            .map_or(0.0, Duration::as_secs_f64)
    };
    println!(
        "wave: {} CI commits, {:.0} reconciles, {:.0} fetches, {:.0} pushes; dev synced -> Promoted: median {:.1} s, p90 {:.1} s, max {:.1} s",
        ci.len(),
        wave_counters.reconciles,
        wave_counters.fetches,
        wave_counters.pushes,
        pick(0.5),
        pick(0.9),
        pick(1.0)
    );
    println!(
        "repositories after the wave: {} commits by the operator for {} promotions, {} merge commits, {} lost updates, {} stray changes",
        audit.commits,
        wave.len(),
        audit.merges,
        audit.lost.len(),
        audit.stray.len()
    );
    for (label, smaps) in [("idle", &idle_smaps), ("after the wave", &wave_smaps)] {
        println!();
        println!("resident memory by mapping, {label}:");
        let mut parts: Vec<(&&str, &u64)> = smaps.iter().collect();
        parts.sort_by(|a, b| b.1.cmp(a.1));
        for (kind, kib) in parts {
            println!("  {:>10}  {kind}", mib(*kib));
        }
    }
    drop(http);
    drop(dir);
    if !audit.lost.is_empty() || !audit.stray.is_empty() || audit.merges > 0 {
        return Err(format!(
            "the repositories are wrong: lost {:?}, stray {:?}, {} merges",
            audit.lost, audit.stray, audit.merges
        )
        .into());
    }
    Ok(())
}
