//! A lane's world for table tests: a spec, both release files, both Applications, the
//! previous status, the clock; and a plan seen as a table row.

#![allow(dead_code)]

use std::time::Duration;

use jiff::Timestamp;
use promote_api::{Phase, PromotionSpec, PromotionStatus, Trigger, conditions};
use promote_argocd::Application;
use promote_lane::{
    Admission, AppView, ConfigFiles, Effect, EffectOutcome, GitView, LaneSpec, Note, Observation,
    Plan, Requeue, Timing, Upstream, WriteRequest, WriteResult, decide,
};
use serde_json::json;

/// The one write a decision asks for, if any.
#[derive(Debug, PartialEq)]
pub enum Action {
    None,
    Write(Box<WriteRequest>),
}

/// A plan, seen as a table row: status, the write, requeue, Events (the intent's included).
pub struct Decision {
    pub status: PromotionStatus,
    pub action: Action,
    pub requeue: Duration,
    pub notes: Vec<Note>,
    pub plan: Plan,
}

impl Decision {
    pub fn of(plan: Plan) -> Self {
        let mut notes = Vec::new();
        let mut action = Action::None;
        for effect in plan.effects() {
            match effect {
                Effect::RecordIntent { notes: n, .. } => notes.extend(n.iter().cloned()),
                Effect::Write(w) => action = Action::Write(Box::new(w.clone())),
                _ => {}
            }
        }
        let report = plan.clone().finish();
        notes.extend(report.notes);
        let Requeue::After(requeue) = report.requeue else {
            panic!("a valid spec always requeues after a while")
        };
        Self {
            status: report.status,
            action,
            requeue,
            notes,
            plan,
        }
    }
}

/// Carries out the plan up to its write, which ends in `result`; the status and the Events
/// after it.
pub fn after_write(
    d: &Decision,
    result: WriteResult,
    now: Timestamp,
) -> (PromotionStatus, Vec<Note>) {
    let mut plan = d.plan.clone();
    loop {
        match plan.next_effect() {
            Some(Effect::RecordIntent { .. }) => plan.fold(EffectOutcome::Recorded(Ok(())), now),
            Some(Effect::Write(_)) => break,
            other => panic!("expected a write, got {other:?}"),
        }
    }
    plan.fold(EffectOutcome::Written(result), now);
    let report = plan.finish();
    (report.status, report.notes)
}

pub const T0: i64 = 1_790_000_000;
pub const TIP: &str = "1111111111111111111111111111111111111111";

pub fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).expect("valid")
}

pub fn spec() -> PromotionSpec {
    serde_json::from_value(json!({
        "repository": {"url": "https://git.example.com/web-core.git"},
        "source": {"environment": "dev", "valuesFile": "deploy/env/release-dev/app.yaml",
                   "application": {"name": "web-app-dev"}},
        "target": {"environment": "prod", "valuesFile": "deploy/env/release-prod/app.yaml",
                   "application": {"name": "web-app-prod"}},
    }))
    .expect("spec")
}

/// An Application as Argo CD reports it: synced at `revision`, `health`, running `image`.
pub fn app(
    name: &str,
    sync: &str,
    revision: &str,
    health: &str,
    self_heal: bool,
    image: &str,
) -> AppView {
    let v = json!({
        "metadata": {"name": name, "namespace": "argocd", "resourceVersion": "1"},
        "spec": {"syncPolicy": {"automated": {"selfHeal": self_heal, "prune": true}}},
        "status": {
            "sync": {"status": sync, "revision": revision},
            "health": {"status": health},
            "operationState": {"phase": "Succeeded", "finishedAt": "2026-09-21T00:00:00Z",
                               "syncResult": {"revision": revision}},
            "reconciledAt": "2026-09-21T00:00:05Z",
            "summary": {"images": [format!("registry.example.com/web/app:{image}")]}
        }
    });
    AppView::Found(Box::new(Application::from_json(&v).expect("app")))
}

pub struct World {
    pub spec: PromotionSpec,
    pub previous: PromotionStatus,
    pub now: i64,
    pub source: Vec<String>,
    pub target: Vec<String>,
    pub source_at_synced: Option<Vec<String>>,
    pub in_flight_synced: Option<bool>,
    pub target_changed_by: Option<String>,
    pub source_app: AppView,
    pub target_app: AppView,
    pub upstream: Upstream,
    pub config: ConfigFiles,
}

impl World {
    /// dev at `dev`, prod at `prod`, both Applications synced, healthy and at policy.
    pub fn new(dev: &str, prod: &str) -> Self {
        Self {
            spec: spec(),
            previous: PromotionStatus::default(),
            now: T0,
            source: vec![dev.to_owned()],
            target: vec![prod.to_owned()],
            source_at_synced: Some(vec![dev.to_owned()]),
            in_flight_synced: None,
            target_changed_by: None,
            source_app: app("web-app-dev", "Synced", TIP, "Healthy", false, dev),
            target_app: app("web-app-prod", "Synced", TIP, "Healthy", true, prod),
            upstream: Upstream::NotConfigured,
            config: ConfigFiles::NotRead,
        }
    }

    pub fn observation(&self) -> Observation {
        Observation {
            now: at(self.now),
            generation: Some(3),
            key: "web/app-prod".to_owned(),
            spec: LaneSpec::parse(&self.spec, &Admission::default()).expect("valid spec"),
            previous: self.previous.clone(),
            git: Ok(GitView {
                revision: TIP.to_owned(),
                source: Ok(self.source.clone()),
                target: Ok(self.target.clone()),
                source_at_synced: self.source_at_synced.clone(),
                target_changed_by: self.target_changed_by.clone(),
                in_flight_synced: self.in_flight_synced,
                config: self.config.clone(),
            }),
            source_app: self.source_app.clone(),
            target_app: self.target_app.clone(),
            upstream: self.upstream.clone(),
        }
    }

    pub fn decide(&self) -> Decision {
        Decision::of(decide(&self.observation(), &Timing::default()))
    }

    pub fn approve(mut self, version: &str) -> Self {
        self.spec.approval = Some(
            serde_json::from_value(json!({"version": version, "approvedBy": "oncall-lead"}))
                .expect("approval"),
        );
        self
    }

    pub fn auto(mut self) -> Self {
        self.spec.trigger = Trigger::Auto;
        self
    }

    /// Carries the decided status over as the previous status, `secs` later.
    pub fn next(mut self, decision: &Decision, secs: i64) -> Self {
        self.previous = decision.status.clone();
        self.now += secs;
        self
    }
}

pub fn phase(d: &Decision) -> Phase {
    d.status.phase.expect("phase")
}

pub fn condition<'a>(
    d: &'a Decision,
    type_: &str,
) -> &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
    conditions::find(&d.status.conditions, type_).expect("condition present")
}
