//! The running simulator: a tokio task that polls Applications and reconciles each one, and
//! the handle a test holds to steer it (hot sessions, bad versions) and wait on it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use promote_testsupport::wait_until;
use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::SimulatorConfig;
use crate::error::{Error, Result};
use crate::git::{GitReader, Resolved};
use crate::reconcile::{self, Facts, HotSession, LiveState, decide, operation_running};
use crate::render::{Rendered, Renderer};
use crate::snapshot::{AppRef, AppSnapshot, wait_for_with_errors};
use crate::spec::{AppSpec, OperationRequest};

/// How many conflicting writes in a row one reconcile tolerates before it gives up until the
/// next round.
const MAX_CONFLICTS: usize = 8;
/// How many distinct recent errors the handle keeps for failure messages.
const MAX_ERRORS: usize = 20;
/// How often [`SimulatorHandle::wait_rounds`] reads the round counter (rounds take longer).
const ROUNDS_POLL: Duration = Duration::from_millis(20);

/// The Argo CD simulator. See the crate documentation for what it does and does not do.
#[derive(Debug)]
pub struct Simulator;

impl Simulator {
    /// Starts the simulator as a tokio task on the current runtime. It runs until the handle
    /// is dropped or [`SimulatorHandle::stop`] is called.
    pub fn start(client: Client, config: SimulatorConfig) -> Result<SimulatorHandle> {
        let controls = Arc::new(Mutex::new(Controls::default()));
        let (rounds_tx, rounds_rx) = watch::channel(0_u64);
        let (stop_tx, stop_rx) = oneshot::channel();
        let engine = Engine {
            client: client.clone(),
            git: GitReader::new(config.clone())?,
            renderer: Renderer::default(),
            live: HashMap::new(),
            resolved: HashMap::new(),
            controls: Arc::clone(&controls),
            config,
        };
        let task = tokio::spawn(engine.run(stop_rx, rounds_tx));
        Ok(SimulatorHandle {
            client,
            controls,
            rounds: rounds_rx,
            stop: Some(stop_tx),
            task: Some(task),
        })
    }
}

/// What a test asked for that is not in the Kubernetes API: hot sessions, bad versions.
#[derive(Debug, Default)]
struct Controls {
    hot: HashMap<AppRef, (u64, String)>,
    generation: u64,
    bad: HashSet<String>,
    errors: VecDeque<String>,
    /// Asked to pause.
    paused: bool,
    /// The loop has seen the pause between two rounds: nothing is being written.
    idle: bool,
}

fn lock(controls: &Mutex<Controls>) -> MutexGuard<'_, Controls> {
    controls.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running simulator. Dropping it stops the simulator.
pub struct SimulatorHandle {
    client: Client,
    controls: Arc<Mutex<Controls>>,
    rounds: watch::Receiver<u64>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SimulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatorHandle")
            .field("rounds", &*self.rounds.borrow())
            .finish_non_exhaustive()
    }
}

impl SimulatorHandle {
    /// Simulates a hot-reload session (Okteto patching the Deployment): from the next round the
    /// app's live image is `live_image`, which differs from Git, so the app goes `OutOfSync`.
    /// With self-heal on, Argo CD then syncs and reverts it; a later sync also ends it.
    pub fn start_hot_session(&self, app: &AppRef, live_image: &str) {
        let mut c = lock(&self.controls);
        c.generation += 1;
        let generation = c.generation;
        c.hot
            .insert(app.clone(), (generation, live_image.to_owned()));
    }

    /// Ends the hot session (Okteto down): the Deployment returns to what Argo CD applied.
    pub fn end_hot_session(&self, app: &AppRef) {
        lock(&self.controls).hot.remove(app);
    }

    /// Marks a version bad: apps running it turn `Degraded` once their rollout ends. `version`
    /// is an image tag (`sha-123`), a digest (`sha256:…`) or a full image reference.
    pub fn mark_bad(&self, version: &str) {
        lock(&self.controls).bad.insert(version.to_owned());
    }

    /// Undoes [`SimulatorHandle::mark_bad`].
    pub fn mark_good(&self, version: &str) {
        lock(&self.controls).bad.remove(version);
    }

    /// Stops reconciling (an Argo CD that is down) and returns once the round under way, if
    /// any, has finished: from then on no Application is read or written until
    /// [`SimulatorHandle::resume`].
    pub async fn pause(&self, timeout: Duration) -> Result<()> {
        lock(&self.controls).paused = true;
        wait_until("the simulator paused", timeout, ROUNDS_POLL, async || {
            if lock(&self.controls).idle {
                Ok(Some(()))
            } else {
                Err("a round is still under way".to_owned())
            }
        })
        .await
        .map_err(|t| self.timed_out(timeout, t.last))
    }

    /// A wait on the whole simulator that timed out, with its last state and recent errors.
    fn timed_out(&self, timeout: Duration, last: Option<String>) -> Error {
        Error::WaitTimeout {
            app: "(all)".into(),
            timeout,
            last: last.unwrap_or_default(),
            recent_errors: self.errors(),
        }
    }

    /// Undoes [`SimulatorHandle::pause`].
    pub fn resume(&self) {
        let mut c = lock(&self.controls);
        c.paused = false;
        c.idle = false;
    }

    /// The simulator's recent reconcile errors (git or API failures), oldest first.
    pub fn errors(&self) -> Vec<String> {
        lock(&self.controls).errors.iter().cloned().collect()
    }

    /// How many reconcile rounds have completed.
    pub fn rounds(&self) -> u64 {
        *self.rounds.borrow()
    }

    /// Waits until `n` whole rounds have run after this call, so that anything written before
    /// the call has been seen `n` times: the positive signal to wait for before asserting
    /// that something did *not* change.
    pub async fn wait_rounds(&self, n: u64, timeout: Duration) -> Result<()> {
        // The round under way may have listed the objects before the call: skip it.
        let goal = self.rounds() + n + 1;
        let what = format!("the simulator has finished round {goal}");
        wait_until(what, timeout, ROUNDS_POLL, async || {
            if self.rounds() >= goal {
                Ok(Some(()))
            } else if self.rounds.has_changed().is_err() {
                Err(Error::Stopped.to_string())
            } else {
                Err(format!("{} rounds done, waiting for {goal}", self.rounds()))
            }
        })
        .await
        .map_err(|t| self.timed_out(timeout, t.last))
    }

    /// Waits until the Application satisfies `predicate` (every version is seen, through a
    /// watch). On timeout the error shows the last state and the simulator's recent errors.
    pub async fn wait_for<F>(
        &self,
        app: &AppRef,
        predicate: F,
        timeout: Duration,
    ) -> Result<AppSnapshot>
    where
        F: FnMut(&AppSnapshot) -> bool,
    {
        let controls = Arc::clone(&self.controls);
        wait_for_with_errors(&self.client, app, predicate, timeout, move || {
            lock(&controls).errors.iter().cloned().collect()
        })
        .await
    }

    /// Reads the Application now.
    pub async fn get(&self, app: &AppRef) -> Result<AppSnapshot> {
        crate::applications(self.client.clone(), &app.namespace)
            .get(&app.name)
            .await
            .map(AppSnapshot::new)
            .map_err(|e| Error::kube(format!("reading Application {app}"), e))
    }

    /// Requests a sync the way `argocd app sync` does: writes `.operation` (to `revision`, or
    /// the tip when `None`) and clears `status.operationState`. Fails if one is running.
    pub async fn request_sync(
        &self,
        app: &AppRef,
        revision: Option<&str>,
        username: &str,
    ) -> Result<()> {
        let api = crate::applications(self.client.clone(), &app.namespace);
        for _ in 0..MAX_CONFLICTS {
            let current = self.get(app).await?;
            if current.operation().is_some() || current.operation_phase() == Some("Running") {
                return Err(Error::InvalidSpec(format!(
                    "Application {app}: another operation is already in progress"
                )));
            }
            let mut sync = json!({});
            if let Some(revision) = revision {
                sync["revision"] = json!(revision);
            }
            let patch = json!({
                "metadata": {"resourceVersion": current.object.resource_version()},
                "operation": {"sync": sync, "initiatedBy": {"username": username}},
                "status": {"operationState": null},
            });
            match api
                .patch(&app.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) => {
                    let e = Error::kube(format!("requesting a sync of {app}"), e);
                    if !e.is_conflict() {
                        return Err(e);
                    }
                }
            }
        }
        Err(Error::InvalidSpec(format!(
            "Application {app}: kept changing, sync not requested"
        )))
    }

    /// Requests a refresh by setting the `argocd.argoproj.io/refresh` annotation.
    pub async fn request_refresh(&self, app: &AppRef, hard: bool) -> Result<()> {
        let patch = json!({"metadata": {"annotations": {
            reconcile::REFRESH_ANNOTATION: if hard { "hard" } else { "normal" }
        }}});
        crate::applications(self.client.clone(), &app.namespace)
            .patch(&app.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(drop)
            .map_err(|e| Error::kube(format!("requesting a refresh of {app}"), e))
    }

    /// Stops the simulator and waits for its task to end.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimulatorHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Do not wait in drop: abort, and git children die with their handles (kill_on_drop).
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The reconcile loop's own state.
struct Engine {
    client: Client,
    config: SimulatorConfig,
    git: GitReader,
    renderer: Renderer,
    /// Live state by Application uid (a re-created Application starts afresh).
    live: HashMap<String, LiveState>,
    /// Tips resolved in the current round, so apps on one branch cost one `ls-remote`.
    resolved: HashMap<(String, String), std::result::Result<Resolved, String>>,
    controls: Arc<Mutex<Controls>>,
}

/// What Git says about one Application, gathered before the (pure) decision.
struct Observed {
    spec: std::result::Result<AppSpec, String>,
    target: std::result::Result<Rendered, String>,
    op_target: Option<std::result::Result<Rendered, String>>,
}

impl Engine {
    async fn run(mut self, mut stop: oneshot::Receiver<()>, rounds: watch::Sender<u64>) {
        tracing::info!(namespaces = ?self.config.namespaces, "Argo CD simulator started");
        loop {
            let paused = {
                let mut c = lock(&self.controls);
                c.idle = c.paused;
                c.paused
            };
            if !paused {
                self.round().await;
                rounds.send_modify(|n| *n += 1);
            }
            tokio::select! {
                _ = &mut stop => break,
                () = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
        tracing::info!("Argo CD simulator stopped");
    }

    async fn round(&mut self) {
        self.resolved.clear();
        let apis: Vec<Api<DynamicObject>> = if self.config.namespaces.is_empty() {
            vec![Api::all_with(self.client.clone(), &crate::api_resource())]
        } else {
            self.config
                .namespaces
                .iter()
                .map(|ns| crate::applications(self.client.clone(), ns))
                .collect()
        };
        let mut seen = HashSet::new();
        let mut complete = true;
        for api in apis {
            let list = match api.list(&ListParams::default()).await {
                Ok(list) => list,
                Err(e) => {
                    complete = false;
                    self.record(Error::kube("listing Applications", e).to_string());
                    continue;
                }
            };
            for object in list {
                seen.insert(object.uid().unwrap_or_default());
                let app = AppRef::of(&object);
                if let Err(e) = self.reconcile(object).await {
                    tracing::warn!(%app, error = %e, "reconcile failed");
                    self.record(format!("{app}: {e}"));
                }
            }
        }
        if complete {
            self.live.retain(|uid, _| seen.contains(uid));
        }
    }

    #[tracing::instrument(skip_all, fields(app = %AppRef::of(&object)))]
    async fn reconcile(&mut self, mut object: DynamicObject) -> Result<()> {
        let app = AppRef::of(&object);
        let api = crate::applications(self.client.clone(), &app.namespace);
        let uid = object.uid().unwrap_or_default();
        for _ in 0..MAX_CONFLICTS {
            let json = serde_json::to_value(&object).map_err(|e| {
                Error::InvalidSpec(format!("Application {app} cannot be read as JSON: {e}"))
            })?;
            let observed = self.observe(&app, &json).await;
            let (hot, bad) = {
                let c = lock(&self.controls);
                (c.hot.get(&app).cloned(), c.bad.clone())
            };
            let live = self.live.get(&uid).cloned().unwrap_or_default();
            let facts = Facts {
                now: Instant::now().into_std(),
                timestamp: now_rfc3339(),
                spec: observed.spec.as_ref().map_err(Clone::clone),
                target: observed.target.as_ref().map_err(Clone::clone),
                op_target: observed.op_target,
                hot_session: hot.as_ref().map(|(generation, image)| HotSession {
                    generation: *generation,
                    image,
                }),
                bad_versions: &bad,
                health_delay: self.config.health_delay,
                show_old_images: self.config.show_old_images_while_progressing,
            };
            let decision = decide(&json, &live, &facts);
            let Some(mut patch) = decision.patch else {
                self.live.insert(uid, decision.live);
                return Ok(());
            };
            // Optimistic concurrency: the operator patches the same object (annotations,
            // `.operation`), so write only on top of the version decided on.
            patch["metadata"]["resourceVersion"] = json!(object.resource_version());
            match api
                .patch(&app.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {
                    tracing::debug!(%app, "status written");
                    self.live.insert(uid, decision.live);
                    return Ok(());
                }
                Err(kube::Error::Api(s)) if s.code == 409 => match api.get_opt(&app.name).await {
                    Ok(Some(fresh)) if fresh.uid().unwrap_or_default() == uid => object = fresh,
                    Ok(_) => return Ok(()),
                    Err(e) => return Err(Error::kube(format!("re-reading Application {app}"), e)),
                },
                Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
                Err(e) => {
                    return Err(Error::kube(
                        format!("writing the status of Application {app}"),
                        e,
                    ));
                }
            }
        }
        Err(Error::InvalidSpec(format!(
            "Application {app}: {MAX_CONFLICTS} conflicting writes in a row; trying again next round"
        )))
    }

    /// Reads Git for one Application: its spec, its source rendered at the tip, and the
    /// revision a running operation syncs to.
    async fn observe(&mut self, app: &AppRef, json: &Value) -> Observed {
        let spec = match AppSpec::parse(json.get("spec").unwrap_or(&Value::Null)) {
            Ok(spec) => spec,
            Err(e) => {
                let message = e.to_string();
                return Observed {
                    spec: Err(message.clone()),
                    target: Err(message),
                    op_target: None,
                };
            }
        };
        let source = &spec.source;
        let hard = reconcile::refresh_requested(json).as_deref() == Some("hard");
        if hard {
            self.renderer.forget(&source.repo_url);
        }
        let tip = self
            .resolve(&source.repo_url, &source.target_revision, hard)
            .await;
        if hard && let Ok(tip) = &tip {
            // A hard refresh bypasses caches; a failure here shows up in the render below.
            let _ = self.git.refetch(&source.repo_url, tip).await;
        }
        let target = match &tip {
            Ok(tip) => self
                .renderer
                .render(&mut self.git, source, tip)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.clone()),
        };
        if let Err(e) = &target {
            self.record(format!("{app}: {e}"));
        }
        let op_target = if operation_running(json) {
            let request = OperationRequest::parse(&json["operation"]);
            Some(match request.revision {
                None => target.clone(),
                Some(revision) => match self.resolve(&source.repo_url, &revision, false).await {
                    Ok(resolved) => self
                        .renderer
                        .render(&mut self.git, source, &resolved)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                },
            })
        } else {
            None
        };
        Observed {
            spec: Ok(spec),
            target,
            op_target,
        }
    }

    async fn resolve(
        &mut self,
        url: &str,
        revision: &str,
        fresh: bool,
    ) -> std::result::Result<Resolved, String> {
        let key = (url.to_owned(), revision.to_owned());
        if !fresh && let Some(hit) = self.resolved.get(&key) {
            return hit.clone();
        }
        let result = self
            .git
            .resolve(url, revision)
            .await
            .map_err(|e| e.to_string());
        self.resolved.insert(key, result.clone());
        result
    }

    /// Keeps a distinct error for the handle (tests show them when a wait times out).
    fn record(&self, message: String) {
        let mut c = lock(&self.controls);
        if c.errors.contains(&message) {
            return;
        }
        if c.errors.len() == MAX_ERRORS {
            c.errors.pop_front();
        }
        c.errors.push_back(message);
    }
}

/// Now, as Argo CD writes times: RFC 3339 in UTC with whole seconds.
fn now_rfc3339() -> String {
    let now = Timestamp::now();
    Timestamp::from_second(now.as_second()).map_or_else(|_| now.to_string(), |t| t.to_string())
}
