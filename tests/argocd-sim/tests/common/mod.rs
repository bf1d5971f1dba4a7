//! One test's world: a namespace on the test control plane, a `web-core`-like repository
//! (chart plus per-environment release files, as in the seeds), and a running simulator.

#![allow(dead_code)]

use kube::Client;
use kube::api::{Patch, PatchParams};
use promote_argocd_sim::{
    AppRef, ApplicationBuilder, GitAuth, Secret, Simulator, SimulatorConfig, SimulatorHandle,
    applications,
};
use promote_gitserver::{BareRepo, HttpServer, RepoDir};
use promote_testsupport::TestEnv;
use serde_json::json;

/// The chart, as `synestra-platform/argocd/apps/web-*.yaml` point at it.
pub const CHART: &str = "deploy/charts/web-app";
/// The dev release file holding `image.tag`.
pub const DEV_RELEASE: &str = "deploy/env/release-dev/web.yaml";
/// The image repository the chart's own values name.
pub const IMAGE: &str = "registry.example.com/web/app";

/// The full image reference Argo CD shows for `tag`.
pub fn image(tag: &str) -> String {
    format!("{IMAGE}:{tag}")
}

/// A namespace, a repository and a simulator for one test.
pub struct Env {
    pub client: Client,
    pub namespace: String,
    pub sim: SimulatorHandle,
    /// Holds the namespace; dropping it deletes the namespace.
    test: TestEnv,
    pub repo: BareRepo,
    pub url: String,
    _http: Option<HttpServer>,
    _repos: RepoDir,
}

fn web_core(repos: &RepoDir) -> BareRepo {
    repos
        .create(
            "web-core",
            &[
                (
                    "deploy/charts/web-app/Chart.yaml",
                    "apiVersion: v2\nname: web-app\nversion: 0.1.0\n",
                ),
                (
                    "deploy/charts/web-app/values.yaml",
                    "image:\n  repository: registry.example.com/web/app\n  tag: latest\nreplicas: 1\n",
                ),
                (
                    "deploy/charts/web-app/templates/deployment.yaml",
                    "# image: {{ .Values.image.repository }}:{{ .Values.image.tag }}\n",
                ),
                (
                    "deploy/env/dev/web.yaml",
                    "command: [next, dev, --port, \"3000\"]\nenv:\n  NODE_ENV: development\n",
                ),
                (DEV_RELEASE, "image:\n  tag: sha-1 # set by CI\n"),
                ("deploy/env/release-prod/web.yaml", "image:\n  tag: sha-1\n"),
            ],
        )
        .expect("create the web-core repository")
}

impl Env {
    /// A local `file://` repository.
    pub async fn start() -> Self {
        Self::start_with(|c| c).await
    }

    /// A local `file://` repository, and simulator settings adjusted by `configure`.
    pub async fn start_with(configure: impl FnOnce(SimulatorConfig) -> SimulatorConfig) -> Self {
        let repos = RepoDir::new().expect("repository directory");
        let repo = web_core(&repos);
        let url = repo.file_url();
        let config = configure(SimulatorConfig::new(Vec::<String>::new()));
        Self::with(repos, repo, url, None, config).await
    }

    /// The repository served over smart HTTP with basic auth.
    pub async fn start_http() -> Self {
        let repos = RepoDir::new().expect("repository directory");
        let repo = web_core(&repos);
        let http = HttpServer::start(&repos).expect("HTTP git server");
        let url = http.url("web-core");
        let creds = http.credentials();
        let config = SimulatorConfig::new(Vec::<String>::new()).git_auth(
            http.base_url(),
            GitAuth::Basic {
                username: creds.username.clone(),
                password: Secret::new(creds.password.clone()),
            },
        );
        Self::with(repos, repo, url, Some(http), config).await
    }

    async fn with(
        repos: RepoDir,
        repo: BareRepo,
        url: String,
        http: Option<HttpServer>,
        mut config: SimulatorConfig,
    ) -> Self {
        let test = TestEnv::start("argocd-sim")
            .await
            .expect("test control plane and namespace");
        let client = test.client().clone();
        let namespace = test.ns().to_owned();
        config.namespaces = vec![namespace.clone()];
        let sim = Simulator::start(client.clone(), config).expect("start the simulator");
        Self {
            client,
            namespace,
            sim,
            test,
            repo,
            url,
            _http: http,
            _repos: repos,
        }
    }

    /// An Application for the dev environment's chart and values, like the seeds' apps.
    pub fn app(&self, name: &str) -> ApplicationBuilder {
        ApplicationBuilder::new(name, &self.url, CHART)
            .value_file("../../env/dev/web.yaml")
            .value_file("../../env/release-dev/web.yaml")
    }

    /// Creates the Application in the test's namespace.
    pub async fn create(&self, app: ApplicationBuilder) -> AppRef {
        app.create(&self.client, &self.namespace)
            .await
            .expect("create the Application")
    }

    /// The tip of `main`.
    pub fn head(&self) -> String {
        self.repo
            .head("main")
            .expect("read main")
            .expect("main exists")
    }

    /// Commits a new dev release tag as CI would; returns the new tip.
    pub fn release(&self, tag: &str) -> String {
        self.repo
            .commit_files(
                "main",
                &[(DEV_RELEASE, &format!("image:\n  tag: {tag} # set by CI\n"))],
                &format!("release {tag}"),
            )
            .expect("commit a release")
    }

    /// Writes `.operation` the way the operator does (and `argocd app sync`): a sync to
    /// `revision` (or the tip), clearing `status.operationState` in the same update.
    pub async fn write_operation(&self, app: &AppRef, revision: Option<&str>, username: &str) {
        let mut sync = json!({"syncStrategy": {"hook": {}}});
        if let Some(revision) = revision {
            sync["revision"] = json!(revision);
        }
        let patch = json!({
            "operation": {"sync": sync, "initiatedBy": {"username": username}},
            "status": {"operationState": null},
        });
        applications(self.client.clone(), &app.namespace)
            .patch(&app.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("write .operation");
    }

    /// Patches an annotation `n` times in a row, as a busy operator might.
    pub fn annotate_repeatedly(
        &self,
        app: &AppRef,
        n: usize,
    ) -> tokio::task::JoinHandle<Result<(), kube::Error>> {
        let api = applications(self.client.clone(), &app.namespace);
        let name = app.name.clone();
        tokio::spawn(async move {
            for i in 0..n {
                let patch =
                    json!({"metadata": {"annotations": {"promote.dev/observed": i.to_string()}}});
                api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
            }
            Ok(())
        })
    }

    /// Stops the simulator and deletes the namespace.
    pub async fn finish(self) {
        self.sim.stop().await;
        self.test
            .namespace
            .delete()
            .await
            .expect("delete the test namespace");
    }
}
