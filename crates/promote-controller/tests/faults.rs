//! Faults on real parts: operator replicas whose Kubernetes API traffic goes through
//! `promote_gitserver::FaultProxy`, a TCP proxy that can hang or cut it, against the real API
//! server, a real git server (paused, or one that never answers) and the Argo CD simulator.
//! TLS passes through the proxy untouched; the API server's certificate names 127.0.0.1,
//! which the proxy's address keeps.

mod world;

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use kube::Client;
use kube::api::PostParams;
use promote_api::{Phase, Promotion, PromotionResult, PromotionStatus};
use promote_controller::deadlines::{ApiTimeouts, Deadlines};
use promote_controller::metrics::Metrics;
use promote_controller::operator::{Operator, OperatorConfig, Stopped};
use promote_gitserver::{Blackhole, FaultProxy};
use promote_testsupport::wait_until;
use serde_json::json;
use world::*;

/// Short API deadlines, so a hung API server fails a call within seconds.
const API: ApiTimeouts = ApiTimeouts {
    connect: Duration::from_secs(2),
    read: Duration::from_secs(4),
};

fn deadlines() -> Deadlines {
    Deadlines {
        api: API,
        reconcile: Duration::from_secs(20),
        ..Deadlines::default()
    }
}

/// A client for the test cluster whose connections go through a new proxy.
async fn proxied_client(w: &World, timeouts: ApiTimeouts) -> (FaultProxy, Client) {
    let mut config = w.env.control_plane.config().await.expect("kubeconfig");
    let host = config.cluster_url.host().expect("server host").to_owned();
    let port = config.cluster_url.port_u16().unwrap_or(443);
    let upstream = (host.as_str(), port)
        .to_socket_addrs()
        .expect("server address")
        .next()
        .expect("an address");
    let proxy = FaultProxy::start(upstream).expect("API proxy");
    if host.parse::<std::net::IpAddr>().is_err() {
        // A certificate for a name still verifies against that name.
        config.tls_server_name = Some(host);
    }
    config.cluster_url = format!("https://{}", proxy.addr())
        .parse()
        .expect("proxy URL");
    timeouts.apply(&mut config);
    (proxy, Client::try_from(config).expect("client"))
}

/// The world's git server paused with SIGSTOP: it accepts connections (the kernel queues
/// them) and answers none until resumed. A lane's repository URL and its Applications' must
/// name the same server, so the server itself hangs rather than a proxy in front of it.
struct PausedGit(u32);

impl PausedGit {
    fn pause(w: &World) -> Self {
        let pid = w._http.pid().expect("the git server runs");
        assert!(signal(pid, "-STOP"), "pause the git server");
        Self(pid)
    }
}

impl Drop for PausedGit {
    fn drop(&mut self) {
        // Never a panic here: this also runs while a failed test unwinds.
        let _ = signal(self.0, "-CONT");
    }
}

/// Sends a signal with the shell's `kill` builtin (no procps needed); true when sent.
fn signal(pid: u32, which: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("kill {which} {pid}")])
        .status()
        .is_ok_and(|s| s.success())
}

/// Starts a replica in this process with its own client and deadlines.
fn start(client: Client, config: OperatorConfig, deadlines: Deadlines) -> Replica {
    let operator = Operator::new(client, config)
        .expect("operator")
        .with_deadlines(deadlines);
    Replica::run(operator)
}

/// A metric's value; `line` is its name with labels, as rendered.
fn metric(metrics: &Metrics, line: &str) -> f64 {
    let prefix = format!("{line} ");
    metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Reconcile errors of every category.
fn errors(metrics: &Metrics) -> f64 {
    metrics
        .render()
        .lines()
        .filter(|l| l.starts_with("promote_reconcile_errors_total{"))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

fn author(w: &World, commit: &str) -> String {
    let out = w
        .repo
        .git()
        .args(["log", "-1", "--format=%an", commit])
        .output()
        .expect("git log");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn approval(version: &str) -> serde_json::Value {
    json!({"approval": {"version": version, "approvedBy": "oncall-lead"}})
}

fn running(s: &PromotionStatus, version: &str) -> bool {
    s.last_promotion
        .as_ref()
        .is_some_and(|r| r.version == version && r.result == PromotionResult::Running)
}

/// `GET path` from the probe server: the status code and the body.
async fn probe(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n");
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s =
            TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(2)))
            .map_err(|e| e.to_string())?;
        s.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
        let mut out = String::new();
        s.read_to_string(&mut out).map_err(|e| e.to_string())?;
        let code = out
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("not an HTTP response: {out:?}"))?;
        let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned());
        Ok((code, body.unwrap_or_default()))
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Waits until `GET path` answers `code`; returns the body.
async fn wait_probe(addr: SocketAddr, path: &str, code: u16, within: Duration) -> String {
    wait_until(
        format!("{path} answers {code}"),
        within,
        Duration::from_millis(100),
        async || match probe(addr, path).await {
            Ok((c, body)) if c == code => Ok(Some(body)),
            Ok((c, body)) => Err(format!("{c} {body}")),
            Err(e) => Err(e),
        },
    )
    .await
    .expect("the probe answers")
}

fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_renew_hangs_stops_pushes_nothing_and_the_standby_promotes_once() {
    let w = World::start("fault-renew", false).await;
    // Released before any replica runs, so the first head check sees it.
    let ci = w.release("sha-2");
    // The default read timeout (30 s) is far longer than the Lease: only the renew's own
    // deadline can make A stop in time.
    let (api, client) = proxied_client(&w, ApiTimeouts::default()).await;
    let mut config = w.operator_config("op-a");
    // Reads answer from the last head check, so once approved A's only git traffic is the
    // fetch before its push: holding that fetch holds A right before the push.
    config.head_ttl = Duration::from_secs(60);
    let lease = config.lease_duration;
    let a = start(client, config, Deadlines::default());
    a.wait_leader().await;
    let b = w.operator("op-b");
    wait_until(
        "B stands by",
        WAIT,
        Duration::from_millis(100),
        async || (b.health.readiness() == Ok("standby")).then_some(()),
    )
    .await
    .expect("B is ready as a standby");

    w.create_promotion("Manual", json!({})).await;
    w.wait_dev_running("sha-2").await;
    w.wait("awaiting approval with both Applications synced", |s| {
        let synced = |e: Option<&promote_api::EnvironmentStatus>| {
            e.is_some_and(|e| {
                e.sync.as_deref() == Some("Synced") && e.health.as_deref() == Some("Healthy")
            })
        };
        s.phase == Some(Phase::AwaitingApproval)
            && synced(s.source.as_ref())
            && synced(s.target.as_ref())
    })
    .await;
    let git = PausedGit::pause(&w);
    w.patch_spec(approval("sha-2")).await;
    w.wait("A records its intent", |s| running(s, "sha-2"))
        .await;

    api.hang();
    let hung = Instant::now();
    let a_health = a.health.clone();
    let a_metrics = a.metrics.clone();
    let stopped = tokio::time::timeout(WAIT, a.task)
        .await
        .expect("A stops")
        .expect("A's task")
        .expect("A ran");
    assert_eq!(stopped, Stopped::LostLease);
    assert!(
        hung.elapsed() < lease,
        "A stops before its Lease could lapse: {:?}",
        hung.elapsed()
    );
    assert!(!b.is_leader(), "B cannot lead before A's Lease lapsed");
    let why = a_health.liveness().expect_err("A's liveness fails");
    assert!(why.contains("Lease"), "{why}");

    // A's push, abandoned but still running, reaches the fence once git answers again.
    drop(git);
    wait_until(
        "A's push is fenced",
        WAIT,
        Duration::from_millis(50),
        async || (metric(&a_metrics, "promote_git_pushes_fenced_total") >= 1.0).then_some(()),
    )
    .await
    .expect("the fence refuses A's push");

    b.wait_leader().await;
    let s = w.wait_phase(Phase::Promoted).await;
    let commits = w.commits_since(&ci);
    assert_eq!(commits.len(), 1, "exactly one commit: {commits:?}");
    assert_eq!(author(&w, &commits[0].0), "op-b", "the commit is B's");
    assert_eq!(
        s.last_promotion.as_ref().and_then(|r| r.commit.as_deref()),
        Some(commits[0].0.as_str())
    );
    assert_eq!(b.stop().await, Stopped::Shutdown);
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_in_flight_when_the_api_server_is_cut_off_converges_with_one_commit() {
    let w = World::start("fault-cut", false).await;
    let (api, client) = proxied_client(&w, API).await;
    let mut config = w.operator_config("op-a");
    // An outage of a few seconds stays well inside the Lease.
    config.lease_duration = Duration::from_secs(30);
    let a = start(client, config, deadlines());
    a.wait_leader().await;
    w.create_promotion("Manual", json!({})).await;
    w.wait_phase(Phase::InSync).await;
    let ci = w.release("sha-2");
    w.wait_phase(Phase::AwaitingApproval).await;

    w.patch_spec(approval("sha-2")).await;
    let promotions = w.promotions();
    let s = wait_until(
        "the intent is recorded",
        WAIT,
        Duration::from_millis(10),
        async || {
            let p = promotions.get("web-prod").await?;
            let s = p.status.unwrap_or_default();
            Ok::<_, kube::Error>(running(&s, "sha-2").then_some(s))
        },
    )
    .await
    .expect("A records its intent");
    let failed_before = errors(&a.metrics);
    api.cut();
    assert_ne!(s.phase, Some(Phase::Promoted), "still in flight when cut");
    // The positive signal that the cut hit the promotion: a reconcile failed on it.
    wait_until(
        "a reconcile fails on the cut",
        WAIT,
        Duration::from_millis(20),
        async || (errors(&a.metrics) > failed_before).then_some(()),
    )
    .await
    .expect("A's reconcile fails");

    api.resume();
    let s = w.wait_phase(Phase::Promoted).await;
    let commits = w.commits_since(&ci);
    assert_eq!(commits.len(), 1, "exactly one commit: {commits:?}");
    assert_eq!(
        s.last_promotion.as_ref().and_then(|r| r.commit.as_deref()),
        Some(commits[0].0.as_str())
    );
    assert_eq!(
        w.file_at_tip(PROD_RELEASE),
        release_file("sha-2", "promoted")
    );
    assert!(a.is_leader(), "the outage did not cost the Lease");
    assert_eq!(a.stop().await, Stopped::Shutdown);
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liveness_fails_while_reconciles_cannot_complete_and_recovers_after() {
    let w = World::start("fault-stall", false).await;
    let (api, client) = proxied_client(&w, API).await;
    let mut config = w.operator_config("op-a");
    // Without a Lease to lose, only the watchdog judges the hung API server.
    config.leader_election = false;
    let addr = free_addr();
    config.metrics_addr = Some(addr);
    let idle = config.timing.idle;
    let stall = Duration::from_secs(3);
    let a = start(
        client,
        config,
        Deadlines {
            reconcile: Duration::from_secs(2),
            stall,
            ..deadlines()
        },
    );
    w.create_promotion("Manual", json!({})).await;
    w.wait_phase(Phase::InSync).await;
    assert_eq!(wait_probe(addr, "/healthz", 200, WAIT).await, "ok");
    assert_eq!(wait_probe(addr, "/readyz", 200, WAIT).await, "leader");

    api.hang();
    // A reconcile starts within one resync and cannot finish; the stall is counted from then.
    let within = stall + idle + Duration::from_secs(10);
    let why = wait_probe(addr, "/healthz", 503, within).await;
    assert!(why.contains("no reconcile completed"), "{why}");
    let why = wait_probe(addr, "/readyz", 503, WAIT).await;
    assert!(why.contains("API server"), "{why}");

    api.resume();
    assert_eq!(wait_probe(addr, "/healthz", 200, WAIT).await, "ok");
    assert_eq!(wait_probe(addr, "/readyz", 200, WAIT).await, "leader");
    assert_eq!(a.stop().await, Stopped::Shutdown);
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lane_whose_git_server_never_answers_is_abandoned_and_the_others_progress() {
    let w = World::start("fault-deadline", false).await;
    let hole = Blackhole::start().expect("blackhole");
    let mut config = w.operator_config("op-a");
    // One slot: the hung lane would hold it for as long as git waits.
    config.concurrency = 1;
    let reconcile = Duration::from_secs(2);
    let a = start(
        w.env.client().clone(),
        config,
        Deadlines {
            reconcile,
            ..Deadlines::default()
        },
    );
    a.wait_leader().await;

    let hung: Promotion = serde_json::from_value(json!({
        "apiVersion": "promote.dev/v1alpha1", "kind": "Promotion",
        "metadata": {"name": "hung"},
        "spec": {
            "repository": {"url": format!("http://{}/git/web-core.git", hole.addr())},
            "source": {"environment": "dev", "valuesFile": DEV_RELEASE},
            "target": {"environment": "prod", "valuesFile": PROD_RELEASE},
            "trigger": "Manual",
        },
    }))
    .expect("promotion");
    w.promotions()
        .create(&PostParams::default(), &hung)
        .await
        .expect("create the hung lane");
    wait_until(
        "the hung lane calls its git server",
        WAIT,
        Duration::from_millis(20),
        async || (hole.accepted() >= 1).then_some(()),
    )
    .await
    .expect("the hung lane reaches git");

    w.create_promotion("Manual", json!({})).await;
    // Far less than git's own 60 s without progress: the slot was freed at the deadline.
    let s = wait_until(
        "web-prod in sync",
        Duration::from_secs(25),
        Duration::from_millis(200),
        async || {
            let s = w.status().await;
            (s.phase == Some(Phase::InSync)).then_some(s)
        },
    )
    .await
    .expect("the healthy lane progresses");
    assert_eq!(
        s.source.as_ref().and_then(|e| e.version.as_deref()),
        Some("sha-1")
    );
    let abandoned = metric(
        &a.metrics,
        "promote_reconcile_errors_total{category=\"deadline\"}",
    );
    assert!(
        abandoned >= 1.0,
        "the hung reconcile was abandoned: {abandoned}"
    );
    assert_eq!(
        a.health.liveness(),
        Ok(()),
        "others progress, so the replica is live"
    );
    assert_eq!(a.stop().await, Stopped::Shutdown);
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_judges_the_lease_on_its_own_clock_not_by_a_skewed_renew_time() {
    use k8s_openapi::api::coordination::v1::Lease;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    let w = World::start("fault-skew", false).await;
    let lease = w.operator_config("op-b").lease_duration;
    let leases: kube::Api<Lease> = w.env.api();
    // A holder on a node whose clock is an hour behind: every renewTime it writes looks long
    // expired to anyone comparing it with their own wall clock.
    let skewed = || MicroTime(jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1));
    let record: Lease = serde_json::from_value(json!({
        "metadata": {"name": "promote-operator"},
        "spec": {"holderIdentity": "skewed-node", "leaseDurationSeconds": lease.as_secs(),
                 "renewTime": skewed()},
    }))
    .expect("lease");
    leases
        .create(&PostParams::default(), &record)
        .await
        .expect("create the Lease");
    let b = w.operator("op-b");
    wait_until(
        "B stands by",
        WAIT,
        Duration::from_millis(100),
        async || (b.health.readiness() == Ok("standby")).then_some(()),
    )
    .await
    .expect("B is ready as a standby");

    // The holder keeps renewing for well over a lease duration; each renew would fail, or
    // find another holder, had B taken the Lease.
    let mut every = tokio::time::interval(Duration::from_secs(1));
    let mut last_renew = Instant::now();
    for _ in 0..(lease.as_secs() * 2) {
        every.tick().await;
        let mut current = leases
            .get("promote-operator")
            .await
            .expect("read the Lease");
        let spec = current.spec.as_mut().expect("spec");
        assert_eq!(spec.holder_identity.as_deref(), Some("skewed-node"));
        spec.renew_time = Some(skewed());
        leases
            .replace("promote-operator", &PostParams::default(), &current)
            .await
            .expect("the holder renews");
        last_renew = Instant::now();
        assert!(!b.is_leader(), "B took a Lease that is being renewed");
    }

    // Renewals stop: B takes over, a whole lease duration after the last one on its clock.
    eprintln!("the skewed holder stops renewing");
    b.wait_leader().await;
    assert!(
        last_renew.elapsed() >= lease,
        "B took over {:?} after the last renew",
        last_renew.elapsed()
    );
    let taken = leases
        .get("promote-operator")
        .await
        .expect("read the Lease");
    assert_eq!(
        taken.spec.and_then(|s| s.holder_identity).as_deref(),
        Some("op-b")
    );
    assert_eq!(b.stop().await, Stopped::Shutdown);
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_before_the_first_list_of_promotions_completes_ends_the_controller_at_once() {
    use promote_controller::supervise::Supervisor;
    use promote_controller::watchdog::Health;
    use std::sync::Arc;
    let w = World::start("fault-early-stop", false).await;
    w.create_promotion("Manual", json!({})).await;
    let (proxy, client) = proxied_client(&w, API).await;
    let (mut ctx, _) = by_hand(&w, "op-early").await;
    ctx.client = client;
    // Every API call of this controller now waits: its first list of Promotions never ends.
    proxy.hang();
    let (_cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
    let sup = Arc::new(Supervisor::new(
        Arc::new(ctx),
        Duration::from_secs(20),
        Arc::new(Health::default()),
        None,
        cancel_rx,
    ));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let ns = w.env.ns().to_owned();
    let before = proxy.connections();
    let controller = tokio::spawn(async move {
        promote_controller::watches::run(sup, Some(&ns), 25, stop_rx).await;
    });
    wait_until(
        "the controller's watches connect",
        WAIT,
        Duration::from_millis(50),
        async || (proxy.connections() > before).then_some(()),
    )
    .await
    .expect("the watch calls reach the proxy");
    stop_tx.send(true).expect("the controller listens");
    tokio::time::timeout(Duration::from_secs(10), controller)
        .await
        .expect("the controller stops at once, though its store never became ready")
        .expect("the controller task");
    w.finish().await;
}
