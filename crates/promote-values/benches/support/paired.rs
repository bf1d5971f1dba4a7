//! The paired measurement: the floor and the edits timed in the same rounds, one run of each
//! per round in a rotating order, so load that comes and goes hits them alike. Criterion
//! measures each benchmark for seconds, one after the other; on a shared machine the floor
//! and the edit then see different load and their ratio swings (docs/benchmarks.md). Here
//! the ratio is taken of medians over the same rounds, and also per round.

use std::time::{Duration, Instant};

/// Criterion's options that take a value: the word after one of them is not the filter.
const VALUE_OPTIONS: &[&str] = &[
    "-c",
    "--color",
    "-s",
    "--save-baseline",
    "-b",
    "--baseline",
    "--baseline-lenient",
    "--format",
    "--profile-time",
    "--load-baseline",
    "--sample-size",
    "--warm-up-time",
    "--measurement-time",
    "--nresamples",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--plotting-backend",
    "--output-format",
];

/// Which paired measurements run, decided from the command line as criterion decides for
/// its own benchmarks: only under `cargo bench` (`--bench`), never when listing, testing,
/// profiling or with `--ignored`, and only for ids the filter accepts.
#[derive(Debug)]
pub struct Selection {
    run: bool,
    exact: bool,
    filter: Option<regex::Regex>,
}

impl Selection {
    pub fn from_args() -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let has = |flag: &str| args.iter().any(|a| a == flag);
        let mut filter = None;
        let mut words = args.iter();
        while let Some(arg) = words.next() {
            if VALUE_OPTIONS.contains(&arg.as_str()) {
                words.next();
            } else if !arg.starts_with('-') && filter.is_none() {
                filter = Some(arg.clone());
            }
        }
        let profiling = args.iter().any(|a| a.starts_with("--profile-time"));
        Selection {
            run: has("--bench")
                && !has("--test")
                && !has("--list")
                && !has("--ignored")
                && !profiling,
            exact: has("--exact"),
            filter: filter.map(|f| regex::Regex::new(&f).expect("the filter is a regex")),
        }
    }

    pub fn accepts(&self, id: &str) -> bool {
        self.run
            && match &self.filter {
                None => true,
                Some(re) if self.exact => re.as_str() == id,
                Some(re) => re.is_match(id),
            }
    }
}

/// How long a paired measurement runs: rounds not recorded first, then up to `rounds`
/// rounds or `time`, whichever ends first.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub warm_up: Duration,
    pub rounds: usize,
    pub time: Duration,
}

/// One thing to time: its name in the report and the work of one run.
pub type Op<'a> = (&'static str, &'a mut dyn FnMut());

/// Times `ops` in rounds, the first op being the floor, and prints the medians and ratios.
pub fn measure(id: &str, ops: &mut [Op<'_>], budget: Budget) {
    let start = Instant::now();
    let mut round = 0;
    while start.elapsed() < budget.warm_up {
        one_round(ops, round);
        round += 1;
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(budget.rounds); ops.len()];
    let start = Instant::now();
    while times[0].len() < budget.rounds && start.elapsed() < budget.time {
        for (i, t) in one_round(ops, round).into_iter().enumerate() {
            times[i].push(t);
        }
        round += 1;
    }
    report(id, ops, &times, start.elapsed());
}

/// Runs each op once, in an order that goes through every rotation forwards and backwards,
/// so no op always comes first or always follows the same one. Returns nanoseconds by op.
fn one_round(ops: &mut [Op<'_>], round: usize) -> Vec<f64> {
    let n = ops.len();
    let mut times = vec![0.0; n];
    for k in 0..n {
        let step = (round + k) % n;
        let i = if (round / n).is_multiple_of(2) {
            step
        } else {
            n - 1 - step
        };
        let t = Instant::now();
        (ops[i].1)();
        times[i] = t.elapsed().as_nanos() as f64;
    }
    times
}

fn report(id: &str, ops: &[Op<'_>], times: &[Vec<f64>], elapsed: Duration) {
    let rounds = times[0].len();
    let floor = quartiles(&times[0]);
    let mut summary = format!("{id}: floor median {}", show(floor[1]));
    let mut details = vec![format!(
        "  {:<28} median {:>10}  quartiles {}–{}",
        ops[0].0,
        show(floor[1]),
        show(floor[0]),
        show(floor[2])
    )];
    for (op, t) in ops.iter().zip(times).skip(1) {
        let q = quartiles(t);
        let per_round: Vec<f64> = t.iter().zip(&times[0]).map(|(a, f)| a / f).collect();
        let per_round = quartiles(&per_round)[1];
        let ratio = q[1] / floor[1];
        summary += &format!(", {} {}, ratio {ratio:.2}×", short_name(op.0), show(q[1]));
        details.push(format!(
            "  {:<28} median {:>10}  quartiles {}–{}  ratio of medians {ratio:.2}×, \
             median of per-round ratios {per_round:.2}×",
            op.0,
            show(q[1]),
            show(q[0]),
            show(q[2])
        ));
    }
    println!(
        "{summary} ({rounds} rounds, {:.1} s)",
        elapsed.as_secs_f64()
    );
    for line in details {
        println!("{line}");
    }
}

/// `read + set_parts + write` is reported as `set_parts`.
fn short_name(name: &str) -> &str {
    name.strip_prefix("read + ")
        .and_then(|n| n.strip_suffix(" + write"))
        .unwrap_or(name)
}

/// The 25th, 50th and 75th percentiles (nearest rank).
fn quartiles(values: &[f64]) -> [f64; 3] {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |p: usize| sorted[(sorted.len() - 1) * p / 100];
    [at(25), at(50), at(75)]
}

fn show(nanos: f64) -> String {
    if nanos < 1e6 {
        format!("{:.1} µs", nanos / 1e3)
    } else {
        format!("{:.3} ms", nanos / 1e6)
    }
}
