//! The printed report: one table row per measured phase, then the counters, status writes,
//! latencies, repository audit and resident memory by mapping.

use std::time::Duration;

use crate::audit::Audit;
use crate::operator::Counters;
use crate::phases::{Idle, SETTLE_QUIET, Settle, Wave};
use crate::sample::{Sample, Window};

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// One figure row: a phase of the run.
#[derive(Debug)]
pub struct Row {
    pub phase: String,
    pub wall: Duration,
    pub cpu: f64,
    pub end: Sample,
    pub peak: u64,
    pub mean: f64,
    pub threads_peak: u64,
    pub sockets_peak: u64,
}

impl Row {
    /// A row whose mean and peaks come from the sampler's window `w`.
    pub fn sampled(
        phase: String,
        wall: Duration,
        cpu: f64,
        end: Sample,
        peak: u64,
        w: Window,
    ) -> Self {
        Self {
            phase,
            wall,
            cpu,
            end,
            peak,
            mean: w.rss_mean,
            threads_peak: w.threads_max,
            sockets_peak: w.sockets_max,
        }
    }

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

/// Everything the run measured.
#[derive(Debug)]
pub struct Report {
    pub rows: Vec<Row>,
    pub startup: Counters,
    pub settle: Settle,
    pub idle: Idle,
    pub wave: Wave,
    /// Warnings and errors in the operator's log, and the most frequent ones.
    pub problems: (usize, Vec<(usize, String)>),
    pub audit: Audit,
}

impl Report {
    pub fn print(&self) {
        println!();
        println!(
            "| phase | wall | operator CPU | CPU (% of one core) | RSS mean | RSS at end | RSS peak | anon / file at end | threads peak / end | sockets peak / end |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|");
        for row in &self.rows {
            row.print();
        }
        println!();
        self.print_counters();
        self.print_wave();
        for (label, smaps) in [
            ("idle", &self.idle.smaps),
            ("after the wave", &self.wave.smaps),
        ] {
            println!();
            println!("resident memory by mapping, {label}:");
            let mut parts: Vec<(&&str, &u64)> = smaps.iter().collect();
            parts.sort_by(|a, b| b.1.cmp(a.1));
            for (kind, kib) in parts {
                println!("  {:>10}  {kind}", mib(*kib));
            }
        }
    }

    /// Start-up, settling and idle: what the operator did and wrote, and the errors of the run.
    fn print_counters(&self) {
        let (startup, settle, idle) = (&self.startup, &self.settle, &self.idle);
        println!(
            "start-up: {:.0} reconciles, {:.0} remote-head checks, {:.0} fetches",
            startup.reconciles, startup.ls_remote, startup.fetches
        );
        println!(
            "after start-up: {} more Promotion writes before {} s without one ({:.1} s); fields changed, by Promotions: {:?}",
            settle.writes,
            SETTLE_QUIET.as_secs(),
            settle.wall.as_secs_f64(),
            settle.diff
        );
        println!(
            "idle: {:.1} reconciles/s, {:.0} remote-head checks, {:.0} fetches, {:.0} pushes, {} Promotion writes (by 10 s: {:?}); phases {:?}",
            idle.counters.reconciles / idle.span.as_secs_f64().max(1.0),
            idle.counters.ls_remote,
            idle.counters.fetches,
            idle.counters.pushes,
            idle.changes.iter().sum::<usize>(),
            idle.changes,
            idle.phases
        );
        let (problems, top_problems) = &self.problems;
        println!(
            "errors: idle {:.0} git, {:.0} reconcile; wave {:.0} git, {:.0} reconcile; {problems} warnings or errors logged in the whole run",
            idle.counters.git_errors,
            idle.counters.reconcile_errors,
            self.wave.counters.git_errors,
            self.wave.counters.reconcile_errors,
        );
        for (n, message) in top_problems {
            println!("  {n} x {message}");
        }
        if !idle.diff.is_empty() {
            println!(
                "idle: status fields that changed, by Promotions changed: {:?}",
                idle.diff
            );
        }
    }

    /// The wave: its counters, latencies, and what the repositories hold afterwards.
    fn print_wave(&self) {
        let (wave, audit) = (&self.wave, &self.audit);
        let pick = |q: f64| {
            wave.latencies
                .get(((wave.latencies.len() as f64 - 1.0) * q).round() as usize)
                .map_or(0.0, Duration::as_secs_f64)
        };
        println!(
            "wave: {} CI commits, {:.0} reconciles, {:.0} fetches, {:.0} pushes; dev synced -> Promoted: median {:.1} s, p90 {:.1} s, max {:.1} s",
            wave.ci.len(),
            wave.counters.reconciles,
            wave.counters.fetches,
            wave.counters.pushes,
            pick(0.5),
            pick(0.9),
            pick(1.0)
        );
        println!(
            "repositories after the wave: {} commits by the operator for {} promotions, {} merge commits, {} lost updates, {} stray changes",
            audit.commits,
            wave.lanes.len(),
            audit.merges,
            audit.lost.len(),
            audit.stray.len()
        );
    }
}
