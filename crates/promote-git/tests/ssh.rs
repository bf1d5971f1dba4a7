//! The engine against a real sshd with key authentication and strict host key checking.

mod common;

use common::{borrowed, layout, prod_path, release_file, request_for};
use promote_git::{
    Credentials, Engine, EngineConfig, GitError, HostKeyPolicy, HostKeyProblem, Outcome,
    RemoteSpec, Secret, SshKeySource,
};
use promote_gitserver::{BareRepo, RepoDir, SshKey, SshServer};

struct Setup {
    _repos: RepoDir,
    repo: BareRepo,
    ssh: SshServer,
    cache: tempfile::TempDir,
}

fn setup() -> Setup {
    let repos = RepoDir::new().expect("repo dir");
    let files = layout(&["blog"]);
    let repo = repos
        .create("web-core", &borrowed(&files))
        .expect("create repo");
    let ssh = SshServer::start(&repos).expect("start sshd");
    Setup {
        _repos: repos,
        repo,
        ssh,
        cache: tempfile::tempdir().expect("cache dir"),
    }
}

fn key_file(key: &SshKey, passphrase: Option<&str>) -> Credentials {
    Credentials::SshKey {
        username: None,
        key: SshKeySource::Path(key.private_key_path().to_path_buf()),
        passphrase: passphrase.map(Secret::new),
    }
}

impl Setup {
    fn remote(&self, credentials: Credentials, known_hosts: &str) -> RemoteSpec {
        RemoteSpec::new(&self.ssh.url("web-core"))
            .expect("url")
            .with_credentials(credentials)
            .with_host_keys(HostKeyPolicy::from_known_hosts(known_hosts))
    }

    fn trusted(&self, credentials: Credentials) -> RemoteSpec {
        self.remote(credentials, self.ssh.known_hosts_line())
    }

    fn engine(&self) -> Engine {
        Engine::new(EngineConfig::new(self.cache.path())).expect("engine")
    }

    fn tip(&self) -> String {
        self.repo.head("main").expect("head").expect("main exists")
    }

    fn promoted(&self) -> bool {
        self.repo
            .read_file("main", &prod_path("blog"))
            .expect("read")
            .expect("exists")
            == release_file("prod", "blog", "dev-blog-2")
    }
}

fn committed(outcome: Result<Outcome, GitError>) -> promote_git::Committed {
    match outcome {
        Ok(Outcome::Committed(c)) => c,
        other => panic!("expected a commit, got {other:?}"),
    }
}

#[tokio::test]
async fn promotes_over_ssh_with_a_key_file() {
    let s = setup();
    let before = s.tip();
    let c = committed(
        s.engine()
            .promote(request_for(
                s.trusted(key_file(s.ssh.authorized_key(), None)),
                "blog",
            ))
            .await,
    );
    assert_eq!(c.parent.as_str(), before);
    assert_eq!(s.tip(), c.commit.as_str());
    assert!(s.promoted());
}

#[tokio::test]
async fn promotes_over_ssh_with_a_key_held_in_memory() {
    let s = setup();
    let pem = s.ssh.authorized_key().private_key().expect("key text");
    let creds = Credentials::SshKey {
        username: None,
        key: SshKeySource::Memory(Secret::new(pem)),
        passphrase: None,
    };
    committed(
        s.engine()
            .promote(request_for(s.trusted(creds), "blog"))
            .await,
    );
    assert!(s.promoted());
}

#[tokio::test]
async fn promotes_over_ssh_with_a_passphrase_key_and_refuses_a_wrong_passphrase() {
    let s = setup();
    let key = s.ssh.passphrase_key();
    let before = s.tip();
    let wrong = "wrong-passphrase-5150";
    let err = s
        .engine()
        .promote(request_for(s.trusted(key_file(key, Some(wrong))), "blog"))
        .await
        .expect_err("wrong");
    assert_eq!(err.category(), "auth", "{err}");
    assert!(!err.to_string().contains(wrong));
    assert_eq!(s.tip(), before);
    let passphrase = key
        .passphrase()
        .expect("the fixture's key has a passphrase");
    committed(
        s.engine()
            .promote(request_for(
                s.trusted(key_file(key, Some(passphrase))),
                "blog",
            ))
            .await,
    );
    assert!(s.promoted());
}

#[tokio::test]
async fn an_unauthorized_key_is_an_auth_error_and_nothing_is_pushed() {
    let s = setup();
    let before = s.tip();
    let err = s
        .engine()
        .promote(request_for(
            s.trusted(key_file(s.ssh.unauthorized_key(), None)),
            "blog",
        ))
        .await
        .expect_err("refused");
    assert_eq!(err.category(), "auth", "{err}");
    assert!(!err.is_retryable());
    assert_eq!(s.tip(), before);
}

#[tokio::test]
async fn unknown_and_changed_host_keys_are_refused_unless_pinned() {
    let s = setup();
    let before = s.tip();
    let creds = key_file(s.ssh.authorized_key(), None);
    let engine = s.engine();
    let name = format!("[127.0.0.1]:{}", s.ssh.port());

    let err = engine
        .promote(request_for(s.remote(creds.clone(), ""), "blog"))
        .await
        .expect_err("unknown");
    assert_eq!(
        err,
        GitError::HostKey {
            host: name.clone(),
            problem: HostKeyProblem::Unknown
        }
    );
    assert!(!err.is_retryable());

    let err = engine
        .promote(request_for(
            s.remote(creds.clone(), s.ssh.wrong_known_hosts_line()),
            "blog",
        ))
        .await
        .expect_err("changed");
    assert_eq!(
        err,
        GitError::HostKey {
            host: name.clone(),
            problem: HostKeyProblem::Changed
        }
    );

    // The same key listed for another port does not vouch for this one.
    let other_port = s
        .ssh
        .known_hosts_line()
        .replacen(&format!(":{}", s.ssh.port()), ":1", 1);
    let err = engine
        .promote(request_for(s.remote(creds.clone(), &other_port), "blog"))
        .await
        .expect_err("unknown");
    assert_eq!(
        err,
        GitError::HostKey {
            host: name,
            problem: HostKeyProblem::Unknown
        }
    );
    assert_eq!(s.tip(), before);

    // A pinned key is trusted without known_hosts.
    let mut pinned = HostKeyPolicy::default();
    pinned.pin(s.ssh.host_public_key()).expect("pin");
    let remote = RemoteSpec::new(&s.ssh.url("web-core"))
        .expect("url")
        .with_credentials(creds)
        .with_host_keys(pinned);
    committed(engine.promote(request_for(remote, "blog")).await);
    assert!(s.promoted());
}

#[tokio::test]
async fn ssh_server_down_is_retryable_then_succeeds() {
    let s = setup();
    let remote = s.trusted(key_file(s.ssh.authorized_key(), None));
    let engine = s.engine();
    s.ssh.stop();
    let err = engine
        .promote(request_for(remote.clone(), "blog"))
        .await
        .expect_err("down");
    assert_eq!(err.category(), "network", "{err}");
    assert!(err.is_retryable());
    s.ssh.restart().expect("restart");
    committed(engine.promote(request_for(remote, "blog")).await);
    assert!(s.promoted());
}
