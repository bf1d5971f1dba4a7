//! The operator's world for end-to-end tests: a namespace on a real API server
//! (tests/control-plane), the web-core repository on a real git server (smart HTTP with
//! basic auth), its Secret, the Argo CD simulator with the seeds' dev and prod
//! Applications, and operator replicas running in this process.

#![allow(dead_code)]

pub mod health;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::events::{Recorder, Reporter};
use promote_api::{Phase, Promotion, PromotionStatus, conditions};
use promote_argocd_sim::{
    AppRef, ApplicationBuilder, GitAuth, Simulator, SimulatorConfig, SimulatorHandle,
};
use promote_controller::context::{Context, Settings};
use promote_controller::metrics::Metrics;
use promote_controller::operator::{Operator, OperatorConfig, Stopped};
use promote_git::{Engine, EngineConfig};
use promote_gitserver::{BareRepo, HttpServer, RepoDir};
use promote_lane::Timing;
use promote_testsupport::{TestEnv, wait_until};
use serde_json::json;
use tokio::sync::oneshot;

pub const DEV_RELEASE: &str = "deploy/env/release-dev/web.yaml";
pub const PROD_RELEASE: &str = "deploy/env/release-prod/web.yaml";
pub const WAIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(200);
/// Longest a replica or the simulator may take to stop once asked.
const STOP_WITHIN: Duration = Duration::from_secs(60);

/// The operator's and the simulator's logs on stderr, which the test runner shows when a test
/// fails or is stopped for running too long (a test's captured output would be lost then).
fn log_to_stderr() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PROMOTE_TEST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn,hyper=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub fn release_file(tag: &str, comment: &str) -> String {
    format!("# Release of web in this environment.\nimage:\n  tag: {tag} # {comment}\n")
}

/// One test's world: a namespace, the web-core repository over HTTP, its Secret, the
/// simulator, and the two Applications of the seeds' dev → prod lane.
pub struct World {
    pub env: TestEnv,
    pub repo: BareRepo,
    pub url: String,
    pub sim: SimulatorHandle,
    pub dev: AppRef,
    pub prod: AppRef,
    pub cache: tempfile::TempDir,
    pub _http: HttpServer,
    pub _repos: RepoDir,
}

impl World {
    pub async fn start(prefix: &str, dev_self_heal: bool) -> Self {
        log_to_stderr();
        let env = TestEnv::start(prefix).await.expect("test environment");
        let repos = RepoDir::new().expect("repository directory");
        let repo = repos
            .create(
                "web-core",
                &[
                    (
                        "deploy/charts/web-app/Chart.yaml",
                        "apiVersion: v2\nname: web-app\nversion: 0.1.0\n",
                    ),
                    (
                        "deploy/charts/web-app/values.yaml",
                        "image:\n  repository: registry.example.com/web/app\n  tag: latest\n",
                    ),
                    ("deploy/env/dev/web.yaml", "env:\n  NODE_ENV: development\n"),
                    ("deploy/env/prod/web.yaml", "env:\n  NODE_ENV: production\n"),
                    (DEV_RELEASE, &release_file("sha-1", "set by CI")),
                    (PROD_RELEASE, &release_file("sha-1", "promoted")),
                ],
            )
            .expect("web-core repository");
        let http = HttpServer::start(&repos).expect("HTTP git server");
        let url = http.url("web-core");
        let creds = http.credentials().clone();

        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": "web-core-git", "labels": {"promote.dev/credentials": "true"}},
            "stringData": {"username": creds.username, "password": creds.password},
        }))
        .expect("secret");
        env.api::<Secret>()
            .create(&PostParams::default(), &secret)
            .await
            .expect("create the credentials Secret");

        let config = SimulatorConfig::new([env.ns()])
            .poll_interval(Duration::from_millis(200))
            .health_delay(Duration::from_millis(500))
            .git_auth(
                http.base_url(),
                GitAuth::Basic {
                    username: creds.username.clone(),
                    password: promote_argocd_sim::Secret::new(creds.password.clone()),
                },
            );
        let sim = Simulator::start(env.client().clone(), config).expect("simulator");
        let dev = ApplicationBuilder::new("web-dev", &url, "deploy/charts/web-app")
            .value_file("../../env/dev/web.yaml")
            .value_file("../../env/release-dev/web.yaml")
            .auto_sync(dev_self_heal)
            .create(env.client(), env.ns())
            .await
            .expect("dev Application");
        let prod = ApplicationBuilder::new("web-prod", &url, "deploy/charts/web-app")
            .value_file("../../env/prod/web.yaml")
            .value_file("../../env/release-prod/web.yaml")
            .auto_sync(true)
            .create(env.client(), env.ns())
            .await
            .expect("prod Application");
        Self {
            env,
            repo,
            url,
            sim,
            dev,
            prod,
            cache: tempfile::tempdir().expect("cache dir"),
            _http: http,
            _repos: repos,
        }
    }

    pub fn promotions(&self) -> Api<Promotion> {
        self.env.api()
    }

    pub async fn create_promotion(&self, trigger: &str, extra: serde_json::Value) {
        let mut spec = json!({
            "repository": {"url": self.url, "credentials": {"secretName": "web-core-git"}},
            "source": {"environment": "dev", "valuesFile": DEV_RELEASE,
                       "application": {"name": "web-dev", "namespace": self.env.ns()}},
            "target": {"environment": "prod", "valuesFile": PROD_RELEASE,
                       "application": {"name": "web-prod", "namespace": self.env.ns()}},
            "trigger": trigger,
        });
        if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        let p: Promotion = serde_json::from_value(json!({
            "apiVersion": "promote.dev/v1alpha1", "kind": "Promotion",
            "metadata": {"name": "web-prod"}, "spec": spec,
        }))
        .expect("promotion");
        self.promotions()
            .create(&PostParams::default(), &p)
            .await
            .expect("create the Promotion");
    }

    pub fn operator_config(&self, identity: &str) -> OperatorConfig {
        OperatorConfig {
            cache_dir: self.cache.path().join(identity),
            namespace: Some(self.env.ns().to_owned()),
            metrics_addr: None,
            leader_election: true,
            lease_namespace: self.env.ns().to_owned(),
            lease_name: "promote-operator".to_owned(),
            identity: identity.to_owned(),
            lease_duration: Duration::from_secs(6),
            timing: Timing {
                idle: Duration::from_secs(2),
                active: Duration::from_millis(300),
            },
            branch_check: Duration::from_secs(2),
            head_ttl: Duration::from_millis(200),
            concurrency: 4,
            application_namespaces: vec![self.env.ns().to_owned()],
            allow_file_repositories: false,
            committer_email: "promote@localhost".to_owned(),
            git_http_expect_continue: true,
        }
    }

    /// Starts an operator replica in this process.
    pub fn operator(&self, identity: &str) -> Replica {
        let operator = Operator::new(self.env.client().clone(), self.operator_config(identity))
            .expect("operator");
        Replica::run(operator)
    }

    pub fn release(&self, tag: &str) -> String {
        self.repo
            .commit_files(
                "main",
                &[(DEV_RELEASE, &release_file(tag, "set by CI"))],
                &format!("ci: release {tag}"),
            )
            .expect("CI commit")
    }

    pub fn file_at_tip(&self, path: &str) -> String {
        self.repo
            .read_file("main", path)
            .expect("read the file")
            .unwrap_or_default()
    }

    /// Commits after `since` on main, newest first: (id, message, files touched).
    pub fn commits_since(&self, since: &str) -> Vec<(String, String, Vec<String>)> {
        let before: Vec<String> = self.repo.commits(since).expect("history");
        self.repo
            .commits("main")
            .expect("history")
            .into_iter()
            .filter(|c| !before.contains(c))
            .map(|c| {
                let message = self.repo.commit_message(&c).expect("message");
                let files = self.repo.changed_files(&c).expect("files");
                (c, message, files)
            })
            .collect()
    }

    /// Waits until Argo CD (the simulator) runs `tag` in dev, synced and healthy.
    pub async fn wait_dev_running(&self, tag: &str) {
        let suffix = format!(":{tag}");
        self.sim
            .wait_for(
                &self.dev,
                |a| {
                    a.sync_status() == Some("Synced")
                        && a.health_status() == Some("Healthy")
                        && a.images().iter().all(|i| i.ends_with(&suffix))
                },
                WAIT,
            )
            .await
            .expect("dev runs the release");
    }

    pub async fn status(&self) -> PromotionStatus {
        self.promotions()
            .get("web-prod")
            .await
            .expect("read the Promotion")
            .status
            .unwrap_or_default()
    }

    pub async fn wait(
        &self,
        what: &str,
        mut ok: impl FnMut(&PromotionStatus) -> bool,
    ) -> PromotionStatus {
        let waited = wait_until(what, WAIT, POLL, async || {
            let status = self.status().await;
            if ok(&status) {
                Ok(Some(status))
            } else {
                Err(serde_json::to_string_pretty(&status).unwrap_or_default())
            }
        })
        .await;
        waited.unwrap_or_else(|e| panic!("{e}\nsimulator errors: {:?}", self.sim.errors()))
    }

    /// Waits until the condition `type_` has `status`.
    pub async fn wait_condition(&self, type_: &str, status: &str) -> PromotionStatus {
        self.wait(&format!("{type_} {status}"), |s| {
            condition_status(s, type_).as_deref() == Some(status)
        })
        .await
    }

    /// Waits for `phase` with a message that says `text`.
    pub async fn wait_phase_saying(&self, phase: Phase, text: &str) -> PromotionStatus {
        self.wait(&format!("phase {phase} saying {text:?}"), |s| {
            s.phase == Some(phase) && s.message.as_deref().unwrap_or_default().contains(text)
        })
        .await
    }

    pub async fn wait_phase(&self, phase: Phase) -> PromotionStatus {
        self.wait(&format!("phase {phase}"), |s| s.phase == Some(phase))
            .await
    }

    pub async fn patch_spec(&self, spec: serde_json::Value) {
        self.promotions()
            .patch(
                "web-prod",
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": spec})),
            )
            .await
            .expect("patch the Promotion");
    }

    pub async fn events(&self) -> Vec<(String, String)> {
        let api: Api<Event> = self.env.api();
        api.list(&ListParams::default())
            .await
            .expect("list Events")
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("web-prod"))
            .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
            .collect()
    }

    pub async fn finish(self) {
        tokio::time::timeout(STOP_WITHIN, self.sim.stop())
            .await
            .unwrap_or_else(|_| panic!("the simulator did not stop within {STOP_WITHIN:?}"));
    }
}

pub struct Replica {
    pub stop: Option<oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<anyhow::Result<Stopped>>,
    pub metrics: Arc<Metrics>,
    pub health: Arc<promote_controller::http::Health>,
}

impl Replica {
    /// Runs `operator` in this process until [`Replica::stop`].
    pub fn run(operator: Operator) -> Self {
        let metrics = operator.metrics();
        let health = operator.health();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(operator.run(async move {
            let _ = stopped.await;
        }));
        Replica {
            stop: Some(stop),
            task,
            metrics,
            health,
        }
    }

    pub async fn stop(mut self) -> Stopped {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // A graceful stop drains what runs, each bounded by its own deadline.
        tokio::time::timeout(STOP_WITHIN, &mut self.task)
            .await
            .unwrap_or_else(|_| panic!("the operator did not stop within {STOP_WITHIN:?}"))
            .expect("operator task")
            .expect("operator ran")
    }

    pub fn is_leader(&self) -> bool {
        self.health
            .leader
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn reconciles(&self) -> u64 {
        let text = self.metrics.render();
        text.lines()
            .find_map(|l| l.strip_prefix("promote_reconciles_total "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Waits until this replica has finished `more` reconciles after the `after`th: the
    /// positive signal that it looked again before a test asserts that nothing moved.
    pub async fn wait_reconciles(&self, after: u64, more: u64) {
        wait_until(
            format!("{more} more reconciles after {after}"),
            WAIT,
            Duration::from_millis(50),
            async || (self.reconciles() >= after + more).then_some(()),
        )
        .await
        .expect("the operator keeps reconciling");
    }

    /// Waits until this replica holds the Lease.
    pub async fn wait_leader(&self) {
        wait_until(
            "the replica leads",
            WAIT,
            Duration::from_millis(100),
            async || self.is_leader().then_some(()),
        )
        .await
        .expect("leads");
    }
}

pub fn condition_status(status: &PromotionStatus, type_: &str) -> Option<String> {
    conditions::find(&status.conditions, type_).map(|c| c.status.clone())
}

/// What the operator's reconcile shares, built by hand so a test can run one pass itself
/// and stop it anywhere (`promote_controller::reconcile::Pass`), with the Promotion as it is
/// now.
pub async fn by_hand(w: &World, identity: &str) -> (Context, Promotion) {
    let client = w.env.client().clone();
    let ctx = Context {
        client: client.clone(),
        engine: Engine::new(EngineConfig {
            head_ttl: Duration::from_millis(100),
            ..EngineConfig::new(w.cache.path().join(identity))
        })
        .expect("engine"),
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: "promote-operator".into(),
                instance: None,
            },
        ),
        metrics: Arc::new(Metrics::default()),
        settings: Settings {
            timing: Timing::default(),
            branch_check: Duration::from_secs(60),
            identity: identity.into(),
            committer_email: "promote@localhost".to_owned(),
            concurrency: 1,
            admission: promote_lane::Admission {
                application_namespaces: vec![w.env.ns().to_owned()],
                allow_file_repositories: false,
            },
        },
        written: Default::default(),
        apps: Default::default(),
        branches: Default::default(),
    };
    let promotion = w.promotions().get("web-prod").await.expect("promotion");
    (ctx, promotion)
}
