//! A large repository for benchmarks, built with `git fast-import` and cached on disk.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::cmd::{self, AUTHOR_EMAIL, AUTHOR_NAME, check, random_hex, run};
use crate::error::{Error, Result};
use crate::repo::{BareRepo, DEFAULT_BRANCH, RepoDir};

/// Bump when the generated content changes, so stale caches are not reused.
const GENERATOR_VERSION: u32 = 1;

/// Commit timestamps start here (2020-09-13) and advance one minute per commit.
const BASE_TIME: u64 = 1_600_000_000;

/// The shape of a generated repository. Every count is exact.
///
/// The tree holds `files` files: for each of `apps` apps a dev and a prod release file
/// ([`BigRepoSpec::release_file`], YAML with `image.tag`), and `files - 2 * apps` filler files
/// under `services/`. The first commit adds them all; each later commit changes one file:
/// every tenth bumps an app's dev tag to `1.0.<commit index>`, the others edit a filler file.
/// History is linear on `main`; prod tags stay `1.0.0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BigRepoSpec {
    /// Commits on `main` (at least 1).
    pub commits: usize,
    /// Files in the tip tree (at least 1 and at least `2 * apps`).
    pub files: usize,
    /// Apps with a dev and a prod release file.
    pub apps: usize,
}

impl BigRepoSpec {
    /// The size the benchmarks use: 20,000 commits, 5,000 files, 500 apps.
    pub const BENCHMARK: BigRepoSpec = BigRepoSpec {
        commits: 20_000,
        files: 5_000,
        apps: 500,
    };

    /// Directory name of this spec in the cache.
    pub fn cache_name(&self) -> String {
        format!(
            "big-c{}-f{}-a{}-v{GENERATOR_VERSION}.git",
            self.commits, self.files, self.apps
        )
    }

    /// Name of app `index`: `app-0007`.
    pub fn app_name(index: usize) -> String {
        format!("app-{index:04}")
    }

    /// Release file of app `index` in `env` (`dev` or `prod`):
    /// `deploy/env/release-<env>/app-NNNN.yaml`.
    pub fn release_file(env: &str, index: usize) -> String {
        format!("deploy/env/release-{env}/{}.yaml", Self::app_name(index))
    }

    fn filler(&self) -> usize {
        self.files - 2 * self.apps
    }

    fn validate(&self) -> Result<()> {
        let reason = if self.commits == 0 {
            Some("needs at least one commit")
        } else if self.files == 0 {
            Some("needs at least one file")
        } else if self.files < 2 * self.apps {
            Some("needs at least two files per app")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(Error::Invalid {
                what: "big repository spec",
                value: format!("{self:?}"),
                reason,
            }),
            None => Ok(()),
        }
    }
}

/// A generated repository in the cache. Never write to it: import a copy with
/// [`BigRepo::import_into`] (objects are hard-linked when on the same filesystem).
#[derive(Clone, Debug)]
pub struct BigRepo {
    /// Path of the cached bare repository.
    pub path: PathBuf,
    /// What it contains.
    pub spec: BigRepoSpec,
    /// How long generation took, or `None` when it came from the cache.
    pub generated_in: Option<Duration>,
}

impl BigRepo {
    /// Copies the cached repository into `repos` as `name`, ready to serve and push to.
    pub fn import_into(&self, repos: &RepoDir, name: &str) -> Result<BareRepo> {
        repos.import(name, &self.path)
    }
}

/// `${PROMOTE_CACHE:-$HOME/.cache/promote}` (the system temp dir when `HOME` is unset).
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("PROMOTE_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => PathBuf::from(home).join(".cache").join("promote"),
        None => std::env::temp_dir().join("promote-cache"),
    }
}

/// The repository for `spec` from `<cache_root>/bench/`, generated there first if missing.
pub fn cached_big_repo(spec: BigRepoSpec) -> Result<BigRepo> {
    cached_big_repo_in(&cache_root().join("bench"), spec)
}

/// Like [`cached_big_repo`] with an explicit cache directory.
///
/// Safe to call from several processes at once: each generates into a private directory and
/// renames it into place; the first rename wins.
pub fn cached_big_repo_in(cache_dir: &Path, spec: BigRepoSpec) -> Result<BigRepo> {
    spec.validate()?;
    let path = cache_dir.join(spec.cache_name());
    if is_bare_repo(&path) {
        return Ok(BigRepo {
            path,
            spec,
            generated_in: None,
        });
    }
    std::fs::create_dir_all(cache_dir)
        .map_err(|e| Error::io(format!("creating {}", cache_dir.display()), e))?;
    let tmp = cache_dir.join(format!(
        ".tmp-{}-{}-{}",
        spec.cache_name(),
        std::process::id(),
        random_hex(4)?
    ));
    let generated = generate_big_repo(spec, &tmp);
    let elapsed = match generated {
        Ok(elapsed) => elapsed,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    if let Err(e) = std::fs::rename(&tmp, &path) {
        let _ = std::fs::remove_dir_all(&tmp);
        if !is_bare_repo(&path) {
            return Err(Error::io(
                format!("moving big repository to {}", path.display()),
                e,
            ));
        }
    }
    eprintln!(
        "promote-gitserver: generated {} ({} commits, {} files) in {:.1}s at {}",
        spec.cache_name(),
        spec.commits,
        spec.files,
        elapsed.as_secs_f64(),
        path.display()
    );
    Ok(BigRepo {
        path,
        spec,
        generated_in: Some(elapsed),
    })
}

fn is_bare_repo(path: &Path) -> bool {
    path.join("HEAD").is_file() && path.join("objects").is_dir()
}

/// Generates the repository for `spec` as a new bare repository at `dest` (no cache).
/// Returns how long it took (fast-import plus repack).
pub fn generate_big_repo(spec: BigRepoSpec, dest: &Path) -> Result<Duration> {
    spec.validate()?;
    let start = Instant::now();
    run(cmd::git()
        .args([
            "init",
            "--quiet",
            "--bare",
            "--initial-branch",
            DEFAULT_BRANCH,
        ])
        .arg(dest))?;
    let repo = BareRepo::open(dest);
    let mut import = repo.git();
    import
        .args(["fast-import", "--quiet", "--date-format=raw"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = import
        .spawn()
        .map_err(|e| Error::io("starting git fast-import", e))?;
    let written = match child.stdin.take() {
        Some(stdin) => {
            let mut out = BufWriter::with_capacity(1 << 20, stdin);
            write_stream(&spec, &mut out).and_then(|()| out.flush())
        }
        None => Ok(()),
    };
    let out = child
        .wait_with_output()
        .map_err(|e| Error::io("waiting for git fast-import", e))?;
    check(&out, "git fast-import")?;
    written.map_err(|e| Error::io("writing the fast-import stream", e))?;
    // One well-deltified pack, like a server's repository after maintenance.
    run(repo.git().args(["repack", "-a", "-d", "-q"]))?;
    run(repo
        .git()
        .args(["commit-graph", "write", "--reachable", "--no-progress"]))?;
    Ok(start.elapsed())
}

fn filler_path(index: usize) -> String {
    format!("services/svc-{:03}/src/file-{index:05}.txt", index / 100)
}

fn filler_content(index: usize, revision: usize) -> String {
    let mut text = format!("# {}\n", filler_path(index));
    for line in 0..6 {
        text.push_str(&format!(
            "line {line}: the quick brown fox jumps over the lazy dog {}\n",
            index * 31 + line
        ));
    }
    text.push_str(&format!("revision {revision}\n"));
    text
}

fn release_content(app: usize, env: &str, tag: &str) -> String {
    let name = BigRepoSpec::app_name(app);
    format!(
        "# Release of {name} in {env}.\nimage:\n  repository: registry.example.com/apps/{name}\n  tag: {tag}\n"
    )
}

fn write_stream(spec: &BigRepoSpec, out: &mut impl Write) -> std::io::Result<()> {
    let filler = spec.filler();
    for commit in 0..spec.commits {
        let mut changes: Vec<(String, String)> = Vec::new();
        let message;
        if commit == 0 {
            for app in 0..spec.apps {
                for env in ["dev", "prod"] {
                    changes.push((
                        BigRepoSpec::release_file(env, app),
                        release_content(app, env, "1.0.0"),
                    ));
                }
            }
            for index in 0..filler {
                changes.push((filler_path(index), filler_content(index, 0)));
            }
            message = "Initial import".to_owned();
        } else if spec.apps > 0 && (filler == 0 || commit % 10 == 0) {
            let app = (commit / 10) % spec.apps;
            let tag = format!("1.0.{commit}");
            changes.push((
                BigRepoSpec::release_file("dev", app),
                release_content(app, "dev", &tag),
            ));
            message = format!("Bump {} dev to {tag}", BigRepoSpec::app_name(app));
        } else {
            // A stride coprime with most sizes spreads edits over the whole tree.
            let index = (commit * 7919) % filler;
            changes.push((filler_path(index), filler_content(index, commit)));
            message = format!("Edit {} (revision {commit})", filler_path(index));
        }
        let time = BASE_TIME + 60 * commit as u64;
        writeln!(out, "commit refs/heads/{DEFAULT_BRANCH}")?;
        writeln!(out, "author {AUTHOR_NAME} <{AUTHOR_EMAIL}> {time} +0000")?;
        writeln!(out, "committer {AUTHOR_NAME} <{AUTHOR_EMAIL}> {time} +0000")?;
        write_data(out, message.as_bytes())?;
        for (path, content) in &changes {
            writeln!(out, "M 100644 inline {path}")?;
            write_data(out, content.as_bytes())?;
        }
        writeln!(out)?;
    }
    writeln!(out, "done")
}

fn write_data(out: &mut impl Write, data: &[u8]) -> std::io::Result<()> {
    writeln!(out, "data {}", data.len())?;
    out.write_all(data)?;
    writeln!(out)
}

/// `git count-objects -vH` of the repository at `path`, for reports.
pub fn describe_size(path: &Path) -> Result<String> {
    run(BareRepo::open(path).git().args(["count-objects", "-vH"]))
}
