//! The decision Argo CD's application controller makes on each reconcile, as a pure function:
//! from the Application object, what Git says (already rendered) and what the simulator
//! remembers about the live cluster, to the merge patch to write and the new live state.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::merge;
use crate::render::Rendered;
use crate::spec::AppSpec;

/// The annotation that asks Argo CD for a refresh; Argo CD removes it when done.
pub const REFRESH_ANNOTATION: &str = "argocd.argoproj.io/refresh";

/// Operation message Argo CD shows on a successful sync.
const SYNC_SUCCEEDED: &str = "successfully synced (all tasks run)";

/// What runs in the (imaginary) cluster for one Application. Only the simulator knows it;
/// the Application's status is derived from it.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct LiveState {
    /// What the last successful sync applied.
    pub deployed: Option<Rendered>,
    /// The image a hot-reload session patched into the Deployment, while it lasts.
    pub hot: Option<String>,
    /// Generation of the last hot session applied, so a session is applied once.
    pub hot_generation: u64,
    /// Images that ran before the last change; old Pods show them until the rollout ends.
    pub previous_images: Vec<String>,
    /// When the live workload last changed (sync, hot session start or end).
    pub changed_at: Option<Instant>,
}

impl LiveState {
    /// The images running now (the newest Pods).
    pub(crate) fn live_images(&self) -> Vec<String> {
        match (&self.hot, &self.deployed) {
            (Some(hot), _) => vec![hot.clone()],
            (None, Some(d)) => d.images.clone(),
            (None, None) => Vec::new(),
        }
    }

    fn change(&mut self, now: Instant, apply: impl FnOnce(&mut Self)) {
        self.previous_images = self.live_images();
        apply(self);
        self.changed_at = Some(now);
    }
}

/// A hot session requested by the test.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HotSession<'a> {
    pub generation: u64,
    pub image: &'a str,
}

/// Everything the decision needs besides the object and the live state.
#[derive(Debug)]
pub(crate) struct Facts<'a> {
    pub now: Instant,
    /// `now` as Argo CD writes times: RFC 3339, whole seconds, UTC.
    pub timestamp: String,
    pub spec: Result<&'a AppSpec, String>,
    /// The source rendered at the target revision's tip.
    pub target: Result<&'a Rendered, String>,
    /// The revision a running operation syncs to, rendered; only set while one runs.
    pub op_target: Option<Result<Rendered, String>>,
    pub hot_session: Option<HotSession<'a>>,
    pub bad_versions: &'a HashSet<String>,
    pub health_delay: Duration,
    pub show_old_images: bool,
}

/// The outcome of one reconcile.
#[derive(Debug)]
pub(crate) struct Decision {
    /// The merge patch to write (without resourceVersion), or `None` when nothing changed.
    pub patch: Option<Value>,
    pub live: LiveState,
}

/// Whether the object's `.operation` is the one `status.operationState` reports as running
/// (started by an earlier reconcile, to be finished by this one).
pub(crate) fn operation_running(object: &Value) -> bool {
    let Some(op) = object.get("operation").filter(|o| !o.is_null()) else {
        return false;
    };
    let state = object.pointer("/status/operationState");
    state.and_then(|s| s.get("phase")).and_then(Value::as_str) == Some("Running")
        && state.and_then(|s| s.get("operation")) == Some(op)
}

/// Whether `refresh` is requested through the annotation.
pub(crate) fn refresh_requested(object: &Value) -> Option<String> {
    object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(REFRESH_ANNOTATION))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// One reconcile of one Application. `object` is the whole Application as JSON.
pub(crate) fn decide(object: &Value, live: &LiveState, facts: &Facts<'_>) -> Decision {
    let existing = object.get("status").cloned().unwrap_or(Value::Null);
    let mut live = live.clone();
    match facts.hot_session {
        Some(session) if session.generation > live.hot_generation => {
            live.change(facts.now, |l| {
                l.hot_generation = session.generation;
                l.hot = Some(session.image.to_owned());
            });
        }
        // The session ended (Okteto down): the Deployment goes back to what Argo CD applied.
        None if live.hot.is_some() => live.change(facts.now, |l| l.hot = None),
        _ => {}
    }

    let mut status = Map::new();
    let mut operation_write = None;
    let mut conditions = Vec::new();
    let keep = |key: &str, status: &mut Map<String, Value>| {
        if let Some(v) = existing.get(key).filter(|v| !v.is_null()) {
            status.insert(key.to_owned(), v.clone());
        }
    };
    keep("history", &mut status);
    keep("operationState", &mut status);
    keep("sync", &mut status);

    match &facts.spec {
        Err(message) => {
            conditions.push(condition(
                &existing,
                "InvalidSpecError",
                message,
                &facts.timestamp,
            ));
            status.insert("sync".into(), json!({"status": "Unknown"}));
        }
        Ok(spec) => {
            operation_write = operate(object, spec, &mut live, facts, &mut status);
            let (sync, condition) = sync_status(spec, &live, &existing, facts);
            status.insert("sync".into(), sync);
            conditions.extend(condition);
            status.insert("sourceType".into(), json!("Helm"));
        }
    }

    let (health, images) = health(&live, facts);
    status.insert("health".into(), health);
    let mut summary = Map::new();
    if !images.is_empty() {
        summary.insert("images".into(), json!(images));
    }
    status.insert("summary".into(), Value::Object(summary));
    if !conditions.is_empty() {
        status.insert("conditions".into(), Value::Array(conditions));
    }
    if let Some(at) = existing.get("reconciledAt").filter(|v| !v.is_null()) {
        status.insert("reconciledAt".into(), at.clone());
    }

    let refresh = refresh_requested(object).is_some();
    let mut status = Value::Object(status);
    let changed = merge::diff(&existing, &status).is_some();
    if !changed && !refresh && operation_write.is_none() {
        return Decision { patch: None, live };
    }
    status["reconciledAt"] = json!(facts.timestamp);
    let mut patch = Map::new();
    if let Some(d) = merge::diff(&existing, &status) {
        patch.insert("status".into(), d);
    }
    if let Some(op) = operation_write {
        patch.insert("operation".into(), op);
    }
    if refresh {
        patch.insert(
            "metadata".into(),
            json!({"annotations": {REFRESH_ANNOTATION: null}}),
        );
    }
    Decision {
        patch: Some(Value::Object(patch)),
        live,
    }
}

/// Starts, finishes or (for auto-sync) requests an operation. Returns the new value for
/// `.operation` (`Value::Null` removes it) when it changes.
fn operate(
    object: &Value,
    spec: &AppSpec,
    live: &mut LiveState,
    facts: &Facts<'_>,
    status: &mut Map<String, Value>,
) -> Option<Value> {
    let operation = object.get("operation").filter(|o| !o.is_null());
    if let Some(op) = operation {
        if !operation_running(object) {
            status.insert("operationState".into(), running(op, &facts.timestamp));
            return None;
        }
        let started = object
            .pointer("/status/operationState/startedAt")
            .cloned()
            .unwrap_or_else(|| json!(facts.timestamp));
        let state = match &facts.op_target {
            Some(Ok(rendered)) => {
                live.change(facts.now, |l| {
                    l.deployed = Some(rendered.clone());
                    l.hot = None;
                });
                push_history(status, spec, rendered, op, &started, &facts.timestamp);
                let mut result = Map::new();
                put_revision(&mut result, spec, &rendered.revision);
                put_source(&mut result, spec);
                json!({
                    "operation": op,
                    "phase": "Succeeded",
                    "message": SYNC_SUCCEEDED,
                    "startedAt": started,
                    "finishedAt": facts.timestamp,
                    "syncResult": result,
                })
            }
            Some(Err(message)) => json!({
                "operation": op,
                "phase": "Error",
                "message": format!("ComparisonError: {message}"),
                "startedAt": started,
                "finishedAt": facts.timestamp,
            }),
            None => json!({
                "operation": op,
                "phase": "Error",
                "message": "the revision to sync to could not be read",
                "startedAt": started,
                "finishedAt": facts.timestamp,
            }),
        };
        status.insert("operationState".into(), state);
        return Some(Value::Null);
    }

    let Ok(target) = facts.target else {
        return None;
    };
    let out_of_sync = !in_sync(live, target);
    let new_revision =
        live.deployed.as_ref().map(|d| d.revision.as_str()) != Some(target.revision.as_str());
    // Argo CD does not retry an automated sync that already failed on this revision.
    let failed_before = status.get("operationState").is_some_and(|s| {
        matches!(
            s.get("phase").and_then(Value::as_str),
            Some("Failed" | "Error")
        ) && s.pointer("/operation/initiatedBy/automated") == Some(&json!(true))
            && operation_revision(s.get("operation")) == Some(target.revision.as_str())
    });
    if spec.auto_sync && out_of_sync && (new_revision || spec.self_heal) && !failed_before {
        let mut sync = Map::new();
        put_revision(&mut sync, spec, &target.revision);
        let op = json!({
            "initiatedBy": {"automated": true},
            "retry": {"limit": 5},
            "sync": sync,
        });
        status.insert("operationState".into(), running(&op, &facts.timestamp));
        return Some(op);
    }
    None
}

fn operation_revision(op: Option<&Value>) -> Option<&str> {
    let sync = op?.get("sync")?;
    sync.get("revision")
        .or_else(|| sync.pointer("/revisions/0"))
        .and_then(Value::as_str)
}

fn running(op: &Value, timestamp: &str) -> Value {
    json!({
        "operation": op,
        "phase": "Running",
        "message": "waiting for completion of hook and resources to be synced",
        "startedAt": timestamp,
    })
}

fn in_sync(live: &LiveState, target: &Rendered) -> bool {
    live.hot.is_none()
        && live
            .deployed
            .as_ref()
            .is_some_and(|d| d.fingerprint == target.fingerprint)
}

/// `status.sync`, and a ComparisonError condition when Git could not be read.
fn sync_status(
    spec: &AppSpec,
    live: &LiveState,
    existing: &Value,
    facts: &Facts<'_>,
) -> (Value, Option<Value>) {
    let mut sync = Map::new();
    let mut compared = Map::new();
    put_source(&mut compared, spec);
    compared.insert("destination".into(), spec.destination.clone());
    sync.insert("comparedTo".into(), Value::Object(compared));
    match &facts.target {
        Ok(target) => {
            let state = if in_sync(live, target) {
                "Synced"
            } else {
                "OutOfSync"
            };
            sync.insert("status".into(), json!(state));
            put_revision(&mut sync, spec, &target.revision);
            (Value::Object(sync), None)
        }
        Err(message) => {
            // Argo CD keeps the last compared revision when it cannot compare.
            for key in ["revision", "revisions"] {
                if let Some(v) = existing
                    .pointer(&format!("/sync/{key}"))
                    .filter(|v| !v.is_null())
                {
                    sync.insert(key.into(), v.clone());
                }
            }
            sync.insert("status".into(), json!("Unknown"));
            let c = condition(existing, "ComparisonError", message, &facts.timestamp);
            (Value::Object(sync), Some(c))
        }
    }
}

/// `status.health` and the images Argo CD lists in `summary.images`.
fn health(live: &LiveState, facts: &Facts<'_>) -> (Value, Vec<String>) {
    let current = live.live_images();
    if live.deployed.is_none() && live.hot.is_none() {
        return (json!({"status": "Missing"}), current);
    }
    let progressing = live
        .changed_at
        .is_some_and(|at| facts.now.saturating_duration_since(at) < facts.health_delay);
    if progressing {
        let mut images = current;
        if facts.show_old_images {
            images.extend(live.previous_images.iter().cloned());
        }
        images.sort();
        images.dedup();
        let message = "Waiting for rollout to finish: old replicas are pending termination";
        return (json!({"status": "Progressing", "message": message}), images);
    }
    let bad = current
        .iter()
        .find(|image| is_bad(image, facts.bad_versions));
    let health = match bad {
        Some(image) => json!({
            "status": "Degraded",
            "message": format!("Deployment has not progressed: pods running {image} are failing (simulated)"),
        }),
        None => json!({"status": "Healthy"}),
    };
    let mut images = current;
    images.sort();
    images.dedup();
    (health, images)
}

/// A version marked bad matches an image's tag or digest, or the whole reference.
fn is_bad(image: &str, bad: &HashSet<String>) -> bool {
    if bad.contains(image) {
        return true;
    }
    let version = match image.rsplit_once('@') {
        Some((_, digest)) => digest,
        None => image
            .rsplit_once(':')
            .filter(|(_, tag)| !tag.contains('/'))
            .map_or("", |(_, tag)| tag),
    };
    !version.is_empty() && bad.contains(version)
}

fn push_history(
    status: &mut Map<String, Value>,
    spec: &AppSpec,
    rendered: &Rendered,
    op: &Value,
    started: &Value,
    timestamp: &str,
) {
    let mut history = status
        .get("history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let id = history
        .iter()
        .filter_map(|h| h.get("id").and_then(Value::as_i64))
        .max()
        .unwrap_or(-1)
        + 1;
    let mut entry = Map::new();
    entry.insert("id".into(), json!(id));
    put_revision(&mut entry, spec, &rendered.revision);
    put_source(&mut entry, spec);
    entry.insert("deployStartedAt".into(), started.clone());
    entry.insert("deployedAt".into(), json!(timestamp));
    if let Some(by) = op.get("initiatedBy") {
        entry.insert("initiatedBy".into(), by.clone());
    }
    history.push(Value::Object(entry));
    let excess = history.len().saturating_sub(spec.history_limit.max(1));
    history.drain(..excess);
    status.insert("history".into(), Value::Array(history));
}

/// `revision`, or `revisions` for a multi-source app, as Argo CD writes them.
fn put_revision(map: &mut Map<String, Value>, spec: &AppSpec, revision: &str) {
    if spec.multi_source {
        map.insert("revisions".into(), json!([revision]));
    } else {
        map.insert("revision".into(), json!(revision));
    }
}

fn put_source(map: &mut Map<String, Value>, spec: &AppSpec) {
    let key = if spec.multi_source {
        "sources"
    } else {
        "source"
    };
    map.insert(key.into(), spec.source_json.clone());
}

/// A status condition; keeps the old `lastTransitionTime` when the same condition is there.
fn condition(existing: &Value, kind: &str, message: &str, timestamp: &str) -> Value {
    let previous = existing
        .get("conditions")
        .and_then(Value::as_array)
        .and_then(|list| {
            list.iter().find(|c| {
                c.get("type").and_then(Value::as_str) == Some(kind)
                    && c.get("message").and_then(Value::as_str) == Some(message)
            })
        });
    let at = previous
        .and_then(|c| c.get("lastTransitionTime"))
        .cloned()
        .unwrap_or_else(|| json!(timestamp));
    json!({"type": kind, "message": message, "lastTransitionTime": at})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::tests::apply;

    const SHA1: &str = "1111111111111111111111111111111111111111";
    const SHA2: &str = "2222222222222222222222222222222222222222";

    fn rendered(sha: &str, tag: &str) -> Rendered {
        Rendered {
            revision: sha.into(),
            fingerprint: format!("values={tag}"),
            images: vec![format!("registry.example.com/web/app:{tag}")],
        }
    }

    fn app(policy: Value) -> Value {
        json!({
            "metadata": {"name": "web-dev", "namespace": "argocd"},
            "spec": {
                "source": {"repoURL": "file:///r.git", "targetRevision": "main", "path": "chart"},
                "destination": {"namespace": "web"},
                "syncPolicy": policy,
            },
        })
    }

    struct World {
        object: Value,
        live: LiveState,
        bad: HashSet<String>,
        start: Instant,
        clock: Duration,
    }

    impl World {
        fn new(policy: Value) -> Self {
            Self {
                object: app(policy),
                live: LiveState::default(),
                bad: HashSet::new(),
                start: Instant::now(),
                clock: Duration::ZERO,
            }
        }

        /// One reconcile against Git at `target`, applying the patch as the API server would.
        fn step(
            &mut self,
            target: &Rendered,
            op_target: Option<Rendered>,
            hot: Option<(u64, &str)>,
        ) -> Option<Value> {
            self.clock += Duration::from_millis(100);
            let spec = AppSpec::parse(&self.object["spec"]).expect("spec");
            let running = operation_running(&self.object);
            let facts = Facts {
                now: self.start + self.clock,
                timestamp: format!("2026-01-01T00:00:{:02}Z", self.clock.as_secs()),
                spec: Ok(&spec),
                target: Ok(target),
                op_target: running.then(|| Ok(op_target.unwrap_or_else(|| target.clone()))),
                hot_session: hot.map(|(generation, image)| HotSession { generation, image }),
                bad_versions: &self.bad,
                health_delay: Duration::from_millis(250),
                show_old_images: true,
            };
            let decision = decide(&self.object, &self.live, &facts);
            self.live = decision.live;
            if let Some(patch) = &decision.patch {
                apply(&mut self.object, patch);
            }
            decision.patch
        }

        fn settle(&mut self, target: &Rendered) {
            for _ in 0..6 {
                self.step(target, None, None);
            }
        }

        fn status(&self, pointer: &str) -> Value {
            self.object["status"]
                .pointer(pointer)
                .cloned()
                .unwrap_or(Value::Null)
        }
    }

    #[test]
    fn auto_sync_requests_runs_and_finishes_an_operation() {
        let mut w = World::new(json!({"automated": {"prune": true}}));
        let v1 = rendered(SHA1, "sha-1");
        let patch = w.step(&v1, None, None).expect("writes");
        assert_eq!(patch["operation"]["initiatedBy"]["automated"], true);
        assert_eq!(w.status("/operationState/phase"), "Running");
        assert_eq!(w.status("/sync/status"), "OutOfSync");
        assert_eq!(w.status("/health/status"), "Missing");

        w.step(&v1, None, None);
        assert!(w.object.get("operation").is_none(), "operation removed");
        assert_eq!(w.status("/operationState/phase"), "Succeeded");
        assert_eq!(w.status("/operationState/syncResult/revision"), SHA1);
        assert_eq!(w.status("/sync/status"), "Synced");
        assert_eq!(w.status("/sync/revision"), SHA1);
        assert_eq!(w.status("/health/status"), "Progressing");
        assert_eq!(w.status("/history/0/revision"), SHA1);

        w.settle(&v1);
        assert_eq!(w.status("/health/status"), "Healthy");
        assert_eq!(
            w.status("/summary/images"),
            json!(["registry.example.com/web/app:sha-1"])
        );
        assert_eq!(
            w.step(&v1, None, None),
            None,
            "nothing to write once settled"
        );
    }

    #[test]
    fn old_and_new_images_show_while_progressing() {
        let mut w = World::new(json!({"automated": {}}));
        let v1 = rendered(SHA1, "sha-1");
        let v2 = rendered(SHA2, "sha-2");
        w.settle(&v1);
        w.step(&v2, None, None);
        w.step(&v2, None, None);
        assert_eq!(w.status("/health/status"), "Progressing");
        assert_eq!(
            w.status("/summary/images"),
            json!([
                "registry.example.com/web/app:sha-1",
                "registry.example.com/web/app:sha-2"
            ])
        );
        w.settle(&v2);
        assert_eq!(
            w.status("/summary/images"),
            json!(["registry.example.com/web/app:sha-2"])
        );
        assert_eq!(w.status("/history").as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn manual_apps_wait_for_an_operation() {
        let mut w = World::new(json!({"automated": {"enabled": false, "selfHeal": true}}));
        let v1 = rendered(SHA1, "sha-1");
        w.settle(&v1);
        assert_eq!(w.status("/sync/status"), "OutOfSync");
        assert_eq!(w.status("/sync/revision"), SHA1);
        assert!(w.object.get("operation").is_none());

        w.object["operation"] =
            json!({"sync": {"revision": SHA1}, "initiatedBy": {"username": "promote"}});
        w.step(&v1, None, None);
        assert_eq!(w.status("/operationState/phase"), "Running");
        assert!(w.object.get("operation").is_some(), "kept while running");
        w.step(&v1, None, None);
        assert!(w.object.get("operation").is_none());
        assert_eq!(w.status("/operationState/phase"), "Succeeded");
        assert_eq!(
            w.status("/operationState/operation/initiatedBy/username"),
            "promote"
        );
        assert_eq!(w.status("/sync/status"), "Synced");
    }

    #[test]
    fn a_commit_that_changes_nothing_rendered_stays_synced() {
        let mut w = World::new(json!({"automated": {}}));
        w.settle(&rendered(SHA1, "sha-1"));
        let same = rendered(SHA2, "sha-1");
        w.settle(&same);
        assert_eq!(w.status("/sync/status"), "Synced");
        assert_eq!(w.status("/sync/revision"), SHA2);
        assert_eq!(w.status("/history").as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn hot_sessions_drift_and_self_heal_reverts_them() {
        let v1 = rendered(SHA1, "sha-1");
        let hot = "registry.example.com/web/app:okteto";

        let mut w = World::new(json!({"automated": {"selfHeal": false}}));
        w.settle(&v1);
        w.step(&v1, None, Some((1, hot)));
        for _ in 0..5 {
            w.step(&v1, None, Some((1, hot)));
        }
        assert_eq!(w.status("/sync/status"), "OutOfSync");
        assert_eq!(w.status("/summary/images"), json!([hot]));
        w.step(&v1, None, None);
        assert_eq!(w.status("/sync/status"), "Synced", "session ended");

        let mut w = World::new(json!({"automated": {"selfHeal": true}}));
        w.settle(&v1);
        let patch = w.step(&v1, None, Some((1, hot))).expect("writes");
        assert_eq!(patch["status"]["sync"]["status"], "OutOfSync");
        assert_eq!(patch["operation"]["initiatedBy"]["automated"], true);
        for _ in 0..6 {
            w.step(&v1, None, Some((1, hot)));
        }
        assert_eq!(w.status("/sync/status"), "Synced");
        assert_eq!(
            w.status("/summary/images"),
            json!(["registry.example.com/web/app:sha-1"])
        );
    }

    #[test]
    fn bad_versions_degrade_after_the_rollout() {
        let mut w = World::new(json!({"automated": {}}));
        w.bad.insert("sha-2".into());
        w.settle(&rendered(SHA1, "sha-1"));
        assert_eq!(w.status("/health/status"), "Healthy");
        w.settle(&rendered(SHA2, "sha-2"));
        assert_eq!(w.status("/health/status"), "Degraded");
        assert_eq!(w.status("/sync/status"), "Synced");
    }

    #[test]
    fn a_refresh_bumps_reconciled_at_and_removes_the_annotation() {
        let mut w = World::new(json!({}));
        let v1 = rendered(SHA1, "sha-1");
        w.settle(&v1);
        let before = w.status("/reconciledAt");
        w.object["metadata"]["annotations"] = json!({REFRESH_ANNOTATION: "hard", "keep": "me"});
        w.clock += Duration::from_secs(2);
        let patch = w.step(&v1, None, None).expect("writes");
        assert_eq!(
            patch["metadata"]["annotations"][REFRESH_ANNOTATION],
            Value::Null
        );
        assert_eq!(w.object["metadata"]["annotations"], json!({"keep": "me"}));
        assert_ne!(w.status("/reconciledAt"), before);
    }

    #[test]
    fn git_errors_make_sync_unknown_without_rewriting_every_round() {
        let w = World::new(json!({"automated": {}}));
        let spec = AppSpec::parse(&w.object["spec"]).expect("spec");
        let facts = |timestamp: &str| Facts {
            now: Instant::now(),
            timestamp: timestamp.into(),
            spec: Ok(&spec),
            target: Err("values file missing".into()),
            op_target: None,
            hot_session: None,
            bad_versions: &w.bad,
            health_delay: Duration::ZERO,
            show_old_images: true,
        };
        let d = decide(&w.object, &w.live, &facts("2026-01-01T00:00:00Z"));
        let patch = d.patch.expect("writes");
        assert_eq!(patch["status"]["sync"]["status"], "Unknown");
        assert_eq!(patch["status"]["conditions"][0]["type"], "ComparisonError");
        let mut object = w.object.clone();
        apply(&mut object, &patch);
        let again = decide(&object, &d.live, &facts("2026-01-01T00:00:05Z"));
        assert_eq!(again.patch, None);
    }

    #[test]
    fn multi_source_apps_report_revisions() {
        let mut w = World::new(json!({"automated": {}}));
        let source = w.object["spec"]["source"].take();
        w.object["spec"]["sources"] = json!([source]);
        w.object["spec"]
            .as_object_mut()
            .expect("spec")
            .remove("source");
        w.settle(&rendered(SHA1, "sha-1"));
        assert_eq!(w.status("/sync/revisions"), json!([SHA1]));
        assert_eq!(w.status("/sync/revision"), Value::Null);
        assert_eq!(
            w.status("/operationState/syncResult/revisions"),
            json!([SHA1])
        );
    }

    #[test]
    fn history_is_bounded() {
        let mut w = World::new(json!({"automated": {}}));
        w.object["spec"]["revisionHistoryLimit"] = json!(2);
        for (i, sha) in ["a", "b", "c", "d"].iter().enumerate() {
            w.settle(&rendered(&sha.repeat(40), &format!("v{i}")));
        }
        let ids: Vec<Value> = w
            .status("/history")
            .as_array()
            .expect("history")
            .iter()
            .map(|h| h["id"].clone())
            .collect();
        assert_eq!(ids, [json!(2), json!(3)]);
    }

    #[test]
    fn bad_matches_tags_digests_and_whole_references() {
        let bad: HashSet<String> = [
            "sha-2".to_owned(),
            "sha256:abc".to_owned(),
            "r:5000/x:1".to_owned(),
        ]
        .into();
        assert!(is_bad("r/app:sha-2", &bad));
        assert!(is_bad("r/app@sha256:abc", &bad));
        assert!(is_bad("r:5000/x:1", &bad));
        assert!(!is_bad("r:5000/x", &bad));
        assert!(!is_bad("r/app:sha-20", &bad));
    }
}
