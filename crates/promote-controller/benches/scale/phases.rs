//! The measured phases of the run: the baselines, start-up, settling, idle and the wave, each
//! one a [`Row`] of figures and what the report says about it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use kube::api::{Api, DynamicObject};
use promote_api::{Phase, PromotionResult};
use promote_gitserver::BareRepo;
use promote_testsupport::TestEnv;

use crate::Res;
use crate::fixtures::{Lane, NEW_TAG, release, report_sync};
use crate::operator::{Counters, OperatorProcess};
use crate::report::Row;
use crate::sample::{
    Sample, Sampler, Smaps, Window, clock_ticks, reset_peak, sample, smaps_breakdown,
};
use crate::writes::{Writes, changed_fields, stretches};

/// How long Argo CD's dev sync follows a CI commit: a little longer than the operator's
/// [`HEAD_TTL`](crate::operator::HEAD_TTL).
pub const ARGO_DELAY: Duration = Duration::from_millis(2500);
const BASELINE_SETTLE: Duration = Duration::from_secs(10);
/// Start-up is over when no Promotion was written for this long (or after `SETTLE_MAX`).
pub const SETTLE_QUIET: Duration = Duration::from_secs(10);
const SETTLE_MAX: Duration = Duration::from_secs(60);
/// A phase fails after 300 s, plus 60 ms for each lane it waits for (10,000 lanes: 15 min).
fn phase_timeout(lanes: usize) -> Duration {
    Duration::from_secs(300) + Duration::from_millis(60) * lanes as u32
}
/// How often a phase that waits for the Promotions looks at them.
const LOOK_EVERY: Duration = Duration::from_millis(200);
/// How often a phase that waits says how far it got.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// Runs an operator for a while with what exists now and reports its resident memory.
pub async fn baseline(bin: &Path, env: &TestEnv, work: &Path, tag: &str, label: &str) -> Res<Row> {
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

/// The start of a measured stretch: when, and the operator's first sample.
#[derive(Debug)]
pub struct Mark {
    at: Instant,
    first: Sample,
}

impl Mark {
    fn now(pid: u32) -> Res<Self> {
        let at = Instant::now();
        Ok(Self {
            at,
            first: sample(pid)?,
        })
    }
}

/// The peak RSS of a stretch: VmHWM counts only if it was reset at the stretch's start.
fn peak(reset: bool, end: &Sample, w: &Window) -> u64 {
    if reset {
        end.hwm.max(w.rss_max)
    } else {
        w.rss_max
    }
}

/// What settling after start-up saw.
#[derive(Debug)]
pub struct Settle {
    pub wall: Duration,
    pub writes: usize,
    pub diff: BTreeMap<String, usize>,
}

/// What idle saw besides its row.
#[derive(Debug)]
pub struct Idle {
    pub span: Duration,
    pub counters: Counters,
    /// Promotion writes by 10-second stretch.
    pub changes: Vec<usize>,
    pub phases: BTreeMap<String, usize>,
    pub diff: BTreeMap<String, usize>,
    pub smaps: Smaps,
}

/// What the wave saw besides its row.
#[derive(Debug)]
pub struct Wave {
    pub lanes: Vec<Lane>,
    pub counters: Counters,
    /// The CI commit, by repository.
    pub ci: HashMap<usize, String>,
    pub smaps: Smaps,
    /// Dev synced → Promoted, per lane, shortest first.
    pub latencies: Vec<Duration>,
}

type DevSynced = Arc<Mutex<HashMap<Lane, Instant>>>;

/// The operator under measurement, with every Promotion present, and its sampler.
#[derive(Debug)]
pub struct Run {
    op: OperatorProcess,
    pid: u32,
    sampler: Sampler,
    ticks: f64,
    bin: PathBuf,
}

impl Run {
    /// Starts the operator and its sampler; the mark is the start of start-up.
    pub fn start(bin: &Path, env: &TestEnv, work: &Path, ticks: f64) -> Res<(Self, Mark)> {
        let op =
            OperatorProcess::start(bin, env.control_plane.kubeconfig(), env.ns(), work, "run")?;
        let pid = op.pid();
        let mark = Mark::now(pid)?;
        let run = Self {
            op,
            pid,
            sampler: Sampler::start(pid),
            ticks,
            bin: bin.to_path_buf(),
        };
        Ok((run, mark))
    }

    fn cpu(&self, mark: &Mark, end: &Sample) -> f64 {
        (end.cpu_ticks - mark.first.cpu_ticks) as f64 / self.ticks
    }

    /// Start-up: until every one of `lanes` Promotions is InSync.
    pub async fn startup(
        &mut self,
        mark: Mark,
        writes: &Writes,
        lanes: usize,
    ) -> Res<(Row, Counters)> {
        let mut last_report = Instant::now();
        loop {
            self.op.exited()?;
            let counts = writes.phases();
            if counts.get("InSync") == Some(&lanes) && writes.count() == lanes {
                break;
            }
            if mark.at.elapsed() > phase_timeout(lanes) {
                return Err(format!(
                    "not every Promotion was InSync in time: {counts:?}\n{}",
                    self.op.log_tail()
                )
                .into());
            }
            if last_report.elapsed() > PROGRESS_EVERY {
                eprintln!(
                    "  start-up {:.0} s: {counts:?}",
                    mark.at.elapsed().as_secs_f64()
                );
                last_report = Instant::now();
            }
            tokio::time::sleep(LOOK_EVERY).await;
        }
        let end = sample(self.pid)?;
        let counters = self.op.counters().await?;
        let w = self.sampler.window(mark.at);
        let row = Row::sampled(
            format!("start-up: {lanes} Promotions to InSync"),
            mark.at.elapsed(),
            self.cpu(&mark, &end),
            end,
            end.hwm,
            w,
        );
        Ok((row, counters))
    }

    /// Idle for `span`: what the operator does, and writes, with nothing to do.
    pub async fn idle(&mut self, writes: &Writes, span: Duration) -> Res<(Row, Idle)> {
        let peak_reset = reset_peak(self.pid);
        let before = self.op.counters().await?;
        let mark = Mark::now(self.pid)?;
        let snapshot = writes.statuses();
        tokio::time::sleep(span).await;
        self.op.exited()?;
        let end = sample(self.pid)?;
        let counters = self.op.counters().await?.minus(before);
        let changes = writes.by_ten_seconds(mark.at, stretches(span));
        let w = self.sampler.window(mark.at);
        let phases = writes.phases();
        let diff = changed_fields(&snapshot, &writes.statuses());
        let row = Row::sampled(
            format!("idle, {} s", span.as_secs()),
            mark.at.elapsed(),
            self.cpu(&mark, &end),
            end,
            peak(peak_reset, &end, &w),
            w,
        );
        let smaps = smaps_breakdown(self.pid, &self.bin, self.op.cache())?;
        let idle = Idle {
            span,
            counters,
            changes,
            phases,
            diff,
            smaps,
        };
        Ok((row, idle))
    }

    /// The wave over `lanes`: CI commits, Argo CD's syncs, until every lane is Promoted.
    pub async fn wave(
        &mut self,
        writes: &Writes,
        repos: &Arc<Vec<BareRepo>>,
        app_api: &Api<DynamicObject>,
        lanes: Vec<Lane>,
    ) -> Res<(Row, Wave)> {
        let peak_reset = reset_peak(self.pid);
        let before = self.op.counters().await?;
        let mark = Mark::now(self.pid)?;
        let dev_synced: DevSynced = Arc::default();
        let ci = tokio::spawn(ci_commits(
            repos.clone(),
            lanes.clone(),
            app_api.clone(),
            dev_synced.clone(),
        ));
        let promoted = self
            .follow_wave(writes, repos, app_api, &lanes, mark.at)
            .await?;
        let end = sample(self.pid)?;
        let wall = mark.at.elapsed();
        let counters = self.op.counters().await?.minus(before);
        let ci = ci.await??;
        let w = self.sampler.window(mark.at);
        let row = Row::sampled(
            format!("wave: {} promotions to Promoted", lanes.len()),
            wall,
            self.cpu(&mark, &end),
            end,
            peak(peak_reset, &end, &w),
            w,
        );
        let smaps = smaps_breakdown(self.pid, &self.bin, self.op.cache())?;
        let dev_synced = dev_synced
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let mut latencies: Vec<Duration> = lanes
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
        let wave = Wave {
            lanes,
            counters,
            ci,
            smaps,
            latencies,
        };
        Ok((row, wave))
    }

    /// Argo CD's part for prod: once a lane's commit is pushed, report its Application synced to
    /// the branch tip (which contains the commit) and healthy. Returns when each lane was
    /// Promoted, once all of them are.
    async fn follow_wave(
        &mut self,
        writes: &Writes,
        repos: &[BareRepo],
        app_api: &Api<DynamicObject>,
        wave: &[Lane],
        start: Instant,
    ) -> Res<HashMap<Lane, Instant>> {
        let mut prod_synced: HashMap<Lane, Instant> = HashMap::new();
        let mut promoted: HashMap<Lane, Instant> = HashMap::new();
        let mut last_report = Instant::now();
        while promoted.len() < wave.len() {
            self.op.exited()?;
            for lane in wave {
                let Some(p) = writes.get(*lane) else {
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
                    report_sync(app_api, *lane, "prod", &tip).await?;
                    prod_synced.insert(*lane, Instant::now());
                }
                let done = status.phase == Some(Phase::Promoted)
                    && status.target.as_ref().and_then(|t| t.version.as_deref()) == Some(NEW_TAG);
                if done && !promoted.contains_key(lane) {
                    promoted.insert(*lane, Instant::now());
                }
            }
            if start.elapsed() > phase_timeout(wave.len()) {
                return Err(format!(
                    "only {} of {} lanes were Promoted in time: {:?}\n{}",
                    promoted.len(),
                    wave.len(),
                    writes.phases(),
                    self.op.log_tail()
                )
                .into());
            }
            if last_report.elapsed() > PROGRESS_EVERY {
                eprintln!(
                    "  wave {:.0} s: {} prod synced, {} promoted",
                    start.elapsed().as_secs_f64(),
                    prod_synced.len(),
                    promoted.len()
                );
                last_report = Instant::now();
            }
            tokio::time::sleep(LOOK_EVERY).await;
        }
        Ok(promoted)
    }

    /// The operator's warnings and errors, then a graceful stop and the end of sampling.
    pub async fn stop(self) -> Res<(usize, Vec<(usize, String)>)> {
        let problems = self.op.log_problems();
        self.op.stop().await?;
        drop(self.sampler);
        Ok(problems)
    }
}

/// Settling: the last writes of start-up (second reconciles of the same Promotion) land.
pub async fn settle(writes: &Writes) -> Settle {
    let start = Instant::now();
    let snapshot = writes.statuses();
    loop {
        let quiet = writes.last().is_none_or(|at| at.elapsed() >= SETTLE_QUIET);
        if quiet || start.elapsed() > SETTLE_MAX {
            break;
        }
        tokio::time::sleep(LOOK_EVERY).await;
    }
    let wall = start.elapsed();
    Settle {
        wall,
        writes: writes.count_since(start),
        diff: changed_fields(&snapshot, &writes.statuses()),
    }
}

/// The wave's lanes: `size` of them spread over the repositories, two (or so) per repository.
pub fn wave_lanes(size: usize, repo_count: usize, apps: usize) -> Vec<Lane> {
    let per_repo = size.div_ceil(repo_count);
    (0..size)
        .map(|i| Lane {
            repo: i % repo_count,
            app: (i / repo_count) * apps / per_repo,
        })
        .collect()
}

/// CI's part: one commit per repository bumping the dev tag of its wave lanes, then, after
/// [`ARGO_DELAY`], each dev Application reported synced to it. The commits, by repository.
async fn ci_commits(
    repos: Arc<Vec<BareRepo>>,
    wave: Vec<Lane>,
    apps_api: Api<DynamicObject>,
    dev_synced: DevSynced,
) -> Res<HashMap<usize, String>> {
    let mut by_repo: BTreeMap<usize, Vec<Lane>> = BTreeMap::new();
    for lane in wave {
        by_repo.entry(lane.repo).or_default().push(lane);
    }
    let results: Vec<Res<(usize, String)>> = stream::iter(by_repo)
        .map(|(r, lanes)| {
            ci_commit(
                repos.clone(),
                r,
                lanes,
                apps_api.clone(),
                dev_synced.clone(),
            )
        })
        .buffer_unordered(8)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Repository `r`'s CI commit for `lanes`, and their dev syncs.
async fn ci_commit(
    repos: Arc<Vec<BareRepo>>,
    r: usize,
    lanes: Vec<Lane>,
    apps_api: Api<DynamicObject>,
    dev_synced: DevSynced,
) -> Res<(usize, String)> {
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
