//! `promote-operator`: runs the Promote controller.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use kube::Client;
use promote_controller::deadlines::{ApiTimeouts, Deadlines};
use promote_controller::operator::{Operator, OperatorConfig, Stopped};
use promote_lane::Timing;
use promote_lane::duration::parse_duration;
use tracing::error;

/// Promote's operator: promotes releases between GitOps environments managed by Argo CD.
///
/// Watches Promotion resources (promote.dev/v1alpha1) in every namespace, copies the source
/// environment's version into the target's release values file in one Git commit, lets Argo CD
/// sync, verifies, and reports drift and self-heal policy on each Promotion's status.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address for /healthz, /readyz and /metrics.
    #[arg(long, env = "PROMOTE_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    metrics_addr: SocketAddr,

    /// Directory for the bare repository caches.
    #[arg(long, env = "PROMOTE_CACHE_DIR", default_value = "/var/cache/promote")]
    cache_dir: PathBuf,

    /// Watch only this namespace's Promotions (all namespaces when absent).
    #[arg(long, env = "PROMOTE_WATCH_NAMESPACE")]
    namespace: Option<String>,

    /// Log format.
    #[arg(long, env = "PROMOTE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    /// Run without leader election (only when exactly one replica runs).
    #[arg(long)]
    no_leader_election: bool,

    /// Namespace of the leader-election Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,

    /// Name of the leader-election Lease.
    #[arg(long, default_value = "promote-operator")]
    lease_name: String,

    /// This replica's identity in the Lease and in Events (defaults to the pod name).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,

    /// How long the Lease is valid without renewal. The leader renews every third of it, each
    /// renew with a deadline of a third; once only a third is left without a renewal it stops
    /// starting reconciles, cancels those running, refuses git pushes and exits, before any
    /// standby could take over.
    #[arg(long, default_value = "15s", value_parser = duration)]
    lease_duration: Duration,

    /// How often the branch of every repository the lanes read is checked: one remote-head
    /// check per repository, branch and credentials, shared by their lanes, and a fetch only
    /// when it moved. A lane whose files the new commits changed is reconciled at once.
    #[arg(long, default_value = "60s", value_parser = duration)]
    resync: Duration,

    /// Longest an idle lane goes without a reconcile when nothing it depends on changed (its
    /// Promotion, its Applications, its Secrets, its branch). Changes are acted on at once; this
    /// only bounds how stale a lane's status can be if a watch event were missed.
    #[arg(long, default_value = "10m", value_parser = duration)]
    full_resync: Duration,

    /// How often a lane with a promotion in flight is checked.
    #[arg(long, default_value = "2s", value_parser = duration)]
    poll: Duration,

    /// Most reconciles running at once (bounds API connections, git threads and memory).
    #[arg(long, default_value_t = 8)]
    concurrency: u16,

    /// Namespaces whose Argo CD Applications lanes may read and sync (comma-separated).
    #[arg(
        long,
        env = "PROMOTE_APPLICATION_NAMESPACES",
        value_delimiter = ',',
        default_value = "argocd"
    )]
    application_namespaces: Vec<String>,

    /// Let lanes name file:// repositories (paths on the operator's own disk); off by default.
    #[arg(long, env = "PROMOTE_ALLOW_FILE_REPOSITORIES")]
    allow_file_repositories: bool,

    /// The e-mail on every commit the operator makes, as author and committer. GitHub and
    /// GitLab show a signed commit as verified only when this is a verified address of the
    /// account that holds the signing key.
    #[arg(
        long,
        env = "PROMOTE_COMMITTER_EMAIL",
        default_value = "promote@localhost"
    )]
    committer_email: String,

    /// Send `Expect: 100-continue` with git's smart-HTTP POSTs, so the body goes out when the
    /// server answers rather than after a delayed ACK (40 to 200 ms a request). Set it to false
    /// only for a server or proxy that never answers it: every POST would wait for
    /// --git-timeout and fail.
    #[arg(long, env = "PROMOTE_GIT_HTTP_EXPECT_CONTINUE", default_value_t = true, action = clap::ArgAction::Set)]
    git_http_expect_continue: bool,

    /// How long one remote-head check is shared by the lanes of one repository.
    #[arg(long, default_value = "2s", value_parser = duration)]
    head_ttl: Duration,

    /// Longest wait to connect to the Kubernetes API server.
    #[arg(long, env = "PROMOTE_KUBE_CONNECT_TIMEOUT", default_value = "10s", value_parser = duration)]
    kube_connect_timeout: Duration,

    /// Longest silence from the Kubernetes API server while a response is awaited or read;
    /// then the call fails. Watches ask the server to end each call a little sooner (and resume
    /// from where they were), so quiet watches are not cut.
    #[arg(long, env = "PROMOTE_KUBE_READ_TIMEOUT", default_value = "30s", value_parser = duration)]
    kube_read_timeout: Duration,

    /// Longest wait to connect to a git server.
    #[arg(long, env = "PROMOTE_GIT_CONNECT_TIMEOUT", default_value = "10s", value_parser = duration)]
    git_connect_timeout: Duration,

    /// Longest a git network operation may go without progress before it fails.
    #[arg(long, env = "PROMOTE_GIT_TIMEOUT", default_value = "60s", value_parser = duration)]
    git_timeout: Duration,

    /// Longest one reconcile may run; then it is abandoned and retried with a backoff that
    /// doubles (from 5s, up to 10m), so a hung lane cannot hold a reconcile slot. Also the
    /// longest one git network operation may take in all.
    #[arg(long, env = "PROMOTE_RECONCILE_TIMEOUT", default_value = "5m", value_parser = duration)]
    reconcile_timeout: Duration,

    /// /healthz fails once reconciles have been running or waiting to be retried for this long
    /// without any of them completing (a stuck replica is restarted); an idle replica stays
    /// healthy.
    #[arg(long, env = "PROMOTE_STALL_TIMEOUT", default_value = "5m", value_parser = duration)]
    stall_timeout: Duration,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s).ok_or_else(|| format!("{s:?} is not a duration such as 15s, 2m or 1h30m"))
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

fn main() -> ExitCode {
    one_malloc_arena();
    let args = Args::parse();
    init_logging(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Keeps every thread on glibc's main malloc arena. By default glibc gives threads that
/// contend for it arenas of their own (up to eight per core), each holding on to the memory
/// it once needed: git work runs on blocking threads, so every burst of promotions left a few
/// MiB behind in arenas nobody used again. The operator is I/O-bound; one arena costs it no
/// measurable time and saves 3 to 4 MiB of resident memory (docs/benchmarks.md).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn one_malloc_arena() {
    // SAFETY: mallopt only sets one of malloc's tunables and is called first thing in main,
    // before any other thread exists, so no allocation can race it. A refusal (0) leaves
    // glibc's default, which is merely larger.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn one_malloc_arena() {}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let deadlines = Deadlines {
        api: ApiTimeouts {
            connect: args.kube_connect_timeout,
            read: args.kube_read_timeout,
        },
        git_connect: args.git_connect_timeout,
        git_io: args.git_timeout,
        reconcile: args.reconcile_timeout,
        stall: args.stall_timeout,
    };
    let config = OperatorConfig {
        cache_dir: args.cache_dir,
        namespace: args.namespace,
        metrics_addr: Some(args.metrics_addr),
        leader_election: !args.no_leader_election,
        lease_namespace: args.lease_namespace,
        lease_name: args.lease_name,
        identity: args.identity.unwrap_or_else(default_identity),
        lease_duration: args.lease_duration,
        timing: Timing {
            idle: args.full_resync,
            active: args.poll,
        },
        branch_check: args.resync,
        head_ttl: args.head_ttl,
        concurrency: args.concurrency,
        application_namespaces: args.application_namespaces,
        allow_file_repositories: args.allow_file_repositories,
        committer_email: args.committer_email,
        git_http_expect_continue: args.git_http_expect_continue,
    };
    let client = client(&deadlines.api).await?;
    let operator = Operator::new(client, config)?.with_deadlines(deadlines);
    match operator.run(shutdown_signal()).await? {
        Stopped::Shutdown => Ok(ExitCode::SUCCESS),
        Stopped::LostLease => {
            error!("lost the leader Lease; exiting so a restart rejoins as a standby");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// A client from the in-cluster config or KUBECONFIG, with the API deadlines.
async fn client(timeouts: &ApiTimeouts) -> anyhow::Result<Client> {
    let cannot = |e: &dyn std::fmt::Display| {
        anyhow::anyhow!("cannot build a Kubernetes client (in-cluster config or KUBECONFIG): {e}")
    };
    let mut config = kube::Config::infer().await.map_err(|e| cannot(&e))?;
    timeouts.apply(&mut config);
    Client::try_from(config).map_err(|e| cannot(&e))
}

fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "promote-operator".to_owned());
    format!("{host}-{}", std::process::id())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
