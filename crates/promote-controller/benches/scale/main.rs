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

mod audit;
mod fixtures;
mod operator;
mod phases;
mod report;
mod sample;
mod writes;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject};
use promote_api::Promotion;
use promote_testsupport::TestEnv;

use crate::fixtures::{Git, Lane};
use crate::phases::{Run, baseline};
use crate::report::Report;
use crate::writes::Writes;

type Failure = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, Failure>;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The run's size and the operator build, from the environment (see the knobs above).
#[derive(Debug)]
struct Config {
    repo_count: usize,
    apps: usize,
    lanes: usize,
    wave_size: usize,
    idle: Duration,
    bin: PathBuf,
}

impl Config {
    fn from_env() -> Res<Self> {
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
        Ok(Self {
            repo_count,
            apps,
            lanes,
            wave_size,
            idle,
            bin,
        })
    }

    /// The run's size, the machine and the operator measured.
    fn print(&self) {
        let cpus = std::thread::available_parallelism().map_or(0, usize::from);
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        println!(
            "operator at scale: {} Promotions in {} repositories, {} Applications, wave of {}; {cpus} CPUs, load average at start {}",
            self.lanes,
            self.repo_count,
            self.lanes * 2,
            self.wave_size,
            load.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        );
        println!("operator: {}", self.bin.display());
    }
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
    let config = Config::from_env()?;
    let ticks = sample::clock_ticks();
    config.print();

    let setup = Instant::now();
    let env = TestEnv::start("scale").await?;
    println!(
        "test control plane and namespace ready in {:.1} s",
        setup.elapsed().as_secs_f64()
    );
    let setup = Instant::now();
    let ns = env.ns().to_owned();
    let work = tempfile::tempdir()?;
    let git = Git::serve(config.repo_count, config.apps).await?;
    git.create_secret(&env).await?;
    println!(
        "repositories and git server ready in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    let mut rows = Vec::new();
    let (bin, lanes) = (&config.bin, config.lanes);
    let label = "no Applications, no Promotions (after 10 s)";
    rows.push(baseline(bin, &env, work.path(), "empty", label).await?);

    let all = Lane::all(config.repo_count, config.apps);
    let app_api: Api<DynamicObject> = promote_argocd_sim::applications(env.client().clone(), &ns);
    let took = fixtures::create_applications(&app_api, &all, &git, &ns).await?;
    println!(
        "{} Applications created in {:.1} s",
        lanes * 2,
        took.as_secs_f64()
    );
    let label = format!("{} Applications, no Promotions (after 10 s)", lanes * 2);
    rows.push(baseline(bin, &env, work.path(), "apps", &label).await?);

    let promotions: Api<Promotion> = env.api();
    let took = fixtures::create_promotions(&promotions, &all, &git, &ns).await?;
    println!("{lanes} Promotions created in {:.1} s", took.as_secs_f64());

    // The bench follows the Promotions through a watch, and counts every change it sees.
    let writes = Writes::watch(promotions.clone(), &ns).await?;
    let (mut run, started) = Run::start(bin, &env, work.path(), ticks)?;
    let (row, startup) = run.startup(started, &writes, lanes).await?;
    rows.push(row);
    let settle = phases::settle(&writes).await;
    let (row, idle) = run.idle(&writes, config.idle).await?;
    rows.push(row);
    let wave = phases::wave_lanes(config.wave_size, config.repo_count, config.apps);
    let (row, wave) = run.wave(&writes, &git.repos, &app_api, wave).await?;
    rows.push(row);
    let problems = run.stop().await?;
    writes.stop();

    let audit = {
        let (repos, lanes, ci) = (git.repos.clone(), wave.lanes.clone(), wave.ci.clone());
        let apps = config.apps;
        tokio::task::spawn_blocking(move || audit::audit(&repos, &ci, &lanes, apps)).await??
    };
    let report = Report {
        rows,
        startup,
        settle,
        idle,
        wave,
        problems,
        audit,
    };
    report.print();
    drop(git);
    report.audit.verdict()
}
