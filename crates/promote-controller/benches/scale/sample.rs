//! What `/proc/<pid>` says about the operator: resident memory, CPU time, threads, sockets, and
//! resident memory split by mapping; sampled in the background while a phase runs.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// What `/proc/<pid>` says about the operator at one moment (memory in KiB).
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub at: Instant,
    pub rss: u64,
    pub hwm: u64,
    pub anon: u64,
    pub file: u64,
    pub threads: u64,
    pub sockets: u64,
    pub cpu_ticks: u64,
}

pub fn sample(pid: u32) -> std::io::Result<Sample> {
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

/// Clock ticks per second, the unit of CPU time in `/proc/<pid>/stat`.
pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Resets VmHWM, so the next reading is the peak since now (Linux 4.0+).
pub fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// Resident KiB by kind of mapping.
pub type Smaps = BTreeMap<&'static str, u64>;

/// One mapping of `/proc/<pid>/smaps`.
struct Mapping {
    start: u64,
    end: u64,
    perms: String,
    path: String,
    rss: u64,
}

/// Resident memory by mapping, in KiB: what the operator's RSS is made of.
pub fn smaps_breakdown(pid: u32, binary: &Path, cache: &Path) -> std::io::Result<Smaps> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps"))?;
    let binary = std::fs::canonicalize(binary).unwrap_or_else(|_| binary.to_path_buf());
    let maps = mappings(&text);
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

/// The mappings of an smaps text, in address order, each with its resident size.
fn mappings(text: &str) -> Vec<Mapping> {
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
    maps
}

/// Samples the operator every [`SAMPLE_EVERY`] until it exits.
#[derive(Debug)]
pub struct Sampler {
    samples: Arc<Mutex<Vec<Sample>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    pub fn start(pid: u32) -> Self {
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
    pub fn window(&self, since: Instant) -> Window {
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

impl Drop for Sampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Highest and mean figures of a stretch of samples.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub rss_max: u64,
    pub rss_mean: f64,
    pub threads_max: u64,
    pub sockets_max: u64,
}
