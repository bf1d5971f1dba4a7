//! End to end: the operator against a real API server (tests/control-plane), a real git
//! server (smart HTTP with basic auth) and the Argo CD simulator.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::events::{Recorder, Reporter};
use promote_api::{Phase, Promotion, PromotionStatus, conditions};
use promote_argocd_sim::{
    AppRef, ApplicationBuilder, GitAuth, Simulator, SimulatorConfig, SimulatorHandle,
};
use promote_controller::context::{Context, Settings};
use promote_controller::decide::{Timing, after_write, decide};
use promote_controller::metrics::Metrics;
use promote_controller::model::Action;
use promote_controller::observe::{Heads, observe};
use promote_controller::operator::{Operator, OperatorConfig, Stopped};
use promote_controller::{act, report};
use promote_git::{Engine, EngineConfig};
use promote_gitserver::{BareRepo, HttpServer, RepoDir};
use promote_testsupport::TestEnv;
use serde_json::json;
use tokio::sync::oneshot;

const DEV_RELEASE: &str = "deploy/env/release-dev/web.yaml";
const PROD_RELEASE: &str = "deploy/env/release-prod/web.yaml";
const WAIT: Duration = Duration::from_secs(60);

fn release_file(tag: &str, comment: &str) -> String {
    format!("# Release of web in this environment.\nimage:\n  tag: {tag} # {comment}\n")
}

/// One test's world: a namespace, the web-core repository over HTTP, its Secret, the
/// simulator, and the two Applications of the seeds' dev → prod lane.
struct World {
    env: TestEnv,
    repo: BareRepo,
    url: String,
    sim: SimulatorHandle,
    dev: AppRef,
    prod: AppRef,
    cache: tempfile::TempDir,
    _http: HttpServer,
    _repos: RepoDir,
}

impl World {
    async fn start(prefix: &str, dev_self_heal: bool) -> Self {
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
            "metadata": {"name": "web-core-git"},
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

    fn promotions(&self) -> Api<Promotion> {
        self.env.api()
    }

    async fn create_promotion(&self, trigger: &str, extra: serde_json::Value) {
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

    fn operator_config(&self, identity: &str) -> OperatorConfig {
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
            head_ttl: Duration::from_millis(200),
            concurrency: 4,
        }
    }

    /// Starts an operator replica in this process.
    fn operator(&self, identity: &str) -> Replica {
        let operator = Operator::new(self.env.client().clone(), self.operator_config(identity))
            .expect("operator");
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

    fn release(&self, tag: &str) -> String {
        self.repo
            .commit_files(
                "main",
                &[(DEV_RELEASE, &release_file(tag, "set by CI"))],
                &format!("ci: release {tag}"),
            )
            .expect("CI commit")
    }

    fn file_at_tip(&self, path: &str) -> String {
        self.repo
            .read_file("main", path)
            .expect("read the file")
            .unwrap_or_default()
    }

    /// Commits after `since` on main, newest first: (id, message, files touched).
    fn commits_since(&self, since: &str) -> Vec<(String, String, Vec<String>)> {
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
    async fn wait_dev_running(&self, tag: &str) {
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

    async fn status(&self) -> PromotionStatus {
        self.promotions()
            .get("web-prod")
            .await
            .expect("read the Promotion")
            .status
            .unwrap_or_default()
    }

    async fn wait(
        &self,
        what: &str,
        mut ok: impl FnMut(&PromotionStatus) -> bool,
    ) -> PromotionStatus {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let status = self.status().await;
            if ok(&status) {
                return status;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}; status:\n{}\nsimulator errors: {:?}",
                    serde_json::to_string_pretty(&status).unwrap_or_default(),
                    self.sim.errors()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until the condition `type_` has `status`.
    async fn wait_condition(&self, type_: &str, status: &str) -> PromotionStatus {
        self.wait(&format!("{type_} {status}"), |s| {
            condition_status(s, type_).as_deref() == Some(status)
        })
        .await
    }

    /// Waits for `phase` with a message that says `text`.
    async fn wait_phase_saying(&self, phase: Phase, text: &str) -> PromotionStatus {
        self.wait(&format!("phase {phase} saying {text:?}"), |s| {
            s.phase == Some(phase) && s.message.as_deref().unwrap_or_default().contains(text)
        })
        .await
    }

    async fn wait_phase(&self, phase: Phase) -> PromotionStatus {
        self.wait(&format!("phase {phase}"), |s| s.phase == Some(phase))
            .await
    }

    async fn patch_spec(&self, spec: serde_json::Value) {
        self.promotions()
            .patch(
                "web-prod",
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": spec})),
            )
            .await
            .expect("patch the Promotion");
    }

    async fn events(&self) -> Vec<(String, String)> {
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

    async fn finish(self) {
        self.sim.stop().await;
    }
}

struct Replica {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<Stopped>>,
    metrics: Arc<Metrics>,
    health: Arc<promote_controller::http::Health>,
}

impl Replica {
    async fn stop(mut self) -> Stopped {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task
            .await
            .expect("operator task")
            .expect("operator ran")
    }

    fn is_leader(&self) -> bool {
        self.health
            .leader
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn reconciles(&self) -> u64 {
        let text = self.metrics.render();
        text.lines()
            .find_map(|l| l.strip_prefix("promote_reconciles_total "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }
}

fn condition_status(status: &PromotionStatus, type_: &str) -> Option<String> {
    conditions::find(&status.conditions, type_).map(|c| c.status.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_flow_waits_for_approval_then_promotes_with_one_commit() {
    let w = World::start("seed-flow", false).await;
    let op = w.operator("op-a");
    w.create_promotion("Manual", json!({})).await;
    let s = w
        .wait("dev and prod in sync", |s| s.phase == Some(Phase::InSync))
        .await;
    assert_eq!(
        s.source.as_ref().and_then(|e| e.version.as_deref()),
        Some("sha-1")
    );
    assert_eq!(
        condition_status(&s, "PolicyCompliant").as_deref(),
        Some("True")
    );

    let ci = w.release("sha-2");
    let s = w.wait_phase(Phase::AwaitingApproval).await;
    assert_eq!(
        s.source.as_ref().and_then(|e| e.version.as_deref()),
        Some("sha-2")
    );
    assert!(s.drift.as_ref().is_some_and(|d| d.release.drifted));
    assert!(s.message.as_deref().unwrap_or_default().contains("sha-2"));
    assert!(
        w.commits_since(&ci).is_empty(),
        "nothing moves before the approval"
    );

    w.patch_spec(json!({"approval": {"version": "sha-2", "approvedBy": "oncall-lead"}}))
        .await;
    let s = w.wait_phase(Phase::Promoted).await;

    let commits = w.commits_since(&ci);
    assert_eq!(commits.len(), 1, "exactly one commit: {commits:?}");
    let (message, files) = (&commits[0].1, &commits[0].2);
    assert_eq!(
        files,
        &[PROD_RELEASE.to_owned()],
        "only the prod release file changes"
    );
    assert!(
        message.contains(&format!("Promotion: {}/web-prod", w.env.ns())),
        "{message}"
    );
    assert!(message.contains("oncall-lead"), "{message}");
    let prod = w.file_at_tip(PROD_RELEASE);
    assert_eq!(
        prod,
        release_file("sha-2", "promoted"),
        "only the tag's bytes change"
    );

    let record = s.last_promotion.as_ref().expect("lastPromotion");
    assert_eq!(record.version, "sha-2");
    assert_eq!(record.previous_version.as_deref(), Some("sha-1"));
    assert_eq!(record.approved_by.as_deref(), Some("oncall-lead"));
    assert!(
        record.committed_at.is_some() && record.synced_at.is_some() && record.healthy_at.is_some()
    );
    assert_eq!(s.history.len(), 1);
    assert_eq!(condition_status(&s, "Verified").as_deref(), Some("True"));
    assert_eq!(
        s.target.as_ref().and_then(|e| e.version.as_deref()),
        Some("sha-2")
    );
    assert!(
        s.target
            .as_ref()
            .is_some_and(|t| t.live_images.iter().any(|i| i.ends_with(":sha-2")))
    );

    let prod_app = w.sim.get(&w.prod).await.expect("prod Application");
    assert_eq!(prod_app.sync_status(), Some("Synced"));
    assert!(
        prod_app.images().iter().any(|i| i.ends_with(":sha-2")),
        "{:?}",
        prod_app.images()
    );

    let events = w.events().await;
    assert!(
        events.iter().any(|(reason, _)| reason == "Committed"),
        "{events:?}"
    );
    assert!(
        events.iter().any(|(reason, _)| reason == "Promoted"),
        "{events:?}"
    );
    assert_eq!(op.stop().await, Stopped::Shutdown);
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_lane_is_gated_while_dev_is_degraded_then_soaks_and_promotes() {
    let w = World::start("auto-soak", false).await;
    let op = w.operator("op-a");
    w.create_promotion("Auto", json!({"gates": {"soakTime": "2s"}}))
        .await;
    w.wait_phase(Phase::InSync).await;

    w.sim.mark_bad("sha-2");
    let ci = w.release("sha-2");
    let s = w.wait_phase_saying(Phase::Gated, "Degraded").await;
    assert!(
        s.message.as_deref().unwrap_or_default().contains("web-dev"),
        "{:?}",
        s.message
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        w.commits_since(&ci).is_empty(),
        "a degraded source does not move"
    );

    w.sim.mark_good("sha-2");
    let s = w.wait_phase(Phase::Promoted).await;
    assert_eq!(
        s.target.as_ref().and_then(|e| e.version.as_deref()),
        Some("sha-2")
    );
    assert_eq!(w.commits_since(&ci).len(), 1);
    op.stop().await;
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_self_heal_on_is_reported_until_fixed() {
    let w = World::start("policy", true).await;
    let op = w.operator("op-a");
    w.create_promotion("Manual", json!({})).await;
    let s = w.wait_condition("PolicyCompliant", "False").await;
    let c = conditions::find(&s.conditions, "PolicyCompliant").expect("condition");
    assert_eq!(c.reason, "SelfHealMismatch");
    assert!(
        c.message.contains(&format!("{}/web-dev", w.env.ns())),
        "{}",
        c.message
    );
    assert!(c.message.contains("selfHeal: false"), "{}", c.message);
    assert_eq!(c.observed_generation, Some(1));

    let apps: Api<kube::api::DynamicObject> =
        promote_argocd_sim::applications(w.env.client().clone(), w.env.ns());
    apps.patch(
        &w.dev.name,
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"syncPolicy": {"automated": {"selfHeal": false}}}})),
    )
    .await
    .expect("fix the dev Application");
    w.wait_condition("PolicyCompliant", "True").await;
    op.stop().await;
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_session_on_dev_is_drift_on_the_source() {
    let w = World::start("hot-session", false).await;
    let op = w.operator("op-a");
    w.create_promotion("Manual", json!({})).await;
    w.wait_phase(Phase::InSync).await;
    w.sim
        .start_hot_session(&w.dev, "registry.example.com/web/app:okteto-dev");
    let s = w
        .wait("source drift", |s| {
            s.drift
                .as_ref()
                .is_some_and(|d| d.source.git_vs_live.as_deref() == Some("OutOfSync"))
        })
        .await;
    let drift = s.drift.as_ref().expect("drift");
    assert!(drift.drifted && !drift.release.drifted);
    assert!(
        drift
            .source
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("self-heal is off")
    );
    assert_eq!(condition_status(&s, "Drifted").as_deref(), Some("True"));

    w.sim.end_hot_session(&w.dev);
    w.wait("drift cleared", |s| {
        s.drift.as_ref().is_some_and(|d| !d.drifted)
    })
    .await;
    op.stop().await;
    w.finish().await;
}

/// The operator's pipeline run by hand up to the decision, so a test can stop it anywhere.
struct Decided {
    ctx: Context,
    promotion: Promotion,
    key: String,
    remote: promote_git::RemoteSpec,
    decision: promote_controller::model::Decision,
    request: promote_controller::model::WriteRequest,
}

async fn decide_by_hand(w: &World, identity: &str) -> Decided {
    let client = w.env.client().clone();
    let ctx = Context {
        client: client.clone(),
        engine: Engine::new(EngineConfig::new(w.cache.path().join(identity))).expect("engine"),
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: "promote-operator".into(),
                instance: None,
            },
        ),
        metrics: Arc::new(Metrics::default()),
        heads: Heads::default(),
        settings: Settings {
            timing: Timing::default(),
            head_ttl: Duration::from_millis(100),
            identity: identity.into(),
            concurrency: 1,
        },
    };
    let promotion = w.promotions().get("web-prod").await.expect("promotion");
    let key = format!("{}/web-prod", w.env.ns());
    let (observation, remote) = observe(&promotion, &key, &ctx).await;
    let decision = decide(&observation, &Timing::default());
    let Action::Write(request) = decision.action.clone() else {
        panic!(
            "expected a write, got {:?} ({:?})",
            decision.action, decision.status.message
        )
    };
    Decided {
        ctx,
        promotion,
        key,
        remote: remote.expect("remote"),
        decision,
        request,
    }
}

/// Plays the operator's pipeline up to the push and stops there, as a crash would.
async fn push_without_status(w: &World) {
    let Decided {
        ctx,
        promotion,
        key,
        remote,
        decision,
        request,
    } = decide_by_hand(w, "crashed").await;
    report::status(&ctx, &promotion, &key, &decision.status)
        .await
        .expect("intent recorded");
    let result = act::write(&ctx, &promotion, &key, &remote, &request).await;
    assert!(
        matches!(
            result,
            promote_controller::decide::WriteResult::Committed { .. }
        ),
        "{result:?}"
    );
    // The crash: the outcome is never reported.
    let _ = after_write(decision.status, &result, Timestamp::now(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_push_and_status_leaves_one_commit() {
    let w = World::start("crash", false).await;
    w.create_promotion("Manual", json!({})).await;
    let ci = w.release("sha-2");
    w.wait_dev_running("sha-2").await;
    w.patch_spec(json!({"approval": {"version": "sha-2", "approvedBy": "oncall-lead"}}))
        .await;
    push_without_status(&w).await;
    assert_eq!(
        w.status().await.phase,
        Some(Phase::Promoting),
        "the crash left it Promoting"
    );
    assert_eq!(w.commits_since(&ci).len(), 1);

    let op = w.operator("op-restarted");
    let s = w.wait_phase(Phase::Promoted).await;
    assert_eq!(
        w.commits_since(&ci).len(),
        1,
        "the restarted operator recognised its commit"
    );
    let record = s.last_promotion.as_ref().expect("record");
    assert_eq!(
        record.commit.as_deref(),
        Some(w.commits_since(&ci)[0].0.as_str())
    );
    op.stop().await;
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_writes() {
    let w = World::start("leader", false).await;
    let a = w.operator("op-a");
    tokio::time::timeout(WAIT, async {
        while !a.is_leader() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("op-a leads");
    let b = w.operator("op-b");
    w.create_promotion("Auto", json!({})).await;
    let ci = w.release("sha-2");
    w.wait_phase(Phase::Promoted).await;
    assert_eq!(w.commits_since(&ci).len(), 1);
    assert!(a.reconciles() > 0);
    assert!(!b.is_leader());
    assert_eq!(b.reconciles(), 0, "the standby never reconciled");

    // The leader steps down; the standby takes over and carries on.
    assert_eq!(a.stop().await, Stopped::Shutdown);
    tokio::time::timeout(WAIT, async {
        while !b.is_leader() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("op-b takes over");
    let ci = w.release("sha-3");
    w.wait("sha-3 promoted", |s| {
        s.phase == Some(Phase::Promoted)
            && s.target.as_ref().and_then(|t| t.version.as_deref()) == Some("sha-3")
    })
    .await;
    assert!(b.reconciles() > 0);
    assert_eq!(w.commits_since(&ci).len(), 1);
    b.stop().await;
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_edit_of_prod_is_a_conflict_and_is_kept() {
    let w = World::start("conflict", false).await;
    w.create_promotion("Manual", json!({})).await;
    let _ = w.release("sha-2");
    w.wait_dev_running("sha-2").await;
    w.patch_spec(json!({"approval": {"version": "sha-2", "approvedBy": "oncall-lead"}}))
        .await;

    // The operator decides on prod = sha-1 …
    let Decided {
        ctx,
        promotion,
        key,
        remote,
        decision,
        request,
    } = decide_by_hand(&w, "racer").await;
    // … a person hotfixes prod before the push …
    let hotfix = release_file("hotfix-1", "manual hotfix");
    let person = w
        .repo
        .commit_files("main", &[(PROD_RELEASE, &hotfix)], "hotfix prod")
        .expect("person's commit");
    // … and the push is refused, keeping their edit.
    report::status(&ctx, &promotion, &key, &decision.status)
        .await
        .expect("intent");
    let result = act::write(&ctx, &promotion, &key, &remote, &request).await;
    let promote_controller::decide::WriteResult::Conflict { message } = &result else {
        panic!("expected a conflict, got {result:?}")
    };
    assert!(message.contains("hotfix-1"), "{message}");
    let (status, _) = after_write(
        decision.status,
        &result,
        Timestamp::now(),
        promotion.metadata.generation,
    );
    let mut written = promotion.clone();
    written.status = None;
    report::status(&ctx, &written, &key, &status)
        .await
        .expect("report");

    // The operator, running now, reports the conflict and leaves the hotfix alone.
    let op = w.operator("op-a");
    let s = w.wait_phase_saying(Phase::Failed, "approve it again").await;
    assert!(
        s.message
            .as_deref()
            .unwrap_or_default()
            .contains("approve it again"),
        "{:?}",
        s.message
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        w.file_at_tip(PROD_RELEASE),
        hotfix,
        "the person's edit is kept"
    );
    assert!(
        w.commits_since(&person).is_empty(),
        "nothing was written over it"
    );
    op.stop().await;
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prod_app_without_auto_sync_gets_a_sync_request() {
    let w = World::start("manual-sync", false).await;
    let apps: Api<kube::api::DynamicObject> =
        promote_argocd_sim::applications(w.env.client().clone(), w.env.ns());
    apps.patch(
        &w.prod.name,
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"syncPolicy": {"automated": {"enabled": false}}}})),
    )
    .await
    .expect("turn prod auto-sync off");
    let op = w.operator("op-a");
    w.create_promotion("Auto", json!({})).await;
    w.wait_phase(Phase::InSync).await;
    let ci = w.release("sha-2");
    let s = w.wait_phase(Phase::Promoted).await;
    let commit = &w.commits_since(&ci)[0].0;
    assert_eq!(
        s.last_promotion.as_ref().and_then(|r| r.commit.as_ref()),
        Some(commit)
    );
    let prod = w.sim.get(&w.prod).await.expect("prod Application");
    assert_eq!(
        prod.synced_revision(),
        Some(commit.as_str()),
        "synced by the requested operation"
    );
    op.stop().await;
    w.finish().await;
}
