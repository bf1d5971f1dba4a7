//! The operator's lifetime: start-up checks, probes, leader election, the controller, and a
//! graceful stop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kube::Client;
use kube::api::{Api, ListParams};
use kube::runtime::events::{Recorder, Reporter};
use promote_api::Promotion;
use promote_git::{Engine, EngineConfig, Identity};
use tracing::{error, info};

use crate::context::{Context, Settings};
use crate::http::{self, Health};
use crate::leader::{self, LeaderConfig};
use crate::metrics::Metrics;
use promote_lane::Timing;

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
    /// Requeue intervals.
    pub timing: Timing,
    /// How long a remote-head check is shared by the lanes of one repository.
    pub head_ttl: Duration,
    /// Most reconciles running at once.
    pub concurrency: u16,
    /// The namespaces whose Argo CD Applications lanes may read and sync.
    pub application_namespaces: Vec<String>,
    /// Whether lanes may name `file://` repositories.
    pub allow_file_repositories: bool,
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
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operator")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Operator {
    /// Prepares a replica; nothing runs until [`Operator::run`].
    pub fn new(client: Client, config: OperatorConfig) -> anyhow::Result<Self> {
        Ok(Self {
            client,
            config,
            metrics: Arc::new(Metrics::default()),
            health: Arc::new(Health::default()),
        })
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
            metrics,
            health,
        } = self;
        check_crd(&client, config.namespace.as_deref()).await?;
        if let Some(addr) = config.metrics_addr {
            let (health, metrics) = (health.clone(), metrics.clone());
            tokio::spawn(async move {
                if let Err(e) = http::serve(addr, health, metrics).await {
                    error!(error = %e, "the probe and metrics server stopped");
                }
            });
        }
        let engine = Engine::new(EngineConfig {
            committer: Identity::new("Promote", "promote@localhost"),
            head_ttl: config.head_ttl,
            ..EngineConfig::new(&config.cache_dir)
        })
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot use cache directory {}: {e}",
                config.cache_dir.display()
            )
        })?;
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: "promote-operator".into(),
                instance: Some(config.identity.clone()),
            },
        );
        let ctx = Arc::new(Context {
            client: client.clone(),
            engine,
            recorder,
            metrics,
            settings: Settings {
                timing: config.timing,
                identity: config.identity.clone(),
                concurrency: config.concurrency,
                application_namespaces: config.application_namespaces.clone(),
                allow_file_repositories: config.allow_file_repositories,
            },
        });
        health.ready.store(true, Ordering::Relaxed);

        // One stop signal, observed by the leader loop and the controller alike.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn({
            let stop_tx = stop_tx.clone();
            async move {
                shutdown.await;
                let _ = stop_tx.send(true);
            }
        });
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };

        if !config.leader_election {
            health.leader.store(true, Ordering::Relaxed);
            crate::watches::run(ctx, config.namespace.as_deref(), stopped(stop_rx)).await;
            return Ok(Stopped::Shutdown);
        }
        let lease = LeaderConfig {
            namespace: config.lease_namespace.clone(),
            name: config.lease_name.clone(),
            identity: config.identity.clone(),
            lease_duration: config.lease_duration,
            renew_every: config.lease_duration / 3,
        };
        tokio::select! {
            () = leader::acquire(&client, &lease) => {}
            () = stopped(stop_rx.clone()) => return Ok(Stopped::Shutdown),
        }
        health.leader.store(true, Ordering::Relaxed);
        let holder = tokio::spawn({
            let (client, lease, stop_rx) = (client.clone(), lease.clone(), stop_rx.clone());
            async move {
                tokio::select! {
                    () = leader::hold(&client, &lease) => {
                        let _ = stop_tx.send(true);
                        true
                    }
                    () = stopped(stop_rx) => false,
                }
            }
        });
        crate::watches::run(ctx, config.namespace.as_deref(), stopped(stop_rx)).await;
        let lost = holder.await.unwrap_or(true);
        health.leader.store(false, Ordering::Relaxed);
        if lost {
            return Ok(Stopped::LostLease);
        }
        leader::release(&client, &lease).await;
        info!("shut down");
        Ok(Stopped::Shutdown)
    }
}

/// Fails with a hint when the Promotion CRD is not installed.
async fn check_crd(client: &Client, namespace: Option<&str>) -> anyhow::Result<()> {
    let api: Api<Promotion> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    match api.list(&ListParams::default().limit(1)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Err(anyhow::anyhow!(
            "the Promotion CRD (promotions.promote.dev) is not installed in this cluster: install it with `kubectl apply --server-side -f crds/promotions.promote.dev.yaml` or `helm install promote charts/promote`"
        )),
        Err(e) => Err(anyhow::anyhow!("cannot list Promotions: {e}")),
    }
}
