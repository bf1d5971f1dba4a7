//! The decision: a pure function from an [`Observation`] to a [`Plan`]. No I/O, no clock:
//! everything comes in through the observation.

use std::collections::VecDeque;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use promote_api::conditions::{self, reasons, types};
use promote_api::{ObservedApproval, Phase, PromotionStatus};

use crate::conditions::{
    drifted_condition, policy_condition, promoting_condition, ready_condition, stalled_condition,
    verified_condition,
};
use crate::machine::Lane;
use crate::observation::{AppView, Failure, Observation};
use crate::plan::{Effect, Note, Plan, Requeue, TargetApp, Timing};
use crate::spec::SpecError;
use crate::views::{drift, environment_status, policy};

/// What the lane should do next: the status that says so, and the effects to carry out.
pub fn decide(obs: &Observation, timing: &Timing) -> Plan {
    let now = Time(obs.now);
    let prev = &obs.previous;
    let mut status = PromotionStatus {
        observed_generation: obs.generation,
        last_promotion: prev.last_promotion.clone(),
        history: prev.history.clone(),
        rejected_versions: prev.rejected_versions.clone(),
        last_reset_id: prev.last_reset_id.clone(),
        approval: observed_approval(obs),
        ..PromotionStatus::default()
    };
    let git = obs.git.as_ref().ok();
    let source_values = git.and_then(|g| g.source.as_ref().ok());
    let target_values = git.and_then(|g| g.target.as_ref().ok());
    let spec = &obs.spec;
    status.source = Some(environment_status(
        obs,
        &spec.source.environment,
        git,
        source_values,
        &obs.source_app,
        prev.source.as_ref(),
        true,
    ));
    status.target = Some(environment_status(
        obs,
        &spec.target.environment,
        git,
        target_values,
        &obs.target_app,
        prev.target.as_ref(),
        false,
    ));
    status.drift = Some(drift(obs, source_values, target_values));
    status.policy = Some(policy(obs));
    status.parity = crate::parity::parity_view(obs);
    let window = spec.windows.at(obs.now);
    status.window = window.as_ref().map(|w| w.status());

    let mut lane = Lane {
        obs,
        timing,
        now: obs.now,
        status: &mut status,
        notes: Vec::new(),
        stalled: None,
    };
    let verdict = lane.run();
    let (mut notes, stalled) = (lane.notes, lane.stalled);

    status.phase = Some(verdict.phase);
    status.message = Some(verdict.message.clone());
    let generation = obs.generation;
    let mut fresh = vec![
        ready_condition(verdict.phase, &verdict.message, generation, &now),
        drifted_condition(status.drift.as_ref(), generation, &now),
        policy_condition(status.policy.as_ref(), generation, &now),
        promoting_condition(status.last_promotion.as_ref(), generation, &now),
        verified_condition(status.last_promotion.as_ref(), generation, &now),
        stalled_condition(stalled.as_ref(), generation, &now),
    ];
    fresh.extend(crate::parity::parity_condition(
        spec,
        status.parity.as_ref(),
        generation,
        &now,
    ));
    // A lane that stopped comparing configuration files drops its old ParityCompliant.
    let kept: Vec<_> = prev
        .conditions
        .iter()
        .filter(|c| spec.parity.is_some() || c.type_ != types::PARITY_COMPLIANT)
        .cloned()
        .collect();
    status.conditions = conditions::merge(&kept, fresh);

    let mut effects = VecDeque::new();
    if let Some(request) = verdict.write {
        effects.push_back(Effect::RecordIntent {
            status: Box::new(status.clone()),
            notes: std::mem::take(&mut notes),
        });
        effects.push_back(Effect::Write(request));
    }
    if let Some(probe) = verdict.probe {
        effects.push_back(Effect::Probe(probe));
    }
    Plan {
        status,
        notes,
        requeue: Requeue::After(until_window_changes(
            window.as_ref(),
            obs.now,
            verdict.requeue,
        )),
        effects,
        generation,
        idle: timing.idle,
        target_app: target_app(obs),
        health: obs.spec.verification.health.clone(),
        notes_source: obs
            .spec
            .fields
            .first()
            .map(|f| (obs.spec.source.values_file.clone(), f.clone())),
    }
}

/// The approval as first seen: unchanged, it keeps the time it was first seen; any change to
/// it is a new approval seen now. Seen for the first time with a promotion already on
/// record, it is dated no later than that promotion's start (the client's `approvedAt` when
/// earlier), so an approval that a promotion already used is not taken as a new one.
fn observed_approval(obs: &Observation) -> Option<ObservedApproval> {
    let a = obs.spec.approval.as_ref()?;
    if let Some(seen) = obs.previous.approval.as_ref()
        && seen.version == a.version
        && seen.approved_by == a.approved_by
        && seen.approved_at == a.approved_at
        && seen.note == a.note
        && seen.allow_rejected == a.allow_rejected
        && seen.override_window == a.override_window
    {
        return Some(seen.clone());
    }
    let mut observed_at = obs.now;
    if obs.previous.approval.is_none()
        && let Some(started) = obs
            .previous
            .last_promotion
            .as_ref()
            .and_then(|r| r.started_at.as_ref())
    {
        observed_at = observed_at.min(started.0);
        if let Some(at) = &a.approved_at {
            observed_at = observed_at.min(at.0);
        }
    }
    Some(ObservedApproval {
        version: a.version.clone(),
        approved_by: a.approved_by.clone(),
        approved_at: a.approved_at.clone(),
        note: a.note.clone(),
        allow_rejected: a.allow_rejected,
        override_window: a.override_window,
        observed_at: Time(observed_at),
    })
}

/// The target Application, for the sync or refresh after a commit: a sync is requested only
/// when auto-sync was seen off (an Application that could not be read gets a refresh).
fn target_app(obs: &Observation) -> Option<TargetApp> {
    let application = obs.spec.target.application.clone()?;
    let manual_sync = match &obs.target_app {
        AppView::Found(app) => !app.sync_policy.auto_sync,
        _ => false,
    };
    Some(TargetApp {
        application,
        manual_sync,
    })
}

/// The plan for a spec that cannot be acted on: no effects, Stalled with the field and the
/// fix, and nothing more until the Promotion changes. History and rejected versions are kept.
pub fn invalid_spec(
    error: &SpecError,
    previous: &PromotionStatus,
    generation: Option<i64>,
    now: Timestamp,
    timing: &Timing,
) -> Plan {
    let now = Time(now);
    let message = format!("the spec cannot be acted on: {error}");
    let failure = Failure::permanent(reasons::INVALID_SPEC, message.clone());
    let note = Note {
        warning: true,
        reason: reasons::INVALID_SPEC,
        message: message.clone(),
    };
    let fresh = vec![
        conditions::new(
            types::READY,
            false,
            reasons::INVALID_SPEC,
            &message,
            generation,
            &now,
        ),
        stalled_condition(Some(&failure), generation, &now),
    ];
    Plan {
        status: PromotionStatus {
            observed_generation: generation,
            phase: Some(Phase::Failed),
            message: Some(message),
            conditions: conditions::merge(&previous.conditions, fresh),
            last_promotion: previous.last_promotion.clone(),
            history: previous.history.clone(),
            rejected_versions: previous.rejected_versions.clone(),
            last_reset_id: previous.last_reset_id.clone(),
            approval: previous.approval.clone(),
            ..PromotionStatus::default()
        },
        notes: vec![note],
        requeue: Requeue::AwaitChange,
        effects: VecDeque::new(),
        generation,
        idle: timing.idle,
        target_app: None,
        health: None,
        notes_source: None,
    }
}

/// `wait`, or less when a release window opens or closes sooner: `status.window` must not
/// say open after it closed, even for a lane nothing else wakes.
fn until_window_changes(
    window: Option<&crate::windows::WindowState>,
    now: Timestamp,
    wait: std::time::Duration,
) -> std::time::Duration {
    let Some(change) = window.and_then(|w| w.next_open.as_ref().or(w.closes_at.as_ref())) else {
        return wait;
    };
    let until = now.duration_until(change.timestamp());
    let floor = std::time::Duration::from_secs(1);
    let until = if until.is_negative() {
        floor
    } else {
        until.unsigned_abs().max(floor)
    };
    wait.min(until)
}
