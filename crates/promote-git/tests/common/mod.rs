//! Test fixtures: a bare GitOps repository in the layout of the dev/prod runbook, built and
//! inspected with the git CLI, and an outside writer that commits the way a person would.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use promote_git::{
    Credentials, Engine, EngineConfig, PromotionRequest, RemoteSpec, Secret, Source, Target,
};
use promote_gitserver::{BareRepo, HttpServer, RepoDir};
use tempfile::TempDir;

/// The fixtures' git command, as a person would run it: Dana's identity and the real time.
fn git_command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = promote_gitserver::git();
    cmd.args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Dana Developer")
        .env("GIT_AUTHOR_EMAIL", "dana@example.com")
        .env("GIT_COMMITTER_NAME", "Dana Developer")
        .env("GIT_COMMITTER_EMAIL", "dana@example.com")
        .env_remove("GIT_AUTHOR_DATE")
        .env_remove("GIT_COMMITTER_DATE");
    cmd
}

/// Runs git (see [`git_command`]) and returns its trimmed output; failure fails the test.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_command(dir, args).output().expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("git prints UTF-8")
        .trim_end()
        .to_string()
}

/// Like [`git`], but returns whether it succeeded instead of failing the test.
pub fn git_ok(dir: &Path, args: &[&str]) -> bool {
    git_command(dir, args)
        .output()
        .expect("git runs")
        .status
        .success()
}

pub fn release_file(env: &str, app: &str, tag: &str) -> String {
    format!(
        "# Release values for {app} in {env}.\n\
         # CI (build_payload_dev) writes image.tag in release-dev; Promote copies it to release-prod.\n\
         image:\n  repository: registry.synestra.io/web/{app}\n  tag: \"{tag}\"   # set by the pipeline\n  pullPolicy: IfNotPresent\n\n\
         # Nothing else in this file crosses environments.\n"
    )
}

pub fn env_file(env: &str, app: &str) -> String {
    let (cmd, node_env, host) = if env == "dev" {
        (
            "[\"next\", \"dev\", \"--port\", \"3000\"]",
            "development",
            format!("dev.{app}"),
        )
    } else {
        ("[\"next\", \"start\"]", "production", app.to_string())
    };
    format!(
        "command: {cmd}\nenv:\n  NODE_ENV: {node_env}\ningress:\n  hosts:\n    - {host}\nenvFrom:\n  secretRef: web-{app}-{env}-env\n"
    )
}

pub fn dev_path(app: &str) -> String {
    format!("deploy/env/release-dev/{app}.yaml")
}

pub fn prod_path(app: &str) -> String {
    format!("deploy/env/release-prod/{app}.yaml")
}

/// A bare repository on `main` with release and env files for each app; dev runs `dev-<app>-2`
/// and prod runs `prod-<app>-1`.
pub struct Fixture {
    pub dir: TempDir,
    pub bare: PathBuf,
    pub cache: PathBuf,
}

impl Fixture {
    pub fn new(apps: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let bare = dir.path().join("web-core.git");
        let cache = dir.path().join("cache");
        let seed = dir.path().join("seed");
        std::fs::create_dir_all(&seed).expect("seed dir");
        git(
            dir.path(),
            &[
                "init",
                "-q",
                "--bare",
                "-b",
                "main",
                bare.to_str().expect("utf-8 path"),
            ],
        );
        git(&seed, &["init", "-q", "-b", "main"]);
        for app in apps {
            for env in ["dev", "prod"] {
                let tag = if env == "dev" {
                    format!("dev-{app}-2")
                } else {
                    format!("prod-{app}-1")
                };
                write(
                    &seed,
                    &format!("deploy/env/release-{env}/{app}.yaml"),
                    &release_file(env, app, &tag),
                );
                write(
                    &seed,
                    &format!("deploy/env/{env}/{app}.yaml"),
                    &env_file(env, app),
                );
            }
        }
        write(&seed, "README.md", "# web-core\n");
        git(&seed, &["add", "-A"]);
        git(&seed, &["commit", "-q", "-m", "initial layout"]);
        git(
            &seed,
            &["push", "-q", bare.to_str().expect("utf-8 path"), "main"],
        );
        Self { dir, bare, cache }
    }

    pub fn url(&self) -> String {
        self.bare.to_str().expect("utf-8 path").to_string()
    }

    pub fn remote(&self) -> RemoteSpec {
        RemoteSpec::new(&self.url()).expect("valid url")
    }

    pub fn engine(&self) -> Engine {
        Engine::new(EngineConfig::new(&self.cache)).expect("engine")
    }

    /// The file's content on main in the bare repository.
    pub fn show(&self, path: &str) -> String {
        git(&self.bare, &["show", &format!("main:{path}")])
    }

    pub fn tip(&self) -> String {
        git(&self.bare, &["rev-parse", "main"])
    }

    pub fn commit_count(&self) -> usize {
        git(&self.bare, &["rev-list", "--count", "main"])
            .parse()
            .expect("a number")
    }

    pub fn merges(&self) -> String {
        git(&self.bare, &["rev-list", "--merges", "main"])
    }

    /// The standard dev -> prod request for `app`.
    pub fn request(&self, app: &str) -> PromotionRequest {
        PromotionRequest::new(
            self.remote(),
            "main",
            format!("web/{app}-prod"),
            Source::file(dev_path(app), &["image.tag"]).environment("dev"),
            Target::new(prod_path(app), &["image.tag"]).environment("prod"),
        )
    }

    /// A person's clone, for commits from outside the engine.
    pub fn outside(&self, name: &str) -> Outside {
        let work = self.dir.path().join(name);
        git(
            self.dir.path(),
            &[
                "clone",
                "-q",
                &self.url(),
                work.to_str().expect("utf-8 path"),
            ],
        );
        Outside { work }
    }
}

pub fn write(root: &Path, rel: &str, content: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
    std::fs::write(path, content).expect("write");
}

/// A clone where a person edits, commits and pushes (rebasing when the branch moved).
pub struct Outside {
    pub work: PathBuf,
}

impl Outside {
    /// Commits `content` at `path` and pushes it; returns the pushed commit.
    pub fn commit(&self, path: &str, content: &str, message: &str) -> String {
        git(&self.work, &["pull", "-q", "--rebase", "origin", "main"]);
        write(&self.work, path, content);
        git(&self.work, &["add", path]);
        git(&self.work, &["commit", "-q", "-m", message]);
        for _ in 0..50 {
            if git_ok(&self.work, &["push", "-q", "origin", "HEAD:main"]) {
                return git(&self.work, &["rev-parse", "HEAD"]);
            }
            git(&self.work, &["pull", "-q", "--rebase", "origin", "main"]);
        }
        panic!("outside writer could not push after 50 attempts");
    }
}

/// The release and env files of `apps`, for repositories created by `promote-gitserver`.
pub fn layout(apps: &[&str]) -> Vec<(String, String)> {
    let mut files = Vec::new();
    for app in apps {
        for env in ["dev", "prod"] {
            let tag = if env == "dev" {
                format!("dev-{app}-2")
            } else {
                format!("prod-{app}-1")
            };
            files.push((
                format!("deploy/env/release-{env}/{app}.yaml"),
                release_file(env, app, &tag),
            ));
            files.push((format!("deploy/env/{env}/{app}.yaml"), env_file(env, app)));
        }
    }
    files
}

/// Borrowed view of [`layout`] for `RepoDir::create`.
pub fn borrowed(files: &[(String, String)]) -> Vec<(&str, &str)> {
    files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect()
}

/// The standard dev -> prod request for `app` against `remote`.
pub fn request_for(remote: RemoteSpec, app: &str) -> PromotionRequest {
    PromotionRequest::new(
        remote,
        "main",
        format!("web/{app}-prod"),
        Source::file(dev_path(app), &["image.tag"]).environment("dev"),
        Target::new(prod_path(app), &["image.tag"]).environment("prod"),
    )
}

/// Installs a `pre-receive` hook in a bare repository served over HTTP or SSH.
pub fn install_hook(bare: &Path, script: &str) {
    use std::os::unix::fs::PermissionsExt;
    let hook = bare.join("hooks/pre-receive");
    std::fs::create_dir_all(hook.parent().expect("hooks dir")).expect("mkdir hooks");
    std::fs::write(&hook, script).expect("write hook");
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).expect("chmod hook");
}

/// Absolute path of a binary on PATH (hooks run with the web server's minimal environment).
pub fn which(name: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .expect("sh runs");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

/// A hook that, on the first push only, moves `main` to branch `outside` (a commit prepared
/// beforehand) as if another writer had pushed between the engine's fetch and its push.
pub fn race_once_hook() -> String {
    let git = which("git");
    format!(
        "#!/bin/sh\n\
         cat >/dev/null\n\
         if [ ! -e raced ]; then\n\
         : > raced\n\
         env -u GIT_QUARANTINE_PATH -u GIT_OBJECT_DIRECTORY -u GIT_ALTERNATE_OBJECT_DIRECTORIES \
         {git} update-ref refs/heads/main \"$({git} rev-parse refs/heads/outside)\" || exit 1\n\
         fi\n\
         exit 0\n"
    )
}

/// Prepares branch `outside`: a child of `main` with `files` changed, not yet on `main`.
pub fn stage_outside_commit(bare: &Path, files: &[(&str, &str)], message: &str) -> String {
    let scratch = tempfile::tempdir().expect("scratch");
    let work = scratch.path().join("w");
    git(
        scratch.path(),
        &["clone", "-q", bare.to_str().expect("utf-8"), "w"],
    );
    for (path, content) in files {
        write(&work, path, content);
    }
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", message]);
    git(&work, &["push", "-q", "origin", "HEAD:refs/heads/outside"]);
    git(&work, &["rev-parse", "HEAD"])
}

/// Waits until `ready` holds (a positive signal), failing the test after `within`.
pub async fn wait_for(what: &str, within: std::time::Duration, ready: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !ready() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// A `pre-receive` hook that refuses any push changing a path that contains `needle`.
pub fn refuse_changes_to_hook(needle: &str, reason: &str) -> String {
    let git = which("git");
    format!(
        "#!/bin/sh\n\
         while read old new ref; do\n\
         if {git} diff --name-only \"$old\" \"$new\" | grep -q -F '{needle}'; then\n\
         echo '{reason}' >&2\n\
         exit 1\n\
         fi\n\
         done\n\
         exit 0\n"
    )
}

/// A `web-core` repository (plus any others) served over smart HTTP with basic auth, and an
/// empty cache directory for the engine.
pub struct HttpSetup {
    _repos: RepoDir,
    pub repo: BareRepo,
    pub http: HttpServer,
    cache: TempDir,
}

impl HttpSetup {
    /// `web-core` with the layout of `apps`.
    pub fn new(apps: &[&str]) -> Self {
        Self::with(apps, &[], &[])
    }

    /// `web-core` with the layout of `apps` and `extra` files, and each of `others` (a name and
    /// its apps) beside it.
    pub fn with(apps: &[&str], extra: &[(&str, &str)], others: &[(&str, &[&str])]) -> Self {
        let repos = RepoDir::new().expect("repo dir");
        let mut files = layout(apps);
        files.extend(extra.iter().map(|(p, c)| (p.to_string(), c.to_string())));
        let repo = repos
            .create("web-core", &borrowed(&files))
            .expect("create repo");
        for (name, apps) in others {
            repos
                .create(name, &borrowed(&layout(apps)))
                .expect("create other repo");
        }
        let http = HttpServer::start(&repos).expect("start lighttpd");
        Self {
            _repos: repos,
            repo,
            http,
            cache: tempfile::tempdir().expect("cache dir"),
        }
    }

    /// The server's address on loopback.
    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.http.port()))
    }

    /// `web-core` with the server's credentials.
    pub fn remote(&self) -> RemoteSpec {
        self.remote_with_password(&self.http.credentials().password)
    }

    /// `web-core` with the server's user name and `password`.
    pub fn remote_with_password(&self, password: &str) -> RemoteSpec {
        self.basic(&self.http.url("web-core"), password)
    }

    /// `name` on the server, reached at `addr` (the server itself or a proxy in front of it),
    /// with the server's credentials.
    pub fn remote_at(&self, addr: std::net::SocketAddr, name: &str) -> RemoteSpec {
        self.basic(
            &format!("http://{addr}/git/{name}.git"),
            &self.http.credentials().password,
        )
    }

    fn basic(&self, url: &str, password: &str) -> RemoteSpec {
        RemoteSpec::new(url)
            .expect("url")
            .with_credentials(Credentials::Basic {
                username: self.http.credentials().username.clone(),
                password: Secret::new(password),
            })
    }

    /// The engine's cache directory.
    pub fn cache_dir(&self) -> &Path {
        self.cache.path()
    }

    /// An engine with the default configuration on [`Self::cache_dir`].
    pub fn engine(&self) -> Engine {
        self.engine_with(EngineConfig::new(self.cache_dir()))
    }

    pub fn engine_with(&self, config: EngineConfig) -> Engine {
        Engine::new(config).expect("engine")
    }

    /// `main` of `web-core`.
    pub fn tip(&self) -> String {
        self.repo.head("main").expect("head").expect("main exists")
    }

    /// The prod release file of `app` on `main`.
    pub fn prod(&self, app: &str) -> String {
        self.repo
            .read_file("main", &prod_path(app))
            .expect("read")
            .expect("file exists")
    }

    /// Runs git in the served bare repository, as another writer on the server would.
    pub fn server_git(&self, args: &[&str]) -> String {
        let out = self.repo.git().args(args).output().expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}
