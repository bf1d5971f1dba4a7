//! The SSH server: key auth, host key checking, stop and restart.

use std::time::Duration;

use promote_gitserver::{RepoDir, SshServer};

fn setup() -> (RepoDir, SshServer) {
    let repos = RepoDir::new().expect("repo dir");
    repos
        .create(
            "gitops",
            &[("deploy/env/release-dev/web.yaml", "image:\n  tag: v1\n")],
        )
        .expect("create repo");
    let ssh = SshServer::start(&repos).expect("start sshd");
    (repos, ssh)
}

#[test]
fn authorized_key_clones_and_pushes() {
    let (repos, ssh) = setup();
    let url = ssh.url("gitops");
    let expected_prefix = format!("ssh://{}@127.0.0.1:{}/", ssh.user(), ssh.port());
    assert!(url.starts_with(&expected_prefix), "{url}");
    assert!(url.ends_with(&format!("{}/gitops.git", repos.path().display())));

    let remote = ssh.remote("gitops");
    let work = tempfile::tempdir().expect("tempdir");
    remote
        .clone_to(&work.path().join("clone"))
        .expect("clone over SSH");
    let dev = std::fs::read_to_string(work.path().join("clone/deploy/env/release-dev/web.yaml"))
        .expect("read");
    assert_eq!(dev, "image:\n  tag: v1\n");

    let id = remote
        .commit_files(
            "main",
            &[("deploy/env/release-dev/web.yaml", "image:\n  tag: v2\n")],
            "Bump dev",
        )
        .expect("push over SSH");
    let repo = repos.repo("gitops").expect("handle");
    assert_eq!(repo.head("main").expect("head"), Some(id));
    assert_eq!(
        repo.read_file("main", "deploy/env/release-dev/web.yaml")
            .expect("read")
            .as_deref(),
        Some("image:\n  tag: v2\n")
    );
}

#[test]
fn passphrase_key_works_with_its_passphrase() {
    let (_repos, ssh) = setup();
    let key = ssh.passphrase_key();
    let passphrase = key.passphrase().expect("has a passphrase").to_owned();
    assert!(!format!("{key:?}").contains(&passphrase));
    assert!(
        key.private_key()
            .expect("read key")
            .contains("OPENSSH PRIVATE KEY")
    );
    let remote = ssh.remote_with("gitops", key, ssh.known_hosts_file());
    assert!(remote.head("main").expect("ls-remote").is_some());
}

#[test]
fn unauthorized_key_is_refused() {
    let (_repos, ssh) = setup();
    let remote = ssh.remote_with("gitops", ssh.unauthorized_key(), ssh.known_hosts_file());
    let err = remote.head("main").expect_err("key is not authorized");
    assert!(err.to_string().contains("Permission denied"), "{err}");
    // The refusal is sshd's, not a connection problem: the server saw and rejected the key.
    assert!(ssh.log().contains("Connection from 127.0.0.1"));
}

#[test]
fn unknown_host_key_is_refused_with_strict_checking() {
    let (_repos, ssh) = setup();
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("known_hosts");
    std::fs::write(&empty, "").expect("write empty known_hosts");
    let remote = ssh.remote_with("gitops", ssh.authorized_key(), &empty);
    let err = remote.head("main").expect_err("host key unknown");
    assert!(
        err.to_string().contains("Host key verification failed"),
        "{err}"
    );
}

#[test]
fn changed_host_key_is_refused() {
    let (_repos, ssh) = setup();
    assert_ne!(ssh.known_hosts_line(), ssh.wrong_known_hosts_line());
    let host = format!("[127.0.0.1]:{} ", ssh.port());
    assert!(ssh.known_hosts_line().starts_with(&host));
    assert!(ssh.wrong_known_hosts_line().starts_with(&host));
    assert!(ssh.known_hosts_line().ends_with(ssh.host_public_key()));

    let dir = tempfile::tempdir().expect("tempdir");
    let wrong = dir.path().join("known_hosts");
    std::fs::write(&wrong, format!("{}\n", ssh.wrong_known_hosts_line())).expect("write");
    let remote = ssh.remote_with("gitops", ssh.authorized_key(), &wrong);
    let err = remote.head("main").expect_err("host key changed");
    assert!(
        err.to_string().contains("Host key verification failed"),
        "{err}"
    );
}

#[test]
fn stop_and_restart_on_the_same_port() {
    let (_repos, ssh) = setup();
    let remote = ssh.remote("gitops");
    let head = remote.head("main").expect("ls-remote while up");
    let port = ssh.port();

    ssh.stop();
    assert!(!ssh.is_running());
    let err = remote.head("main").expect_err("server is down");
    assert!(err.to_string().contains("Connection refused"), "{err}");

    ssh.restart().expect("restart");
    assert!(ssh.is_running());
    assert_eq!(ssh.port(), port);
    assert_eq!(remote.head("main").expect("ls-remote after restart"), head);
}

#[test]
fn drop_kills_sshd() {
    let (_repos, ssh) = setup();
    let pid = ssh.pid().expect("running");
    let dir = ssh.dir().to_path_buf();
    drop(ssh);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert!(!dir.exists());
}

#[test]
fn restart_reports_a_taken_port_as_retryable() {
    let (_repos, ssh) = setup();
    ssh.stop();
    let squatter = std::net::TcpListener::bind(("127.0.0.1", ssh.port())).expect("take the port");
    let err = ssh.restart().expect_err("port is taken");
    assert!(err.is_retryable(), "{err}");
    drop(squatter);
    ssh.restart().expect("port is free again");
    assert!(
        ssh.remote("gitops")
            .head("main")
            .expect("ls-remote")
            .is_some()
    );
}

#[test]
fn stop_cuts_open_sessions() {
    let (_repos, ssh) = setup();
    let command = ssh.ssh_command(ssh.authorized_key(), ssh.known_hosts_file());
    let target = format!("{}@127.0.0.1", ssh.user());
    let port = ssh.port().to_string();
    let mut client = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{command} -p \"$1\" \"$2\" sleep 60"))
        .args(["sh", &port, &target])
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("start ssh client");
    let opened = ssh.wait_for_log("Starting session: command", Duration::from_secs(20));
    assert!(
        opened && client.try_wait().expect("poll client").is_none(),
        "the session should be open: {}",
        ssh.log()
    );
    ssh.stop();
    let status = client.wait().expect("client exits");
    assert!(
        !status.success(),
        "the session should have been cut, not run to the end"
    );
}
