//! Promotion cost on a big repository over smart HTTP and over SSH, against the git CLI.
//!
//! `cargo bench -p promote-git --bench promotion` (set `PROMOTE_BENCH_ITERATIONS`, default 11,
//! at most 100; `PROMOTE_BENCH_LANES`, default 500). Serves the `promote-gitserver` benchmark
//! repository (20,000 commits, 5,000 files, 500 apps) through git http-backend behind lighttpd
//! with basic auth on 127.0.0.1, and through a private sshd with key auth, then measures on
//! each transport, interleaved so all three see the same server state:
//!
//! - (a) one promotion through the engine with a warm cache (fetch, read, edit, commit, push);
//! - (b) the floor: on a warm full clone, `git fetch` + `git reset --hard` + a one-line commit +
//!   `git push` with the git CLI;
//! - (c) what tools that clone per promotion pay: `git clone --depth 1`, edit, commit, push.
//!
//! Then, per transport, where (a)'s time goes: after an outside push, `ls-remote` alone, the
//! fetch alone, and a promotion on the up-to-date cache. Then 500 lanes (one per app) promoted
//! at once over HTTP through the async API while a person pushes unrelated commits: total
//! time, commits made, and a check that no update was lost.
//! Starting servers and generating or copying the repository are outside the measured regions.

use std::path::Path;
use std::time::{Duration, Instant};

use promote_git::{
    Credentials, Engine, EngineConfig, HostKeyPolicy, Outcome, PromotionRequest, RemoteSpec,
    Secret, Source, SshKeySource, Target,
};
use promote_gitserver::{
    BigRepoSpec, HttpServer, Remote, RepoDir, SshServer, cached_big_repo, describe_size,
};

type Failure = Box<dyn std::error::Error>;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn run(remote: &Remote, dir: &Path, args: &[&str]) -> Result<(), Failure> {
    let out = remote.git().arg("-C").arg(dir).args(args).output()?;
    if !out.status.success() {
        return Err(format!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn request(remote: &RemoteSpec, app: usize) -> PromotionRequest {
    let name = BigRepoSpec::app_name(app);
    PromotionRequest::new(
        remote.clone(),
        "main",
        format!("bench/{name}-prod"),
        Source::file(BigRepoSpec::release_file("dev", app), &["image.tag"]).environment("dev"),
        Target::new(BigRepoSpec::release_file("prod", app), &["image.tag"]).environment("prod"),
    )
}

fn remote_spec(http: &HttpServer, name: &str) -> Result<RemoteSpec, Failure> {
    let c = http.credentials();
    Ok(
        RemoteSpec::new(&http.url(name))?.with_credentials(Credentials::Basic {
            username: c.username.clone(),
            password: Secret::new(c.password.clone()),
        }),
    )
}

fn ssh_spec(ssh: &SshServer, name: &str) -> Result<RemoteSpec, Failure> {
    Ok(RemoteSpec::new(&ssh.url(name))?
        .with_credentials(Credentials::SshKey {
            username: None,
            key: SshKeySource::Path(ssh.authorized_key().private_key_path().to_path_buf()),
            passphrase: None,
        })
        .with_host_keys(HostKeyPolicy::from_known_hosts(ssh.known_hosts_line())))
}

/// The targets: (a) at most the floor, and at least 20 times faster than cloning.
const FLOOR_TARGET: f64 = 1.0;
const CLONE_TARGET: f64 = 20.0;

/// One transport's view of the benchmark repository: the engine's and the git CLI's.
struct Side<'a> {
    name: &'a str,
    remote: RemoteSpec,
    git: Remote,
    /// Added to every app index, so each transport edits its own apps.
    apps: usize,
}

fn main() -> Result<(), Failure> {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing that matters here.
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let iterations = env_usize("PROMOTE_BENCH_ITERATIONS", 11).clamp(3, 100);
    let lanes = env_usize("PROMOTE_BENCH_LANES", 500).min(BigRepoSpec::BENCHMARK.apps);
    let spec = BigRepoSpec::BENCHMARK;

    let setup = Instant::now();
    let big = cached_big_repo(spec)?;
    let repos = RepoDir::new()?;
    let repo = big.import_into(&repos, "big")?;
    let http = HttpServer::start(&repos)?;
    let ssh = SshServer::start(&repos)?;
    println!(
        "repository: {} commits, {} files, {} apps; {}",
        spec.commits,
        spec.files,
        spec.apps,
        describe_size(repo.path())?.replace('\n', ", ")
    );
    println!(
        "setup (find or generate, copy, start lighttpd and sshd): {}",
        ms(setup.elapsed())
    );

    // One runtime drives the engine's async API for the whole run.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let sides = [
        Side {
            name: "smart HTTP",
            remote: remote_spec(&http, "big")?,
            git: http.remote("big"),
            apps: 0,
        },
        Side {
            name: "SSH",
            remote: ssh_spec(&ssh, "big")?,
            git: ssh.remote("big"),
            apps: 200,
        },
    ];
    for side in &sides {
        compare(&runtime, side, iterations)?;
    }
    lanes_at_once(&runtime, &big, lanes)?;
    Ok(())
}

/// (a), (b) and (c) interleaved on one transport, then where (a)'s time goes.
fn compare(
    runtime: &tokio::runtime::Runtime,
    side: &Side<'_>,
    iterations: usize,
) -> Result<(), Failure> {
    let apps = BigRepoSpec::BENCHMARK.apps;
    let cache = tempfile::tempdir()?;
    let engine = Engine::new(EngineConfig::new(cache.path()))?;
    let t = Instant::now();
    runtime.block_on(engine.refresh(&side.remote, "main"))?;
    let cold_engine = t.elapsed();

    let work = tempfile::tempdir()?;
    let clone = work.path().join("warm");
    let t = Instant::now();
    side.git.clone_to(&clone)?;
    let cold_clone = t.elapsed();
    run(&side.git, &clone, &["config", "user.name", "Bench"])?;
    run(
        &side.git,
        &clone,
        &["config", "user.email", "bench@example.com"],
    )?;

    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..iterations {
        // (a) the engine, warm cache: an app's dev tag into its prod file.
        let t = Instant::now();
        promote(runtime, &engine, &side.remote, side.apps + i)?;
        a.push(t.elapsed());

        // (b) the floor: warm clone, fetch, one-line commit, push.
        let tag = format!("floor-{}", side.apps + i);
        b.push(floor_round(
            &side.git,
            &clone,
            apps - 1 - side.apps - i,
            &tag,
        )?);
        // (c) clone per promotion.
        c.push(clone_round(&side.git, apps / 2 + side.apps + i, i)?);
    }
    // The first round warms the server's caches for everyone; drop it.
    let (a, b, c) = (
        median(a[1..].to_vec()),
        median(b[1..].to_vec()),
        median(c[1..].to_vec()),
    );
    println!();
    println!(
        "| {} ({} rounds, median) | time |",
        side.name,
        iterations - 1
    );
    println!("|---|---|");
    println!("| (a) engine promotion, warm cache | {} |", ms(a));
    println!(
        "| (b) floor: git fetch + one-line commit + git push, warm clone | {} |",
        ms(b)
    );
    println!(
        "| (c) git clone --depth 1 + edit + commit + push | {} |",
        ms(c)
    );
    println!(
        "| first fetch into the engine's empty cache (once per repository) | {} |",
        ms(cold_engine)
    );
    println!(
        "| full git clone (once, for the floor) | {} |",
        ms(cold_clone)
    );
    let ab = a.as_secs_f64() / b.as_secs_f64();
    let ca = c.as_secs_f64() / a.as_secs_f64();
    println!();
    println!(
        "{}: (a)/(b) = {ab:.2}  (target <= {FLOOR_TARGET}: {})",
        side.name,
        if ab <= FLOOR_TARGET { "met" } else { "MISSED" }
    );
    println!(
        "{}: (c)/(a) = {ca:.1}  (target >= {CLONE_TARGET}: {})",
        side.name,
        if ca >= CLONE_TARGET { "met" } else { "MISSED" }
    );
    split(runtime, &engine, side, &clone, iterations)
}

/// One promotion of `app` through the engine; anything but a commit is a failure.
fn promote(
    runtime: &tokio::runtime::Runtime,
    engine: &Engine,
    remote: &RemoteSpec,
    app: usize,
) -> Result<(), Failure> {
    match runtime.block_on(engine.promote(request(remote, app)))? {
        Outcome::Committed(_) => Ok(()),
        other => Err(format!("expected a commit for app {app}, got {other:?}").into()),
    }
}

/// Where (a)'s time goes, in (a)'s server state: after an outside push (from the warm clone),
/// `ls-remote` alone, the fetch alone, then a promotion on the up-to-date cache.
fn split(
    runtime: &tokio::runtime::Runtime,
    engine: &Engine,
    side: &Side<'_>,
    clone: &Path,
    iterations: usize,
) -> Result<(), Failure> {
    let apps = BigRepoSpec::BENCHMARK.apps;
    let (mut head, mut fetch, mut current) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..iterations {
        let tag = format!("outside-{}", side.apps + i);
        floor_round(&side.git, clone, apps - 1 - side.apps - i, &tag)?;
        let t = Instant::now();
        runtime.block_on(engine.remote_head(&side.remote, "main"))?;
        head.push(t.elapsed());
        let t = Instant::now();
        runtime.block_on(engine.refresh(&side.remote, "main"))?;
        fetch.push(t.elapsed());
        let t = Instant::now();
        promote(runtime, engine, &side.remote, side.apps + 100 + i)?;
        current.push(t.elapsed());
    }
    println!();
    println!(
        "| {}: where (a) goes, one commit behind ({} rounds, median) | time |",
        side.name,
        iterations - 1
    );
    println!("|---|---|");
    println!("| ls-remote alone | {} |", ms(median(head[1..].to_vec())));
    println!(
        "| fetch alone (one new commit) | {} |",
        ms(median(fetch[1..].to_vec()))
    );
    println!(
        "| promotion on the up-to-date cache (head check, build, push) | {} |",
        ms(median(current[1..].to_vec()))
    );
    Ok(())
}

/// (b): on the warm clone, fetch, reset, a one-line commit to `app`'s prod file, push.
fn floor_round(
    git_remote: &Remote,
    clone: &Path,
    app: usize,
    tag: &str,
) -> Result<Duration, Failure> {
    let t = Instant::now();
    run(git_remote, clone, &["fetch", "-q", "origin", "main"])?;
    run(git_remote, clone, &["reset", "-q", "--hard", "FETCH_HEAD"])?;
    let file = clone.join(BigRepoSpec::release_file("prod", app));
    std::fs::write(&file, format!("image:\n  tag: {tag}\n"))?;
    run(git_remote, clone, &["commit", "-q", "-am", "floor"])?;
    run(git_remote, clone, &["push", "-q", "origin", "HEAD:main"])?;
    Ok(t.elapsed())
}

/// (c): a shallow clone, a one-line commit to `app`'s prod file, push.
fn clone_round(git_remote: &Remote, app: usize, i: usize) -> Result<Duration, Failure> {
    let scratch = tempfile::tempdir()?;
    let fresh = scratch.path().join("c");
    let t = Instant::now();
    let out = git_remote
        .git()
        .args([
            "clone",
            "-q",
            "--depth",
            "1",
            "--single-branch",
            "--branch",
            "main",
            "--",
            git_remote.url(),
        ])
        .arg(&fresh)
        .output()?;
    if !out.status.success() {
        return Err(format!("shallow clone: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let file = fresh.join(BigRepoSpec::release_file("prod", app));
    std::fs::write(&file, format!("image:\n  tag: clone-{i}\n"))?;
    run(
        git_remote,
        &fresh,
        &[
            "-c",
            "user.name=Bench",
            "-c",
            "user.email=bench@example.com",
            "commit",
            "-q",
            "-am",
            "clone",
        ],
    )?;
    run(git_remote, &fresh, &["push", "-q", "origin", "HEAD:main"])?;
    Ok(t.elapsed())
}

/// `lanes` promotions of different apps at once, with an outside writer pushing meanwhile.
fn lanes_at_once(
    runtime: &tokio::runtime::Runtime,
    big: &promote_gitserver::BigRepo,
    lanes: usize,
) -> Result<(), Failure> {
    let repos = RepoDir::new()?;
    let repo = big.import_into(&repos, "lanes")?;
    let http = HttpServer::start(&repos)?;
    let remote = remote_spec(&http, "lanes")?;
    let cache = tempfile::tempdir()?;
    let engine = Engine::new(EngineConfig::new(cache.path()))?;
    runtime.block_on(engine.refresh(&remote, "main"))?;
    let before = repo.head("main")?.ok_or("no main")?;
    let writer_remote = http.remote("lanes");

    let t = Instant::now();
    let writer = std::thread::spawn(move || -> Result<Vec<String>, String> {
        (0..10)
            .map(|i| {
                let path = format!("docs/outside-{i}.md");
                writer_remote
                    .commit_files(
                        "main",
                        &[(path.as_str(), "a person's edit\n")],
                        "docs: outside edit",
                    )
                    .map_err(|e| e.to_string())
            })
            .collect()
    });
    let outcomes: Vec<Result<Outcome, promote_git::GitError>> = runtime.block_on(async {
        let tasks: Vec<_> = (0..lanes)
            .map(|app| {
                let (engine, request) = (engine.clone(), request(&remote, app));
                tokio::spawn(async move { engine.promote(request).await })
            })
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        for task in tasks {
            out.push(
                task.await
                    .unwrap_or_else(|e| Err(promote_git::GitError::InvalidRequest(e.to_string()))),
            );
        }
        out
    });
    let total = t.elapsed();
    let outside = writer.join().map_err(|_| "writer panicked")??;

    let committed = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(Outcome::Committed(_))))
        .count();
    let failed: Vec<String> = outcomes
        .iter()
        .filter_map(|o| o.as_ref().err().map(|e| e.to_string()))
        .collect();
    let max_attempts = outcomes
        .iter()
        .filter_map(|o| match o {
            Ok(Outcome::Committed(c)) => Some(c.attempts),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let History { ours, merges, lost } = check_history(repo.path(), &before, lanes, &outside)?;
    println!();
    println!("| {lanes} lanes at once, 10 outside commits meanwhile | |");
    println!("|---|---|");
    println!("| total time | {} |", ms(total));
    println!("| promotions committed | {committed} of {lanes} |");
    println!("| promotion commits on main | {ours} |");
    println!("| most push attempts for one commit | {max_attempts} |");
    println!("| merge commits | {merges} |");
    println!("| lost updates | {lost} |");
    if !failed.is_empty() || lost > 0 || merges > 0 {
        return Err(format!(
            "lanes benchmark failed: {} errors (first: {:?}), {lost} lost, {merges} merges",
            failed.len(),
            failed.first()
        )
        .into());
    }
    Ok(())
}

/// What the lanes run left on main.
struct History {
    /// Commits the engine made.
    ours: usize,
    /// Merge commits (there must be none).
    merges: usize,
    /// Promotions or outside commits that did not end up on main.
    lost: usize,
}

/// Walks main from `before` and checks that no update was lost: every prod file holds its dev
/// tag and every outside commit is on main.
fn check_history(
    bare: &Path,
    before: &str,
    lanes: usize,
    outside: &[String],
) -> Result<History, Failure> {
    let commits = git2::Repository::open_bare(bare)?;
    let main = commits.refname_to_id("refs/heads/main")?;
    let mut walk = commits.revwalk()?;
    walk.push(main)?;
    walk.hide(git2::Oid::from_str(before)?)?;
    let (mut ours, mut merges) = (0, 0);
    for oid in walk {
        let commit = commits.find_commit(oid?)?;
        if commit.committer().email_bytes() == b"promote@localhost" {
            ours += 1;
        }
        if commit.parent_count() > 1 {
            merges += 1;
        }
    }
    let tree = commits.find_commit(main)?.tree()?;
    let read = |path: &str| -> Result<String, Failure> {
        let blob = tree
            .get_path(Path::new(path))?
            .to_object(&commits)?
            .peel_to_blob()?;
        Ok(promote_values::get(path, blob.content(), "image.tag")?)
    };
    let mut lost = 0;
    for app in 0..lanes {
        let prod = read(&BigRepoSpec::release_file("prod", app))?;
        let dev = read(&BigRepoSpec::release_file("dev", app))?;
        if prod != dev {
            eprintln!(
                "{}: prod holds {prod}, dev {dev}",
                BigRepoSpec::app_name(app)
            );
            lost += 1;
        }
    }
    for c in outside {
        let c = git2::Oid::from_str(c)?;
        // graph_descendant_of is strict: the tip itself is not its own descendant.
        if c != main && !commits.graph_descendant_of(main, c)? {
            eprintln!("outside commit {c} is not on main");
            lost += 1;
        }
    }
    Ok(History { ours, merges, lost })
}
