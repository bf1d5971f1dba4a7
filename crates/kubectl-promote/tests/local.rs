//! `local` and `demo` through the real binary, against bare repositories on disk and real git
//! servers on loopback (smart HTTP with basic auth, sshd with keys).

use std::path::Path;
use std::process::{Command, Output};

use promote_gitserver::{BareRepo, HttpServer, RepoDir, SshServer};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-promote");
const DEV: &str = "deploy/env/release-dev/web.yaml";
const PROD: &str = "deploy/env/release-prod/web.yaml";

fn release(env: &str, tag: &str) -> String {
    format!(
        "# {env} release of web\nimage:\n  repository: ghcr.io/acme/web\n  tag: {tag} # written by the pipeline\n  digest: \"\"\n"
    )
}

fn repo(repos: &RepoDir) -> BareRepo {
    let (dev, prod) = (release("dev", "v2"), release("prod", "v1"));
    repos
        .create("web-core", &[(DEV, dev.as_str()), (PROD, prod.as_str())])
        .expect("create repo")
}

/// The binary with a clean environment: no credentials, a private HOME and cache.
fn cli(home: &Path) -> Command {
    let mut c = Command::new(BIN);
    for var in [
        "PROMOTE_GIT_TOKEN",
        "PROMOTE_GIT_USERNAME",
        "PROMOTE_GIT_PASSWORD",
        "PROMOTE_SSH_KEY",
        "PROMOTE_SSH_KEY_PASSPHRASE",
        "PROMOTE_SSH_KNOWN_HOSTS",
        "PROMOTE_SSH_HOST_KEY",
        "PROMOTE_SSH_USER",
        "XDG_CACHE_HOME",
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
    ] {
        c.env_remove(var);
    }
    c.env("HOME", home)
        .env("PROMOTE_CACHE_DIR", home.join("cache"));
    c
}

fn local(home: &Path, repo: &str, extra: &[&str]) -> Command {
    let mut c = cli(home);
    c.args(["local", "--repo", repo, "--from", DEV, "--to", PROD])
        .args(extra);
    c
}

fn out(c: &mut Command) -> (i32, String, String) {
    let o: Output = c.output().expect("the binary runs");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn tip(repo: &BareRepo) -> String {
    repo.head("main").expect("head").expect("main exists")
}

#[test]
fn local_promotes_then_reports_in_sync() {
    let home = tempfile::tempdir().expect("home");
    let repos = RepoDir::new().expect("repos");
    let repo = repo(&repos);
    let path = repo.path().to_str().expect("utf-8").to_string();
    let (code, stdout, stderr) = out(&mut local(
        home.path(),
        &path,
        &[
            "--message",
            "release train 42",
            "--approved-by",
            "oncall-lead",
        ],
    ));
    assert_eq!(code, 0, "{stderr}");
    let words: Vec<&str> = stdout.trim().split(' ').collect();
    assert_eq!(&words[..4], ["promoted", "v1", "->", "v2"], "{stdout}");
    assert_eq!(words[4], tip(&repo));
    assert_eq!(stdout.lines().count(), 1);
    assert_eq!(
        repo.read_file("main", PROD).expect("read").as_deref(),
        Some(release("prod", "v2").as_str())
    );
    let message = repo.commit_message("main").expect("message");
    assert!(
        message.contains("release train 42") && message.contains("approved by: oncall-lead"),
        "{message}"
    );
    assert!(
        repo.trailers("main")
            .expect("trailers")
            .contains(&("Promotion".into(), "local/web".into()))
    );

    let (code, stdout, _) = out(&mut local(home.path(), &path, &[]));
    assert_eq!((code, stdout.trim()), (0, "in sync v2"));
}

#[test]
fn expect_target_mismatch_exits_3_and_pushes_nothing() {
    let home = tempfile::tempdir().expect("home");
    let repos = RepoDir::new().expect("repos");
    let repo = repo(&repos);
    let before = tip(&repo);
    let path = repo.path().to_str().expect("utf-8").to_string();
    let (code, stdout, stderr) = out(&mut local(home.path(), &path, &["--expect-target", "v0"]));
    assert_eq!(code, 3, "{stdout}{stderr}");
    assert!(
        stderr.contains("conflict")
            && stderr.contains("\"v1\"")
            && stderr.contains("nothing was pushed"),
        "{stderr}"
    );
    assert_eq!(tip(&repo), before);
    // With the right expectation it goes through.
    let (code, stdout, stderr) = out(&mut local(home.path(), &path, &["--expect-target", "v1"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("promoted v1 -> v2 "), "{stdout}");
}

#[test]
fn several_fields_and_their_expectations() {
    let home = tempfile::tempdir().expect("home");
    let repos = RepoDir::new().expect("repos");
    let digest = format!("sha256:{}", "0f".repeat(32));
    let dev = format!("image:\n  tag: v2\n  digest: \"{digest}\"\n");
    let repo = repos
        .create(
            "web-core",
            &[
                (DEV, dev.as_str()),
                (PROD, "image:\n  tag: v1\n  digest: \"\"\n"),
            ],
        )
        .expect("repo");
    let path = repo.path().to_str().expect("utf-8").to_string();
    let fields = ["--field", "image.tag", "--field", "image.digest"];
    let (code, _, stderr) = out(local(home.path(), &path, &fields).args(["--expect-target", "v1"]));
    assert_eq!(
        code, 1,
        "one expectation for two fields is a usage error: {stderr}"
    );
    let (code, stdout, stderr) = out(local(home.path(), &path, &fields).args([
        "--expect-target",
        "v1",
        "--expect-target",
        "",
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with(&format!("promoted v1, -> v2,{digest} ")),
        "{stdout}"
    );
    assert_eq!(
        repo.read_file("main", PROD).expect("read"),
        Some(format!("image:\n  tag: v2\n  digest: \"{digest}\"\n"))
    );
}

#[test]
fn refusals_exit_1_with_an_actionable_message() {
    let home = tempfile::tempdir().expect("home");
    let repos = RepoDir::new().expect("repos");
    let repo = repo(&repos);
    let before = tip(&repo);
    let path = repo.path().to_str().expect("utf-8").to_string();
    let mut escape = cli(home.path());
    escape.args([
        "local",
        "--repo",
        &path,
        "--from",
        DEV,
        "--to",
        "../../etc/passwd",
    ]);
    let (code, _, stderr) = out(&mut escape);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("refusing path") && stderr.contains("hint:"),
        "{stderr}"
    );
    let mut missing = cli(home.path());
    missing.args([
        "local",
        "--repo",
        &path,
        "--from",
        DEV,
        "--to",
        "deploy/env/release-prod/nope.yaml",
    ]);
    let (code, _, stderr) = out(&mut missing);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("not found") && stderr.contains("--to"),
        "{stderr}"
    );
    let (code, _, stderr) = out(&mut local(home.path(), &path, &["--branch", "release"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("branch release not found"), "{stderr}");
    assert_eq!(tip(&repo), before);
}

#[test]
fn help_documents_the_credential_variables() {
    let home = tempfile::tempdir().expect("home");
    let (code, stdout, _) = out(cli(home.path()).args(["local", "--help"]));
    assert_eq!(code, 0);
    for var in [
        "PROMOTE_GIT_TOKEN",
        "PROMOTE_GIT_USERNAME",
        "PROMOTE_GIT_PASSWORD",
        "PROMOTE_SSH_KEY",
        "PROMOTE_SSH_KEY_PASSPHRASE",
        "PROMOTE_SSH_KNOWN_HOSTS",
    ] {
        assert!(stdout.contains(var), "{var} missing from --help");
    }
    for flag in [
        "--repo",
        "--branch",
        "--from",
        "--to",
        "--field",
        "--expect-target",
        "--message",
        "--cache-dir",
    ] {
        assert!(stdout.contains(flag), "{flag} missing from --help");
    }
}

#[test]
fn local_over_http_with_credentials_from_the_environment() {
    let home = tempfile::tempdir().expect("home");
    let repos = RepoDir::new().expect("repos");
    let repo = repo(&repos);
    let http = HttpServer::start(&repos).expect("lighttpd");
    let url = http.url("web-core");
    let before = tip(&repo);
    let wrong = "wrong-password-8675309";
    let (code, stdout, stderr) = out(local(home.path(), &url, &[])
        .env("PROMOTE_GIT_USERNAME", &http.credentials().username)
        .env("PROMOTE_GIT_PASSWORD", wrong));
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains("authentication") && stderr.contains("PROMOTE_GIT_TOKEN"),
        "{stderr}"
    );
    assert!(!stderr.contains(wrong) && !stdout.contains(wrong));
    assert_eq!(tip(&repo), before);

    let (code, stdout, stderr) = out(local(home.path(), &url, &[])
        .env("PROMOTE_GIT_USERNAME", &http.credentials().username)
        .env("PROMOTE_GIT_PASSWORD", &http.credentials().password));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("promoted v1 -> v2 "), "{stdout}");
    assert!(
        !stdout.contains(&http.credentials().password)
            && !stderr.contains(&http.credentials().password)
    );

    http.stop();
    let (code, _, stderr) = out(local(home.path(), &url, &[]).env("PROMOTE_GIT_TOKEN", "whatever"));
    assert_eq!(
        code, 75,
        "a server that is down is worth retrying: {stderr}"
    );
}

#[test]
fn local_over_ssh_with_a_key_and_known_hosts_from_the_environment() {
    let home = tempfile::tempdir().expect("home");
    let repos = RepoDir::new().expect("repos");
    let repo = repo(&repos);
    let ssh = SshServer::start(&repos).expect("sshd");
    let url = ssh.url("web-core");
    let before = tip(&repo);
    let key = ssh.passphrase_key();
    let empty = home.path().join("empty_known_hosts");
    std::fs::write(&empty, "").expect("write");
    let (code, _, stderr) = out(local(home.path(), &url, &[])
        .env("PROMOTE_SSH_KEY", key.private_key_path())
        .env(
            "PROMOTE_SSH_KEY_PASSPHRASE",
            key.passphrase().expect("passphrase"),
        )
        .env("PROMOTE_SSH_KNOWN_HOSTS", &empty));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("host key") && stderr.contains("PROMOTE_SSH_KNOWN_HOSTS"),
        "{stderr}"
    );
    assert_eq!(tip(&repo), before);

    let (code, stdout, stderr) = out(local(home.path(), &url, &[])
        .env("PROMOTE_SSH_KEY", key.private_key().expect("key text"))
        .env(
            "PROMOTE_SSH_KEY_PASSPHRASE",
            key.passphrase().expect("passphrase"),
        )
        .env("PROMOTE_SSH_KNOWN_HOSTS", ssh.known_hosts_file()));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("promoted v1 -> v2 "), "{stdout}");
    assert!(!stderr.contains(key.passphrase().expect("passphrase")));
}

#[test]
fn demo_shows_a_promotion_end_to_end() {
    let home = tempfile::tempdir().expect("home");
    let (code, stdout, stderr) = out(cli(home.path()).arg("demo"));
    assert_eq!(code, 0, "{stderr}");
    for expected in [
        "promoted sha-1a2b3c4 -> sha-4f2e1c0 ",
        "-  tag: \"sha-1a2b3c4\"   # image built from web-core",
        "+  tag: \"sha-4f2e1c0\"   # image built from web-core",
        "Promotion: web/synestra-io-prod",
        "Promote-Approved-By: oncall-lead",
        "in sync sha-4f2e1c0",
        "conflict: the target deploy/env/release-prod/synestra-io.yaml image.tag holds \"hotfix-1\"",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    // The throwaway repository is gone afterwards.
    let path = stdout
        .lines()
        .next()
        .and_then(|l| l.rsplit(": ").next())
        .expect("first line names the repository");
    assert!(!Path::new(path).exists(), "{path} was left behind");
}
