//! Folding an effect's outcome into the plan: the status moves on, and the next effect is
//! chosen here (sync or refresh after a commit), never by the controller.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use promote_api::conditions::{self, reasons};
use promote_api::{Phase, ProbeAttempt, PromotionResult, RecordKind};

use crate::conditions::{
    promoting_condition, ready_condition, stalled_condition, verified_condition,
};
use crate::health::{describe_attempt, record_attempt};
use crate::observation::Failure;
use crate::plan::{Effect, EffectOutcome, Note, Plan, Requeue, SyncResult, WriteResult};
use crate::record::{finish, kind_word, push_history, short};

pub(crate) fn fold(plan: &mut Plan, outcome: EffectOutcome, now: Timestamp) {
    match outcome {
        EffectOutcome::Recorded(Ok(())) => {}
        EffectOutcome::Recorded(Err(f)) => {
            // Without the intent on record, a push could not be recognised after a crash:
            // do not push now. The next reconcile writes again (compare-and-swap).
            plan.effects.clear();
            let message = format!("cannot record the intent before writing: {}", f.message);
            set_phase(plan, Phase::Promoting, format!("{message} (retrying)"), now);
        }
        EffectOutcome::Written(result) => written(plan, &result, now),
        EffectOutcome::SyncRequested(SyncResult::Requested) => {}
        EffectOutcome::SyncRequested(SyncResult::Refused(f)) => {
            // An operation already runs (someone's sync, say); a refresh still makes Argo CD
            // compare with the new commit.
            if let Some(target) = &plan.target_app {
                plan.effects.push_front(Effect::Refresh {
                    application: target.application.clone(),
                });
            }
            annotate(plan, format!("no sync requested: {}", f.message), now);
        }
        EffectOutcome::SyncRequested(SyncResult::Failed(f)) => {
            plan.notes.push(Note {
                warning: true,
                reason: reasons::SYNC_REQUEST_FAILED,
                message: f.message.clone(),
            });
            annotate(plan, format!("the sync request failed: {}", f.message), now);
        }
        EffectOutcome::Probed(attempt) => probed(plan, attempt, now),
        EffectOutcome::Listed { changes, complete } => {
            if let Some(record) = plan.status.last_promotion.as_mut() {
                record.changes = changes;
                record.changes.truncate(promote_api::CHANGES_LIMIT);
                record.changes_complete = Some(complete);
            }
        }
        EffectOutcome::Refreshed(Ok(())) => {}
        EffectOutcome::Refreshed(Err(f)) => annotate(
            plan,
            format!(
                "the refresh request failed ({}); Argo CD sees the commit on its next poll",
                f.message
            ),
            now,
        ),
    }
}

/// Folds the outcome of a write into the record, the history and the phase.
fn written(plan: &mut Plan, result: &WriteResult, now: Timestamp) {
    let Some(mut record) = plan.status.last_promotion.clone() else {
        return;
    };
    let (phase, message) = match result {
        WriteResult::Committed { commit } => {
            record.commit = Some(commit.clone());
            record.committed_at = Some(Time(now));
            plan.notes.push(Note {
                warning: false,
                reason: reasons::COMMITTED,
                message: format!(
                    "{} {} -> {} committed as {}",
                    kind_word(record.kind),
                    record.previous_version.as_deref().unwrap_or("?"),
                    record.version,
                    short(commit)
                ),
            });
            if let (RecordKind::Promotion, Some(notes)) = (record.kind, &plan.notes_source) {
                plan.effects.push_back(Effect::ListChanges {
                    commit: commit.clone(),
                    file: notes.0.clone(),
                    field: notes.1.clone(),
                    since: record.previous_version.clone().unwrap_or_default(),
                });
            }
            if let Some(target) = &plan.target_app {
                let application = target.application.clone();
                plan.effects.push_front(if target.manual_sync {
                    Effect::RequestSync {
                        application,
                        revision: commit.clone(),
                    }
                } else {
                    Effect::Refresh { application }
                });
            }
            (
                Phase::Syncing,
                format!(
                    "{} committed {}; waiting for Argo CD to sync the target",
                    record.version,
                    short(commit)
                ),
            )
        }
        WriteResult::AlreadyThere => {
            let message = "the file already held the version";
            finish(&mut record, PromotionResult::Succeeded, now, message);
            (
                Phase::InSync,
                format!("the target already holds {}", record.version),
            )
        }
        WriteResult::Conflict { message } => {
            finish(&mut record, PromotionResult::Conflict, now, message);
            plan.notes.push(Note {
                warning: true,
                reason: reasons::CONFLICT,
                message: message.clone(),
            });
            (
                Phase::Failed,
                format!("conflict: {message}; the other edit was kept"),
            )
        }
        WriteResult::Undecided(f) => {
            record.message = Some(f.message.clone());
            stall(plan, f, now);
            (
                Phase::Promoting,
                format!(
                    "{} is in the target file, but this lane cannot tell whether its own commit put it there: {}; look at the branch history, then set spec.pin or approve again",
                    record.version, f.message
                ),
            )
        }
        WriteResult::Failed(f) if f.retryable => {
            record.message = Some(f.message.clone());
            (
                Phase::Promoting,
                format!("writing {} failed, retrying: {}", record.version, f.message),
            )
        }
        WriteResult::Failed(f) => {
            finish(&mut record, PromotionResult::Failed, now, &f.message);
            plan.notes.push(Note {
                warning: true,
                reason: f.reason,
                message: f.message.clone(),
            });
            stall(plan, f, now);
            (
                Phase::Failed,
                format!("writing {} failed: {}", record.version, f.message),
            )
        }
    };
    if record.result != PromotionResult::Running {
        push_history(&mut plan.status.history, &record);
    }
    let time = Time(now);
    let generation = plan.generation;
    plan.status.conditions = conditions::merge(
        &plan.status.conditions,
        vec![
            promoting_condition(Some(&record), generation, &time),
            verified_condition(Some(&record), generation, &time),
        ],
    );
    plan.status.last_promotion = Some(record);
    set_phase(plan, phase, message, now);
}

/// Folds one probe into the running record's evidence. Enough passing answers make the lane
/// look again at once, and that decision closes the promotion as verified.
fn probed(plan: &mut Plan, attempt: ProbeAttempt, now: Timestamp) {
    let (Some(check), Some(record)) = (&plan.health, plan.status.last_promotion.as_mut()) else {
        return;
    };
    if record.result != PromotionResult::Running {
        return;
    }
    let said = describe_attempt(&attempt);
    let evidence = record_attempt(record.verification.take(), check, attempt);
    let (passed, needed) = (evidence.consecutive, evidence.required);
    record.verification = Some(evidence);
    if passed >= needed {
        plan.requeue = Requeue::After(std::time::Duration::ZERO);
    }
    let message = format!(
        "{} {} is synced and healthy; probing {}: {passed} of {needed} consecutive passing answers, last {said}",
        kind_word(record.kind),
        record.version,
        check.url
    );
    set_phase(plan, Phase::Verifying, message, now);
}

/// A write that cannot succeed without a change: Stalled, and looked at again only slowly.
fn stall(plan: &mut Plan, f: &Failure, now: Timestamp) {
    plan.status.conditions = conditions::merge(
        &plan.status.conditions,
        vec![stalled_condition(Some(f), plan.generation, &Time(now))],
    );
    if let Requeue::After(d) = &mut plan.requeue {
        *d = (*d).max(plan.idle);
    }
}

/// Adds what happened after the commit to the phase's message.
fn annotate(plan: &mut Plan, what: String, now: Timestamp) {
    let phase = plan.status.phase.unwrap_or(Phase::Syncing);
    let message = match plan.status.message.as_deref() {
        Some(m) if !m.is_empty() => format!("{m}; {what}"),
        _ => what,
    };
    set_phase(plan, phase, message, now);
}

fn set_phase(plan: &mut Plan, phase: Phase, message: String, now: Timestamp) {
    plan.status.conditions = conditions::merge(
        &plan.status.conditions,
        vec![ready_condition(
            phase,
            &message,
            plan.generation,
            &Time(now),
        )],
    );
    plan.status.phase = Some(phase);
    plan.status.message = Some(message);
}
