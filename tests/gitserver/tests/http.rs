//! The smart-HTTP server: auth, clone, push, stop and restart.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine as _;
use promote_gitserver::{HttpCredentials, HttpServer, RepoDir};

const FILES: &[(&str, &str)] = &[
    (
        "deploy/env/release-dev/web.yaml",
        "image:\n  tag: v2 # dev\n",
    ),
    ("deploy/env/release-prod/web.yaml", "image:\n  tag: v1\n"),
];

fn setup() -> (RepoDir, HttpServer) {
    let repos = RepoDir::new().expect("repo dir");
    repos.create("gitops", FILES).expect("create repo");
    let http = HttpServer::start(&repos).expect("start lighttpd");
    (repos, http)
}

/// Status code of a raw GET to the server, with an optional `Authorization` header.
fn status_of(http: &HttpServer, path: &str, auth: Option<(&str, &str)>) -> u16 {
    let mut stream = TcpStream::connect(("127.0.0.1", http.port())).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let header = auth
        .map(|(u, p)| {
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
            format!("Authorization: Basic {token}\r\n")
        })
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{header}Connection: close\r\n\r\n"
    )
    .expect("write request");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("status line")
}

#[test]
fn clone_and_push_with_the_right_credentials() {
    let (repos, http) = setup();
    let remote = http.remote("gitops");
    assert!(remote.url().starts_with("http://127.0.0.1:"));
    assert!(!remote.url().contains(&http.credentials().password));

    let work = tempfile::tempdir().expect("tempdir");
    let clone = work.path().join("clone");
    remote.clone_to(&clone).expect("clone over HTTP");
    let dev = std::fs::read_to_string(clone.join("deploy/env/release-dev/web.yaml")).expect("read");
    assert_eq!(dev, "image:\n  tag: v2 # dev\n");

    // A plain `git push` from the clone, through the server.
    std::fs::write(
        clone.join("deploy/env/release-prod/web.yaml"),
        "image:\n  tag: v2\n",
    )
    .expect("edit");
    let git = |args: &[&str]| {
        let out = remote
            .git()
            .arg("-C")
            .arg(&clone)
            .args(args)
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["commit", "-qam", "Promote web to prod"]);
    git(&["push", "-q", "origin", "main"]);

    let repo = repos.repo("gitops").expect("handle");
    assert_eq!(
        repo.read_file("main", "deploy/env/release-prod/web.yaml")
            .expect("read")
            .as_deref(),
        Some("image:\n  tag: v2\n")
    );

    // The outside writer goes through the server as well.
    let id = remote
        .commit_files("main", &[("README.md", "hello\n")], "Add readme")
        .expect("outside writer over HTTP");
    assert_eq!(repo.head("main").expect("head"), Some(id.clone()));
    assert_eq!(remote.head("main").expect("ls-remote"), Some(id));
    assert_eq!(repo.commit_count("main").expect("count"), 3);
}

#[test]
fn large_push_streams_through_the_web_server() {
    // Over git's 1 MiB http.postBuffer, so the push body is sent chunked.
    let (repos, http) = setup();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let content: String = (0..500_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            format!("{:08x}", state as u32)
        })
        .collect();
    let id = http
        .remote("gitops")
        .commit_files("main", &[("blob.txt", &content)], "Large file")
        .expect("large push over HTTP");
    let repo = repos.repo("gitops").expect("handle");
    assert_eq!(repo.head("main").expect("head"), Some(id));
    assert_eq!(
        repo.read_file("main", "blob.txt")
            .expect("read")
            .map(|c| c.len()),
        Some(content.len())
    );
}

#[test]
fn wrong_or_missing_credentials_get_401() {
    let (_repos, http) = setup();
    let path = "/git/gitops.git/info/refs?service=git-upload-pack";
    let c = http.credentials();
    assert_eq!(
        status_of(&http, path, Some((&c.username, &c.password))),
        200
    );
    assert_eq!(status_of(&http, path, Some((&c.username, "wrong"))), 401);
    assert_eq!(status_of(&http, path, Some(("nobody", &c.password))), 401);
    assert_eq!(status_of(&http, path, None), 401);

    let wrong = HttpCredentials::new(c.username.clone(), "not-the-password");
    let remote = http
        .remote_as("gitops", Some(&wrong))
        .expect("remote with wrong credentials");
    let err = remote.head("main").expect_err("wrong password must fail");
    let text = err.to_string();
    assert!(text.contains("Authentication failed"), "{text}");
    assert!(!text.contains(&c.password) && !text.contains("not-the-password"));

    let anonymous = http.remote_as("gitops", None).expect("anonymous remote");
    assert!(anonymous.head("main").is_err());

    // Push with wrong credentials is refused too, and nothing lands.
    let before = http.remote("gitops").head("main").expect("head");
    assert!(
        remote
            .commit_files("main", &[("x.txt", "x\n")], "Should not land")
            .is_err()
    );
    assert_eq!(http.remote("gitops").head("main").expect("head"), before);
}

#[test]
fn credentials_are_redacted_in_debug() {
    let (_repos, http) = setup();
    let password = http.credentials().password.clone();
    assert!(!format!("{:?}", http.credentials()).contains(&password));
    assert!(!format!("{http:?}").contains(&password));
    assert!(!format!("{:?}", http.remote("gitops")).contains(&password));
}

#[test]
fn stop_refuses_connections_and_restart_serves_on_the_same_port() {
    let (_repos, http) = setup();
    let remote = http.remote("gitops");
    let port = http.port();
    let first_pid = http.pid().expect("running");
    let head = remote.head("main").expect("ls-remote while up");

    http.stop();
    assert!(!http.is_running());
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    let err = remote.head("main").expect_err("server is down");
    assert!(
        err.to_string().contains("Failed to connect")
            || err.to_string().contains("Could not connect")
            || err.to_string().contains("Couldn't connect"),
        "{err}"
    );
    http.stop(); // idempotent

    http.restart().expect("restart");
    assert!(http.is_running());
    assert_eq!(http.port(), port);
    assert_ne!(http.pid(), Some(first_pid));
    assert_eq!(remote.head("main").expect("ls-remote after restart"), head);

    // restart() on a running server replaces the process.
    let pid = http.pid();
    http.restart().expect("restart while running");
    assert_ne!(http.pid(), pid);
    assert_eq!(remote.head("main").expect("ls-remote"), head);
}

#[test]
fn drop_kills_the_server_process() {
    let (_repos, http) = setup();
    let pid = http.pid().expect("running");
    drop(http);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

#[test]
fn restart_reports_a_taken_port_as_retryable() {
    let (_repos, http) = setup();
    http.stop();
    let squatter = std::net::TcpListener::bind(("127.0.0.1", http.port())).expect("take the port");
    let err = http.restart().expect_err("port is taken");
    assert!(err.is_retryable(), "{err}");
    assert!(!http.is_running());
    drop(squatter);
    http.restart().expect("port is free again");
    assert!(
        http.remote("gitops")
            .head("main")
            .expect("ls-remote")
            .is_some()
    );
}
