//! Deadlines on the network: a silent server, a transfer cut mid-pack and a push that hangs
//! end in a typed error within the configured time, and never hold up other lanes.
//!
//! libgit2's socket timeouts are per process, so every engine in this file uses the same ones.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{HttpSetup, prod_path, release_file, request_for, wait_for};
use promote_git::{
    Credentials, EngineConfig, Fence, GitError, HostKeyPolicy, Outcome, RemoteSpec, RepoUrl,
    Secret, SshKeySource,
};
use promote_gitserver::{Blackhole, FaultProxy, SshServer};

const CONNECT: Duration = Duration::from_secs(2);
const IO: Duration = Duration::from_secs(4);
/// How long a test waits for anything before it fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(30);

/// `web-core` with blog and `extra` files, and `other` with shop beside it.
fn setup(extra: &[(&str, &str)]) -> HttpSetup {
    HttpSetup::with(&["blog"], extra, &[("other", &["shop"])])
}

trait Deadlines {
    /// The configuration every engine in this file starts from.
    fn config(&self) -> EngineConfig;
}

impl Deadlines for HttpSetup {
    fn config(&self) -> EngineConfig {
        EngineConfig {
            connect_timeout: CONNECT,
            io_timeout: IO,
            ..EngineConfig::new(self.cache_dir())
        }
    }
}

fn committed(outcome: Result<Outcome, GitError>) -> promote_git::Committed {
    match outcome {
        Ok(Outcome::Committed(c)) => c,
        other => panic!("expected a commit, got {other:?}"),
    }
}

fn assert_timeout(err: &GitError, after: Duration, host: &str) {
    assert!(matches!(err, GitError::Timeout { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("timed out after {}s talking to {host}", after.as_secs())
    );
    assert!(err.is_retryable());
    assert_eq!(err.category(), "timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_silent_server_times_out_while_another_lane_lands() {
    let s = setup(&[]);
    let engine = s.engine_with(s.config());
    let hole = Blackhole::start().expect("blackhole");
    let silent = RemoteSpec::new(&format!("http://{}/git/silent.git", hole.addr())).expect("url");
    let started = Instant::now();
    let hanging = tokio::spawn({
        let (engine, silent) = (engine.clone(), silent.clone());
        async move { engine.tip(&silent, "main").await }
    });
    wait_for("the silent lane to connect", PATIENCE, || {
        hole.accepted() == 1
    })
    .await;

    // Another lane of the same engine (another repository) reads and promotes meanwhile.
    let healthy = s.remote_at(s.addr(), "other");
    engine.tip(&healthy, "main").await.expect("healthy tip");
    let c = committed(engine.promote(request_for(healthy, "shop")).await);
    assert!(
        !hanging.is_finished(),
        "the healthy lane landed while the silent one was still waiting"
    );
    let other = s.http.repos().repo("other").expect("other repo");
    assert_eq!(
        other.head("main").expect("head").as_deref(),
        Some(c.commit.as_str())
    );

    let err = tokio::time::timeout(PATIENCE, hanging)
        .await
        .expect("the silent lane gives up by itself")
        .expect("task")
        .expect_err("a server that never answers");
    assert_timeout(&err, IO, &hole.addr().to_string());
    assert!(
        started.elapsed() < IO + Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// Incompressible text, so the pack is much larger than the cut.
fn noise(bytes: usize) -> String {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..bytes)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[(x % 36) as usize])
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fetch_cut_mid_pack_fails_cleanly_and_the_cache_recovers() {
    let big = noise(400 * 1024);
    let s = setup(&[("assets/blob.txt", big.as_str())]);
    let proxy = FaultProxy::start(s.addr()).expect("proxy");
    let remote = s.remote_at(proxy.addr(), "web-core");
    let engine = s.engine_with(s.config());
    proxy.truncate_after(Some(64 * 1024));
    let err = engine
        .refresh(&remote, "main")
        .await
        .expect_err("the transfer was cut");
    assert!(err.is_retryable(), "{err}");
    assert!(
        matches!(err.category(), "network" | "git"),
        "a cut is a transport failure: {err}"
    );
    assert!(
        !err.to_string().contains(&s.http.credentials().password),
        "{err}"
    );

    // The cache holds nothing half-written: git agrees, and the next fetch completes.
    let key = RepoUrl::parse(&format!("http://{}/git/web-core.git", proxy.addr()))
        .expect("url")
        .cache_key();
    let cache_repo = s.cache_dir().join(format!("{key}.git"));
    let fsck = promote_gitserver::git()
        .arg("-C")
        .arg(&cache_repo)
        .args(["fsck", "--no-progress"])
        .output()
        .expect("git fsck runs");
    assert!(
        fsck.status.success(),
        "{}",
        String::from_utf8_lossy(&fsck.stderr)
    );
    proxy.truncate_after(None);
    let tip = engine.refresh(&remote, "main").await.expect("fetch again");
    assert_eq!(tip.as_str(), s.tip());
    let values = engine
        .read_fields(
            &remote,
            "main",
            &prod_path("blog"),
            &["image.tag".to_owned()],
        )
        .await
        .expect("read");
    assert_eq!(values.values, ["prod-blog-1"]);
    committed(engine.promote(request_for(remote, "blog")).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_that_hangs_times_out_and_nothing_lands_later() {
    let s = setup(&[]);
    let proxy = Arc::new(FaultProxy::start(s.addr()).expect("proxy"));
    let remote = s.remote_at(proxy.addr(), "web-core");
    // The fence runs right before the push: hang the connection the push is about to open.
    let armed = Arc::new(AtomicBool::new(true));
    let fence = Fence::new({
        let (proxy, armed) = (proxy.clone(), armed.clone());
        move || {
            if armed.swap(false, Ordering::SeqCst) {
                proxy.hang();
            }
            Ok(())
        }
    });
    let engine = s.engine_with(EngineConfig {
        fence: Some(fence),
        head_ttl: Duration::ZERO,
        ..s.config()
    });
    let (before, count) = (s.tip(), s.repo.commit_count("main").expect("count"));
    let err = tokio::time::timeout(
        PATIENCE,
        engine.promote(request_for(remote.clone(), "blog")),
    )
    .await
    .expect("the push gives up by itself")
    .expect_err("the push hangs");
    assert!(!armed.load(Ordering::SeqCst), "the push was attempted");
    assert_timeout(&err, IO, &proxy.addr().to_string());
    assert_eq!(s.tip(), before);

    // Traffic flows again: the engine sees the old tip through the proxy, and its next push
    // lands right on it, so nothing of the timed-out push got there first.
    proxy.resume();
    let tip = engine.tip(&remote, "main").await.expect("tip after resume");
    assert_eq!(tip.commit.as_str(), before);
    let c = committed(engine.promote(request_for(remote, "blog")).await);
    assert_eq!(c.parent.as_str(), before);
    assert_eq!(s.repo.commit_count("main").expect("count"), count + 1);
    assert_eq!(
        s.repo
            .read_file("main", &prod_path("blog"))
            .expect("read")
            .as_deref(),
        Some(release_file("prod", "blog", "dev-blog-2").as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hung_fetch_does_not_hold_up_reads_of_another_lane() {
    let s = setup(&[]);
    let proxy = FaultProxy::start(s.addr()).expect("proxy");
    let engine = s.engine_with(EngineConfig {
        head_ttl: Duration::from_secs(3600),
        ..s.config()
    });
    // Lane B: same repository, its own credentials (a token), and a fresh contact.
    let c = s.http.credentials();
    let lane_b = s
        .remote_at(proxy.addr(), "web-core")
        .with_credentials(Credentials::Token {
            username: Some(c.username.clone()),
            token: Secret::new(c.password.clone()),
        });
    engine.tip(&lane_b, "main").await.expect("lane B tip");

    // Lane A fetches while the server hangs: it waits on the network holding the cache's
    // write lock.
    proxy.hang();
    let lane_a = s.remote_at(proxy.addr(), "web-core");
    let connections = proxy.connections();
    let hanging = tokio::spawn({
        let (engine, lane_a) = (engine.clone(), lane_a.clone());
        async move { engine.refresh(&lane_a, "main").await }
    });
    wait_for("lane A to reach the server", PATIENCE, || {
        proxy.connections() > connections
    })
    .await;
    let values = tokio::time::timeout(
        PATIENCE,
        engine.read_fields(
            &lane_b,
            "main",
            &prod_path("blog"),
            &["image.tag".to_owned()],
        ),
    )
    .await
    .expect("lane B's read does not wait for lane A")
    .expect("read");
    assert_eq!(values.values, ["prod-blog-1"]);
    assert!(!hanging.is_finished(), "lane A was still waiting");
    let err = tokio::time::timeout(PATIENCE, hanging)
        .await
        .expect("lane A gives up by itself")
        .expect("task")
        .expect_err("lane A times out");
    assert_timeout(&err, IO, &proxy.addr().to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_operation_deadline_is_checked_whenever_libgit2_calls_back() {
    let s = setup(&[]);
    let engine = s.engine_with(EngineConfig {
        operation_timeout: Duration::from_millis(1),
        ..s.config()
    });
    let remote = s.remote_at(s.addr(), "web-core");
    let err = engine
        .refresh(&remote, "main")
        .await
        .expect_err("no operation fits in a millisecond");
    assert!(matches!(err, GitError::Timeout { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("timed out after 0.001s talking to {}", s.addr())
    );
    // The same cache serves an engine with room to work.
    let roomy = s.engine_with(s.config());
    assert_eq!(
        roomy
            .refresh(&remote, "main")
            .await
            .expect("fetch")
            .as_str(),
        s.tip()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_silent_ssh_server_times_out() {
    let s = setup(&[]);
    let engine = s.engine_with(s.config());
    let hole = Blackhole::start().expect("blackhole");
    let silent =
        RemoteSpec::new(&format!("ssh://git@{}/srv/silent.git", hole.addr())).expect("url");
    let err = tokio::time::timeout(PATIENCE, engine.tip(&silent, "main"))
        .await
        .expect("gives up by itself")
        .expect_err("no SSH banner ever comes");
    assert!(hole.accepted() >= 1);
    assert_timeout(&err, IO, &hole.addr().to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ssh_push_that_hangs_times_out_and_the_next_one_lands() {
    let s = setup(&[]);
    let ssh = SshServer::start(s.http.repos()).expect("start sshd");
    let proxy =
        Arc::new(FaultProxy::start(SocketAddr::from(([127, 0, 0, 1], ssh.port()))).expect("proxy"));
    let url = ssh.url("web-core").replace(
        &format!(":{}/", ssh.port()),
        &format!(":{}/", proxy.addr().port()),
    );
    // Pinned, because known_hosts names the server's own port, not the proxy's.
    let mut host_keys = HostKeyPolicy::default();
    host_keys
        .pin(ssh.known_hosts_line())
        .expect("the host key pins");
    let remote = RemoteSpec::new(&url)
        .expect("url")
        .with_credentials(Credentials::SshKey {
            username: None,
            key: SshKeySource::Path(ssh.authorized_key().private_key_path().to_path_buf()),
            passphrase: None,
        })
        .with_host_keys(host_keys);
    let armed = Arc::new(AtomicBool::new(true));
    let engine = s.engine_with(EngineConfig {
        fence: Some(Fence::new({
            let (proxy, armed) = (proxy.clone(), armed.clone());
            move || {
                if armed.swap(false, Ordering::SeqCst) {
                    proxy.hang();
                }
                Ok(())
            }
        })),
        ..s.config()
    });
    let before = s.tip();
    let err = tokio::time::timeout(
        PATIENCE,
        engine.promote(request_for(remote.clone(), "blog")),
    )
    .await
    .expect("the push gives up by itself")
    .expect_err("the push hangs");
    assert_timeout(&err, IO, &proxy.addr().to_string());
    assert_eq!(s.tip(), before);
    proxy.resume();
    let c = committed(engine.promote(request_for(remote, "blog")).await);
    assert_eq!(c.parent.as_str(), before);
}

/// A smart-HTTP server that advertises `main` at a commit nobody has, then never answers a
/// POST: it keeps the connection open and reads what it is sent. Records each POST's headers.
struct MuteOnPost {
    addr: SocketAddr,
    posts: Arc<std::sync::Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl MuteOnPost {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let (posts, stop) = (Arc::default(), Arc::new(AtomicBool::new(false)));
        std::thread::spawn({
            let (posts, stop) = (Arc::clone(&posts), Arc::clone(&stop));
            move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((conn, _)) => {
                            let (posts, stop) = (Arc::clone(&posts), Arc::clone(&stop));
                            std::thread::spawn(move || Self::serve(conn, &posts, &stop));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            }
        });
        Self { addr, posts, stop }
    }

    fn serve(
        mut conn: std::net::TcpStream,
        posts: &std::sync::Mutex<Vec<String>>,
        stop: &AtomicBool,
    ) {
        use std::io::{Read, Write};
        conn.set_nonblocking(false).expect("blocking");
        conn.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("read timeout");
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !stop.load(Ordering::SeqCst) {
            match conn.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
                Err(_) => continue,
            }
            let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&seen[..end]).into_owned();
            if head.starts_with("POST ") {
                posts.lock().expect("posts").push(head);
                // Never answer, neither `100 Continue` nor anything else.
                seen.clear();
                continue;
            }
            seen.drain(..end + 4);
            let mut body = String::from("001e# service=git-upload-pack\n0000");
            let line = format!(
                "{} refs/heads/main\0multi_ack_detailed side-band-64k ofs-delta\n",
                "1".repeat(40)
            );
            body.push_str(&format!("{:04x}{line}0000", line.len() + 4));
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/x-git-upload-pack-advertisement\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if conn.write_all(reply.as_bytes()).is_err() {
                return;
            }
        }
    }

    fn posts(&self) -> Vec<String> {
        self.posts.lock().expect("posts").clone()
    }
}

impl Drop for MuteOnPost {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_post_the_server_never_answers_times_out_despite_expect_continue() {
    let s = setup(&[]);
    let engine = s.engine_with(s.config());
    let server = MuteOnPost::start();
    let remote = RemoteSpec::new(&format!("http://{}/git/mute.git", server.addr)).expect("url");
    let started = Instant::now();
    let err = tokio::time::timeout(PATIENCE, engine.refresh(&remote, "main"))
        .await
        .expect("gives up by itself")
        .expect_err("the negotiation is never answered");
    assert_timeout(&err, IO, &server.addr.to_string());
    assert!(
        started.elapsed() < IO + Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The POST asked for `100 Continue`, so the time ran out waiting for it.
    let posts = server.posts();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert!(
        posts[0]
            .to_ascii_lowercase()
            .contains("\r\nexpect: 100-continue"),
        "{}",
        posts[0]
    );
}
