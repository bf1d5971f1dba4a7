//! The demo's world, as the operator's end-to-end tests build it: a namespace on the control
//! plane, the web-core repository on a real HTTP git server with basic auth, its labelled
//! credentials Secret, the Argo CD simulator with the dev and prod Applications, and the
//! operator running in this process. Also the waits on it, and the clean-up.

use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;
use promote_api::{Promotion, PromotionStatus};
use promote_argocd_sim::{
    AppRef, ApplicationBuilder, GitAuth, Simulator, SimulatorConfig, SimulatorHandle,
};
use promote_controller::operator::{Operator, OperatorConfig, Stopped};
use promote_gitserver::{BareRepo, HttpServer, RepoDir};
use promote_lane::Timing;
use promote_testsupport::{ControlPlane, TestEnv, wait_until};
use tokio::process::Command;
use tokio::sync::oneshot;

use crate::narrate::{Narrator, command_with_kubeconfig};

/// The dev release file: CI writes the tag it built here.
pub const DEV_RELEASE: &str = "deploy/env/release-dev/web.yaml";
/// The prod release file: only promotions write it.
pub const PROD_RELEASE: &str = "deploy/env/release-prod/web.yaml";
/// The Promotion's name.
pub const PROMOTION: &str = "web-prod";
/// The image the chart runs.
pub const IMAGE: &str = "registry.example.com/web/app";
/// The longest any one step of the demo may take.
pub const WAIT: Duration = Duration::from_secs(30);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(100);

/// A release file of the seed's layout.
pub fn release_file(tag: &str, comment: &str) -> String {
    format!("# Release of web in this environment.\nimage:\n  tag: {tag} # {comment}\n")
}

/// The web-core repository's files: the chart, per-environment settings, release files.
fn web_core_files() -> Vec<(&'static str, String)> {
    vec![
        (
            "deploy/charts/web-app/Chart.yaml",
            "apiVersion: v2\nname: web-app\nversion: 0.1.0\n".to_owned(),
        ),
        (
            "deploy/charts/web-app/values.yaml",
            format!("image:\n  repository: {IMAGE}\n  tag: latest\n"),
        ),
        (
            "deploy/env/dev/web.yaml",
            "command: [next, dev, --port, \"3000\"]\nenv:\n  NODE_ENV: development\n".to_owned(),
        ),
        (
            "deploy/env/prod/web.yaml",
            "command: [next, start]\nenv:\n  NODE_ENV: production\n".to_owned(),
        ),
        (DEV_RELEASE, release_file("sha-1", "set by CI")),
        (PROD_RELEASE, release_file("sha-1", "promoted")),
    ]
}

/// The operator, running in this process until stopped.
struct Replica {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<Stopped>>,
}

/// Everything the demo started, stopped again by [`Lab::clean_up`] (or, on an error, by
/// dropping it: the namespace, servers and simulator go with their handles).
pub struct Lab {
    /// The control plane and the demo's namespace.
    pub env: TestEnv,
    /// The web-core repository as the git server stores it.
    pub repo: BareRepo,
    /// The repository's URL on the HTTP git server.
    pub url: String,
    /// The Argo CD simulator.
    pub sim: SimulatorHandle,
    /// The dev Application.
    pub dev: AppRef,
    /// The prod Application.
    pub prod: AppRef,
    /// The operator's cache and the manifests the demo applies.
    pub work: tempfile::TempDir,
    operator: Option<Replica>,
    http: HttpServer,
    _repos: RepoDir,
}

impl Lab {
    /// Brings the world up, one numbered step per part.
    pub async fn start(n: &mut Narrator) -> Result<Self> {
        n.step("A namespace for the demo");
        let env = TestEnv::start("demo")
            .await
            .context("creating the demo's namespace")?;
        n.say(&format!(
            "The Promotion and Argo CD Application CRDs are installed; everything else lives in\nnamespace {}.",
            env.ns()
        ));

        n.step("The GitOps repository web-core on a git server");
        let repos = RepoDir::new().context("a directory for the repository")?;
        let files = web_core_files();
        let refs: Vec<(&str, &str)> = files.iter().map(|(p, c)| (*p, c.as_str())).collect();
        let repo = repos
            .create("web-core", &refs)
            .context("creating web-core")?;
        let http = HttpServer::start(&repos).context("starting the HTTP git server")?;
        let url = http.url("web-core");
        n.say(&format!(
            "A real git server (smart HTTP, basic auth) serves {url}\nwith the seed's layout:"
        ));
        n.show(&refs.iter().map(|(p, _)| *p).collect::<Vec<_>>().join("\n"));
        n.say(&format!("{PROD_RELEASE} holds:"));
        n.show(&release_file("sha-1", "promoted"));
        n.say("The lane reads its credentials from a Secret it is allowed to use (the label opts in):");
        let creds = http.credentials().clone();
        create_secret(n, &env, &creds.username, &creds.password).await?;

        let (sim, dev, prod) = start_argocd(n, &env, &http, &url).await?;
        let work = tempfile::tempdir().context("a work directory")?;
        let mut lab = Self {
            env,
            repo,
            url,
            sim,
            dev,
            prod,
            work,
            operator: None,
            http,
            _repos: repos,
        };
        lab.start_operator(n)?;
        Ok(lab)
    }

    /// `kubectl` for the control plane, as the test support runs it.
    pub fn kubectl(&self) -> Command {
        self.env.control_plane.kubectl()
    }

    /// The demo's namespace.
    pub fn ns(&self) -> &str {
        self.env.ns()
    }

    /// The Promotions in the demo's namespace.
    pub fn promotions(&self) -> Api<Promotion> {
        self.env.api()
    }

    fn start_operator(&mut self, n: &mut Narrator) -> Result<()> {
        n.step("The operator");
        let ns = self.ns().to_owned();
        let config = OperatorConfig {
            cache_dir: self.work.path().join("cache"),
            namespace: Some(ns.clone()),
            metrics_addr: None,
            leader_election: false,
            lease_namespace: ns.clone(),
            lease_name: "promote-operator".to_owned(),
            identity: "promote-demo".to_owned(),
            lease_duration: Duration::from_secs(15),
            // Shorter than the defaults (60 s, 2 s) so the demo does not wait on idle lanes.
            timing: Timing {
                idle: Duration::from_secs(2),
                active: Duration::from_millis(300),
            },
            branch_check: Duration::from_secs(2),
            head_ttl: Duration::from_millis(200),
            concurrency: 4,
            application_namespaces: vec![ns.clone()],
            allow_file_repositories: false,
            committer_email: "promote@localhost".to_owned(),
            git_http_expect_continue: true,
        };
        let operator = Operator::new(self.env.client().clone(), config)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(operator.run(async move {
            let _ = stopped.await;
        }));
        self.operator = Some(Replica { stop, task });
        n.say(&format!(
            "The real operator (promote-controller's Operator) runs in this process, watching\nPromotions in {ns} and the Applications they name: what `promote-operator\n--namespace {ns} --application-namespaces {ns}` does in a cluster."
        ));
        Ok(())
    }

    /// Waits until the Promotion's status satisfies `ok`, saying what it saw last on timeout.
    pub async fn wait(
        &self,
        what: &str,
        mut ok: impl FnMut(&PromotionStatus) -> bool,
    ) -> Result<PromotionStatus> {
        let api = self.promotions();
        let waited = wait_until(what, WAIT, POLL, async || {
            match api.get_opt(PROMOTION).await {
                Err(e) => Err(e.to_string()),
                Ok(None) => Err(format!("Promotion {PROMOTION} does not exist")),
                Ok(Some(p)) => {
                    let status = p.status.unwrap_or_default();
                    if ok(&status) {
                        Ok(Some(status))
                    } else {
                        Err(describe(&status))
                    }
                }
            }
        })
        .await;
        waited.with_context(|| format!("simulator errors: {:?}", self.sim.errors()))
    }

    /// Waits until Argo CD (the simulator) runs `tag` in `app`, synced and healthy.
    pub async fn wait_running(&self, app: &AppRef, tag: &str) -> Result<()> {
        let suffix = format!(":{tag}");
        self.sim
            .wait_for(
                app,
                |a| {
                    a.sync_status() == Some("Synced")
                        && a.health_status() == Some("Healthy")
                        && a.images().iter().all(|i| i.ends_with(&suffix))
                },
                WAIT,
            )
            .await
            .with_context(|| format!("{app} runs {tag}"))?;
        Ok(())
    }

    /// Stops what the demo started, deletes its namespace, and says so.
    pub async fn clean_up(self, n: &mut Narrator) -> Result<()> {
        n.step("Cleaning up");
        let Self {
            env,
            sim,
            operator,
            http,
            _repos,
            work,
            ..
        } = self;
        if let Some(op) = operator {
            let _ = op.stop.send(());
            let stopped = tokio::time::timeout(WAIT, op.task)
                .await
                .context("the operator did not stop in time")?
                .context("the operator's task")??;
            n.say(&format!("operator stopped ({stopped:?})"));
        }
        tokio::time::timeout(WAIT, sim.stop())
            .await
            .context("the simulator did not stop in time")?;
        n.say("Argo CD simulator stopped");
        let TestEnv {
            control_plane,
            namespace,
        } = env;
        let client = namespace.client().clone();
        let name = namespace.name().to_owned();
        namespace.delete().await?;
        let namespaces: Api<Namespace> = Api::all(client);
        wait_until(
            format!("namespace {name} is gone"),
            WAIT,
            POLL,
            async || match namespaces.get_opt(&name).await {
                Ok(None) => Ok(Some(())),
                Ok(Some(_)) => Err("still there".to_owned()),
                Err(e) => Err(e.to_string()),
            },
        )
        .await?;
        n.say(&format!("namespace {name} deleted"));
        drop(http);
        drop(_repos);
        drop(work);
        n.say("git server stopped, repository and operator cache removed");
        n.say(&control_plane_note(control_plane));
        Ok(())
    }
}

/// What becomes of the cluster once the demo is done.
fn control_plane_note(control_plane: &ControlPlane) -> String {
    if std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty()) {
        format!(
            "the cluster KUBECONFIG names ({}) keeps running, as it was",
            control_plane.kubeconfig().to_string_lossy()
        )
    } else {
        "the test control plane keeps running for the next run (tests/control-plane/down stops it)"
            .to_owned()
    }
}

/// The phase and message, for waits that time out.
pub fn describe(status: &PromotionStatus) -> String {
    format!(
        "phase {}: {}",
        status.phase.map(|p| p.as_str()).unwrap_or("(none yet)"),
        status.message.as_deref().unwrap_or("")
    )
}

/// Creates and labels the credentials Secret with the real kubectl, keeping the password off
/// the screen.
async fn create_secret(n: &Narrator, env: &TestEnv, username: &str, password: &str) -> Result<()> {
    let ns = env.ns();
    let user = format!("--from-literal=username={username}");
    let pass = format!("--from-literal=password={password}");
    let args = [
        "create",
        "secret",
        "generic",
        "web-core-git",
        "-n",
        ns,
        &user,
        &pass,
    ];
    let shown = format!(
        "kubectl create secret generic web-core-git -n {ns} {user} --from-literal=password=..."
    );
    n.run_shown(&shown, env.control_plane.kubectl(), &args)
        .await?;
    n.run(
        "kubectl",
        env.control_plane.kubectl(),
        &[
            "label",
            "secret",
            "web-core-git",
            "-n",
            ns,
            "promote.dev/credentials=true",
        ],
    )
    .await?;
    Ok(())
}

/// Starts the simulator and creates the dev (self-heal off) and prod (self-heal on)
/// Applications, then waits until both run sha-1.
async fn start_argocd(
    n: &mut Narrator,
    env: &TestEnv,
    http: &HttpServer,
    url: &str,
) -> Result<(SimulatorHandle, AppRef, AppRef)> {
    n.step("Argo CD (the simulator stands in for it) with the dev and prod Applications");
    n.say("Argo CD cannot run here (no container runtime), so promote-argocd-sim plays its\napplication controller on real Application objects, reading the same git server.\nThe operator sees only the Applications, exactly as it would with Argo CD.");
    let creds = http.credentials();
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
    let sim = Simulator::start(env.client().clone(), config).context("starting the simulator")?;
    let dev = ApplicationBuilder::new("web-dev", url, "deploy/charts/web-app")
        .value_file("../../env/dev/web.yaml")
        .value_file("../../env/release-dev/web.yaml")
        .auto_sync(false)
        .create(env.client(), env.ns())
        .await
        .context("creating the dev Application")?;
    let prod = ApplicationBuilder::new("web-prod", url, "deploy/charts/web-app")
        .value_file("../../env/prod/web.yaml")
        .value_file("../../env/release-prod/web.yaml")
        .auto_sync(true)
        .create(env.client(), env.ns())
        .await
        .context("creating the prod Application")?;
    for app in [&dev, &prod] {
        sim.wait_for(
            app,
            |a| a.sync_status() == Some("Synced") && a.health_status() == Some("Healthy"),
            WAIT,
        )
        .await
        .with_context(|| format!("{app} is synced and healthy"))?;
    }
    n.say("web-dev: auto-sync, self-heal off (hot-reload sessions on dev); web-prod: auto-sync,\nself-heal on. Both run sha-1:");
    n.run(
        "kubectl",
        env.control_plane.kubectl(),
        &["get", "applications", "-n", env.ns()],
    )
    .await?;
    Ok((sim, dev, prod))
}

/// Refuses a cluster whose Application CRD is not the test support's: the demo installs a
/// minimal one for the simulator, which would replace Argo CD's own.
pub async fn check_cluster(control_plane: &ControlPlane) -> Result<()> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let client = control_plane.client().await?;
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    let Some(crd) = crds
        .get_opt(promote_testsupport::APPLICATION_CRD_NAME)
        .await
        .context("reading the Application CRD")?
    else {
        return Ok(());
    };
    let ours = crd
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .any(|f| f.manager.as_deref() == Some(promote_testsupport::FIELD_MANAGER));
    if !ours {
        bail!(
            "this cluster ({}) has its own {} CRD (Argo CD?); the demo would replace it with a minimal one: run it on the test control plane (unset KUBECONFIG)",
            control_plane.kubeconfig().to_string_lossy(),
            promote_testsupport::APPLICATION_CRD_NAME
        );
    }
    Ok(())
}

/// A command for the `kubectl-promote` plugin with this cluster's kubeconfig, when one is
/// built next to the demo or on `PATH`.
pub fn plugin(control_plane: &ControlPlane) -> Option<(std::path::PathBuf, Command)> {
    let sibling = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("kubectl-promote")));
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("kubectl-promote"))
            .find(|p| p.is_file())
    });
    let path = sibling.filter(|p| p.is_file()).or(on_path)?;
    let cmd = command_with_kubeconfig(&path, control_plane.kubeconfig());
    Some((path, cmd))
}
