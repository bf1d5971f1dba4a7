//! The operator's lifetime: probes, start-up checks, leader election, the controller, and a
//! graceful stop, or a prompt one when the Lease is lost.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kube::Client;
use kube::api::{Api, ListParams};
use kube::runtime::events::{Recorder, Reporter};
use promote_api::Promotion;
use promote_git::{Engine, EngineConfig, Fence, Identity};
use promote_lane::{Admission, Timing};
use tokio::sync::watch;
use tracing::{error, info, instrument, warn};

use crate::context::{Context, Settings};
use crate::deadlines::Deadlines;
use crate::http::{self, Health};
use crate::leader::{self, LeaderConfig, Lost, Tenure};
use crate::metrics::Metrics;
use crate::supervise::Supervisor;

/// How the operator runs.
#[derive(Debug, Clone)]
pub struct OperatorConfig {
    /// Directory for the bare repository caches.
    pub cache_dir: PathBuf,
    /// Watch only this namespace's Promotions; all namespaces when absent.
    pub namespace: Option<String>,
    /// Where to serve `/healthz`, `/readyz` and `/metrics`; none when absent.
    pub metrics_addr: Option<SocketAddr>,
    /// Whether to take a Lease before writing anything.
    pub leader_election: bool,
    /// Namespace of the Lease.
    pub lease_namespace: String,
    /// Name of the Lease.
    pub lease_name: String,
    /// This replica's identity.
    pub identity: String,
    /// How long the Lease is valid without renewal.
    pub lease_duration: Duration,
    /// Requeue intervals; `timing.idle` is the longest an idle lane goes without a reconcile
    /// when nothing it depends on changed (`--full-resync`).
    pub timing: Timing,
    /// How often the branch each lane reads is checked, once per repository, branch and
    /// credentials; lanes whose branch moved are reconciled at once (`--resync`).
    pub branch_check: Duration,
    /// How long a remote-head check is shared by the lanes of one repository.
    pub head_ttl: Duration,
    /// Most reconciles running at once.
    pub concurrency: u16,
    /// The namespaces whose Argo CD Applications lanes may read and sync.
    pub application_namespaces: Vec<String>,
    /// Whether lanes may name `file://` repositories.
    pub allow_file_repositories: bool,
    /// The e-mail on every commit, as author and committer (`--committer-email`).
    pub committer_email: String,
    /// Whether smart-HTTP POSTs ask for `100 Continue` before their body
    /// (`--git-http-expect-continue`).
    pub git_http_expect_continue: bool,
}

/// Why the operator stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It was asked to stop.
    Shutdown,
    /// Another replica took the Lease; this one must not write any more.
    LostLease,
}

/// One operator replica.
pub struct Operator {
    client: Client,
    config: OperatorConfig,
    deadlines: Deadlines,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operator")
            .field("config", &self.config)
            .field("deadlines", &self.deadlines)
            .finish_non_exhaustive()
    }
}

/// Resolves once the signal `rx` watches turns true.
async fn signalled(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

impl Operator {
    /// Prepares a replica with the default [`Deadlines`]; nothing runs until
    /// [`Operator::run`].
    pub fn new(client: Client, config: OperatorConfig) -> anyhow::Result<Self> {
        let health = Arc::new(Health::default());
        let deadlines = Deadlines::default();
        health.set_stall_timeout(deadlines.stall);
        Ok(Self {
            client,
            config,
            deadlines,
            metrics: Arc::new(Metrics::default()),
            health,
        })
    }

    /// Uses `deadlines` instead of the defaults. The client's own deadlines are set where it
    /// is built ([`crate::deadlines::ApiTimeouts::apply`]).
    pub fn with_deadlines(mut self, deadlines: Deadlines) -> Self {
        self.health.set_stall_timeout(deadlines.stall);
        self.deadlines = deadlines;
        self
    }

    /// Its metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Its probe state.
    pub fn health(&self) -> Arc<Health> {
        self.health.clone()
    }

    /// Runs until `shutdown` resolves or the Lease is lost.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<Stopped> {
        let Self {
            client,
            config,
            deadlines,
            metrics,
            health,
        } = self;
        if let Some(addr) = config.metrics_addr {
            let (health, metrics) = (health.clone(), metrics.clone());
            tokio::spawn(async move {
                if let Err(e) = http::serve(addr, health, metrics).await {
                    error!(error = %e, "the probe and metrics server stopped");
                }
            });
        }
        let answer_within = deadlines.api.connect + deadlines.api.read;
        check_crd(&client, config.namespace.as_deref(), answer_within).await?;
        health.api_answered();
        let lease = LeaderConfig {
            namespace: config.lease_namespace.clone(),
            name: config.lease_name.clone(),
            identity: config.identity.clone(),
            lease_duration: config.lease_duration,
            renew_every: config.lease_duration / 3,
        };
        let tenure = config.leader_election.then(|| {
            // Stop writing once no more than one renew interval of the Lease is left.
            let tenure = Arc::new(Tenure::new(lease.lease_duration, lease.renew_every));
            health.watch_tenure(tenure.clone());
            tenure
        });
        let engine = engine(&config, &deadlines, tenure.as_ref(), &metrics)?;
        let ctx = Arc::new(context(&client, &config, engine, metrics.clone()));

        // One stop signal for the leader loop and the controller; one cancel signal for the
        // reconciles running when leadership is lost.
        let (stop_tx, stop_rx) = watch::channel(false);
        let (cancel_tx, cancel_rx) = watch::channel(false);
        tokio::spawn({
            let stop_tx = stop_tx.clone();
            async move {
                shutdown.await;
                let _ = stop_tx.send(true);
            }
        });
        let sup = Arc::new(Supervisor::new(
            ctx,
            deadlines.reconcile,
            health.clone(),
            tenure.clone(),
            cancel_rx,
        ));
        let watch_secs = deadlines.api.watch_timeout_secs();
        let namespace = config.namespace.clone();
        let controller = async move {
            crate::watches::run(sup, namespace.as_deref(), watch_secs, stop_rx).await;
        };
        health.ready.store(true, Ordering::Relaxed);

        let Some(tenure) = tenure else {
            health.leader.store(true, Ordering::Relaxed);
            metrics.leading(true);
            let ping = tokio::spawn(ping(client.clone(), health.clone(), lease.renew_every));
            controller.await;
            ping.abort();
            return Ok(Stopped::Shutdown);
        };
        let leading = Leading {
            client,
            lease,
            tenure,
            health,
            metrics,
            stop_tx,
            cancel_tx,
        };
        Ok(leading.run(controller).await)
    }
}

/// A replica under leader election: it waits for the Lease, runs the controller while it
/// holds it, and cancels what runs as soon as it does not.
struct Leading {
    client: Client,
    lease: LeaderConfig,
    tenure: Arc<Tenure>,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
    stop_tx: watch::Sender<bool>,
    cancel_tx: watch::Sender<bool>,
}

impl Leading {
    async fn run(self, controller: impl std::future::Future<Output = ()>) -> Stopped {
        let Self {
            client,
            lease,
            tenure,
            health,
            metrics,
            stop_tx,
            cancel_tx,
        } = self;
        tokio::select! {
            () = leader::acquire(&client, &lease, &tenure, &health) => {}
            () = signalled(stop_tx.subscribe()) => return Stopped::Shutdown,
        }
        health.leader.store(true, Ordering::Relaxed);
        metrics.leading(true);
        // Renews until the controller has stopped, so a graceful stop drains under the Lease.
        let (done_tx, done_rx) = watch::channel(false);
        let holder = tokio::spawn({
            let (client, lease, health) = (client.clone(), lease.clone(), health.clone());
            async move {
                tokio::select! {
                    lost = leader::hold(&client, &lease, &tenure, &health) => {
                        if lost == Lost::Lapsed {
                            health.lease_lapsed();
                        }
                        // Cancel first: the controller's graceful stop waits for what runs.
                        let _ = cancel_tx.send(true);
                        let _ = stop_tx.send(true);
                        true
                    }
                    () = signalled(done_rx) => false,
                }
            }
        });
        controller.await;
        let _ = done_tx.send(true);
        let lost = holder.await.unwrap_or(true);
        health.leader.store(false, Ordering::Relaxed);
        metrics.leading(false);
        if lost {
            return Stopped::LostLease;
        }
        leader::release(&client, &lease).await;
        info!("shut down");
        Stopped::Shutdown
    }
}

/// The git engine, with its deadlines and, under leader election, a fence that refuses a
/// push unless the Lease is still safely held.
fn engine(
    config: &OperatorConfig,
    deadlines: &Deadlines,
    tenure: Option<&Arc<Tenure>>,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<Engine> {
    let fence = tenure.map(|tenure| {
        let (tenure, metrics) = (tenure.clone(), metrics.clone());
        Fence::new(move || {
            tenure.check().inspect_err(|why| {
                metrics.push_fenced();
                warn!(reason = %why, "push refused: the leader Lease is not safely held");
            })
        })
    });
    Engine::new(EngineConfig {
        committer: Identity::new("Promote", config.committer_email.as_str()),
        head_ttl: config.head_ttl,
        connect_timeout: deadlines.git_connect,
        io_timeout: deadlines.git_io,
        // No git operation outlives the reconcile that asked for it by much.
        operation_timeout: deadlines.reconcile,
        http_expect_continue: config.git_http_expect_continue,
        fence,
        ..EngineConfig::new(&config.cache_dir)
    })
    .map_err(|e| {
        anyhow::anyhow!(
            "cannot use cache directory {}: {e}",
            config.cache_dir.display()
        )
    })
}

fn context(
    client: &Client,
    config: &OperatorConfig,
    engine: Engine,
    metrics: Arc<Metrics>,
) -> Context {
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "promote-operator".into(),
            instance: Some(config.identity.clone()),
        },
    );
    Context {
        client: client.clone(),
        engine,
        recorder,
        metrics,
        settings: Settings {
            timing: config.timing,
            branch_check: config.branch_check,
            identity: config.identity.clone(),
            committer_email: config.committer_email.clone(),
            concurrency: config.concurrency,
            admission: Admission {
                application_namespaces: config.application_namespaces.clone(),
                allow_file_repositories: config.allow_file_repositories,
            },
        },
        written: Default::default(),
        apps: crate::apps::AppCache::new(config.application_namespaces.clone()),
        branches: Default::default(),
    }
}

/// Without leader election nothing else calls the API server on a schedule, so readiness
/// learns whether it answers from a cheap call every `every`.
async fn ping(client: Client, health: Arc<Health>, every: Duration) {
    loop {
        match tokio::time::timeout(every, client.apiserver_version()).await {
            Ok(Ok(_)) => health.api_answered(),
            Ok(Err(e)) => health.api_failed(e.to_string()),
            Err(_) => health.api_failed("the API server did not answer in time"),
        }
        tokio::time::sleep(every).await;
    }
}

/// Fails with a hint when the Promotion CRD is not installed.
#[instrument(skip_all)]
async fn check_crd(
    client: &Client,
    namespace: Option<&str>,
    within: Duration,
) -> anyhow::Result<()> {
    let api: Api<Promotion> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let listed = tokio::time::timeout(within, api.list(&ListParams::default().limit(1)))
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "the Kubernetes API server did not answer within {}s",
                within.as_secs()
            )
        })?;
    match listed {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Err(anyhow::anyhow!(
            "the Promotion CRD (promotions.promote.dev) is not installed in this cluster: install it with `kubectl apply --server-side -f crds/promotions.promote.dev.yaml` or `helm install promote charts/promote`"
        )),
        Err(e) => Err(anyhow::anyhow!("cannot list Promotions: {e}")),
    }
}
