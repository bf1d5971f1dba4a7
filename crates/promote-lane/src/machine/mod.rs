//! The lane's state machine: idle (nothing in flight: hold, gate or start), in flight (a
//! commit on its way through Argo CD), and the records it opens and closes.

mod flight;
mod idle;

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use promote_api::conditions::reasons;
use promote_api::{Phase, PromotionRecord, PromotionResult, PromotionStatus, RecordKind};

use crate::observation::{Failure, Observation};
use crate::plan::{Note, ProbeRequest, Timing, WriteFrom, WriteRequest};
use crate::record::{finish, kind_word, push_history};

/// A finished record's release notes for its Event: who approved and why, and the source
/// commits it brought.
fn release_notes(record: &PromotionRecord) -> String {
    let mut out = String::new();
    if let Some(by) = &record.approved_by {
        out.push_str(&format!("; approved by {by}"));
        if let Some(note) = &record.note {
            out.push_str(&format!(": {note}"));
        }
    }
    if !record.changes.is_empty() {
        let since = record
            .previous_version
            .as_deref()
            .unwrap_or("the previous version");
        let more = if record.changes_complete == Some(false) {
            ", and earlier"
        } else {
            ""
        };
        let list: Vec<String> = record
            .changes
            .iter()
            .map(|c| {
                format!(
                    "{} {} ({})",
                    crate::record::short(&c.commit),
                    c.subject,
                    c.author
                )
            })
            .collect();
        out.push_str(&format!(
            "; changes since {since}: {}{more}",
            list.join("; ")
        ));
    }
    out
}

/// The side a record of `kind` writes: the target, or the source for a reset.
pub(crate) fn written_side(spec: &crate::spec::LaneSpec, kind: RecordKind) -> &crate::spec::Side {
    if kind == RecordKind::Reset {
        &spec.source
    } else {
        &spec.target
    }
}

/// A lane whose reads fail is looked at again no sooner than this.
const RETRY_FLOOR: Duration = Duration::from_secs(10);

/// Where the lane stands after this look, and the one write it wants, if any.
#[derive(Debug)]
pub(crate) struct Verdict {
    pub(crate) phase: Phase,
    pub(crate) message: String,
    pub(crate) write: Option<WriteRequest>,
    pub(crate) probe: Option<ProbeRequest>,
    pub(crate) requeue: Duration,
}

impl Verdict {
    fn wait(phase: Phase, message: String, requeue: Duration) -> Self {
        Self {
            phase,
            message,
            write: None,
            probe: None,
            requeue,
        }
    }
}

/// One decision in the making: the observation, and the status it is building.
pub(crate) struct Lane<'a> {
    pub(crate) obs: &'a Observation,
    pub(crate) timing: &'a Timing,
    pub(crate) now: Timestamp,
    pub(crate) status: &'a mut PromotionStatus,
    pub(crate) notes: Vec<Note>,
    pub(crate) stalled: Option<Failure>,
}

impl Lane<'_> {
    /// Decides: report a failure to read, carry an in-flight promotion on, or look at the
    /// idle lane.
    pub(crate) fn run(&mut self) -> Verdict {
        let obs = self.obs;
        let git = match &obs.git {
            Ok(git) => git,
            Err(f) => return self.failure(f, "cannot read the repository"),
        };
        let source = match &git.source {
            Ok(v) => v,
            Err(f) => return self.failure(f, "cannot read the source values file"),
        };
        let target = match &git.target {
            Ok(v) => v,
            Err(f) => return self.failure(f, "cannot read the target values file"),
        };
        if source.is_empty() || target.is_empty() {
            let f = Failure::permanent(
                reasons::VALUES_ERROR,
                "the release files gave no values for spec.fields",
            );
            return self.failure(&f, "nothing to promote");
        }
        if let Some(record) = self.status.last_promotion.clone()
            && record.result == PromotionResult::Running
        {
            return self.in_flight(record, git, source, target);
        }
        self.idle(source, target)
    }

    /// A failure to read: retried soon when it may pass, otherwise Stalled.
    fn failure(&mut self, f: &Failure, context: &str) -> Verdict {
        let message = format!("{context}: {}", f.message);
        if f.retryable {
            let phase = self.obs.previous.phase.unwrap_or(Phase::InSync);
            return Verdict::wait(
                phase,
                format!("{message} (retrying)"),
                self.timing.active.max(RETRY_FLOOR),
            );
        }
        self.stalled = Some(f.clone());
        Verdict::wait(Phase::Failed, message, self.timing.idle)
    }

    /// Opens a record and asks for the commit that writes `values` over `target`.
    fn start(
        &mut self,
        kind: RecordKind,
        values: Vec<String>,
        target: &[String],
        approved_by: Option<String>,
    ) -> Verdict {
        let spec = &self.obs.spec;
        let record = PromotionRecord {
            kind,
            version: values[0].clone(),
            previous_version: Some(target[0].clone()),
            values: values.clone(),
            previous_values: target.to_vec(),
            base_revision: self.obs.git.as_ref().ok().map(|g| g.revision.clone()),
            approved_by: approved_by.clone(),
            note: self.approval_note(kind, &values[0]),
            started_at: Some(Time(self.now)),
            result: PromotionResult::Running,
            ..PromotionRecord::default()
        };
        let message = format!(
            "{} {} -> {} in {}",
            kind_word(kind),
            target[0],
            values[0],
            written_side(spec, kind).environment
        );
        self.notes.push(Note {
            warning: false,
            reason: reasons::COMMITTED,
            message: format!("starting {message}"),
        });
        self.status.last_promotion = Some(record);
        let base = self.obs.git.as_ref().ok().map(|g| g.revision.clone());
        let request =
            self.write_request(kind, values, target, target[0].clone(), approved_by, base);
        Verdict {
            phase: Phase::Promoting,
            message,
            write: Some(request),
            probe: None,
            requeue: self.timing.active,
        }
    }

    /// Starts writing the pinned version: every field as the last promotion of that version
    /// wrote them when the history has it, otherwise the version alone.
    fn start_pin(&mut self, pin: &str, target: &[String]) -> Verdict {
        let recorded = std::iter::once(self.status.last_promotion.as_ref())
            .flatten()
            .chain(self.status.history.iter())
            .find(|r| r.version == pin && r.values.len() == target.len() && r.values[0] == pin)
            .map(|r| r.values.clone());
        let values = recorded.unwrap_or_else(|| {
            let mut values = target.to_vec();
            values[0] = pin.to_owned();
            values
        });
        self.start(
            RecordKind::Rollback,
            values,
            target,
            Some(format!("pin {pin}")),
        )
    }

    /// The commit for a record of `kind`: a promotion copies from the source file, a pin or
    /// rollback writes the given values.
    fn write_request(
        &self,
        kind: RecordKind,
        values: Vec<String>,
        expected: &[String],
        previous: String,
        approved_by: Option<String>,
        base_revision: Option<String>,
    ) -> WriteRequest {
        let spec = &self.obs.spec;
        let from = match kind {
            RecordKind::Promotion => WriteFrom::SourceFile {
                file: spec.source.values_file.clone(),
                environment: spec.source.environment.clone(),
            },
            RecordKind::Rollback if spec.pinned() == Some(values[0].as_str()) => {
                WriteFrom::Values { label: "pin" }
            }
            RecordKind::Rollback => WriteFrom::Values { label: "rollback" },
            RecordKind::Reset => WriteFrom::Values { label: "reset" },
        };
        let side = written_side(spec, kind);
        WriteRequest {
            kind,
            file: side.values_file.clone(),
            environment: side.environment.clone(),
            from,
            version: values[0].clone(),
            previous,
            note: self.approval_note(kind, &values[0]),
            log_file: spec.release_log.clone(),
            values,
            expected: expected.to_vec(),
            approved_by,
            base_revision,
        }
    }

    /// The note of the approval a promotion of `version` acts on.
    fn approval_note(&self, kind: RecordKind, version: &str) -> Option<String> {
        let a = self.obs.spec.approval.as_ref()?;
        (kind == RecordKind::Promotion && a.version == version)
            .then(|| a.note.clone())
            .flatten()
    }

    /// The reset request not acted on yet, if any.
    fn pending_reset(&self) -> Option<crate::spec::ResetSpec> {
        let reset = self.obs.spec.reset.as_ref()?;
        (self.status.last_reset_id.as_deref() != Some(reset.id.as_str())).then(|| reset.clone())
    }

    /// Ends the in-flight record with `result`, with an Event.
    fn close(
        &mut self,
        mut record: PromotionRecord,
        result: PromotionResult,
        message: String,
        warning: bool,
    ) -> Verdict {
        finish(&mut record, result, self.now, &message);
        push_history(&mut self.status.history, &record);
        let event = match result {
            PromotionResult::Succeeded => format!("{message}{}", release_notes(&record)),
            _ => message.clone(),
        };
        if result == PromotionResult::Succeeded && record.kind == RecordKind::Promotion {
            // Approved over its rejection and verified this time.
            self.status
                .rejected_versions
                .retain(|v| *v != record.version);
        }
        self.notes.push(Note {
            warning,
            reason: match result {
                PromotionResult::Succeeded if record.kind == RecordKind::Rollback => {
                    reasons::ROLLED_BACK
                }
                PromotionResult::Succeeded if record.kind == RecordKind::Reset => reasons::RESET,
                PromotionResult::Succeeded => reasons::PROMOTED,
                PromotionResult::Conflict => reasons::CONFLICT,
                _ => reasons::FAILED,
            },
            message: event,
        });
        let phase = match (result, record.kind) {
            (PromotionResult::Succeeded, RecordKind::Reset) => Phase::InSync,
            (PromotionResult::Succeeded, RecordKind::Rollback)
                if self.obs.spec.pinned().is_none() =>
            {
                Phase::RolledBack
            }
            (PromotionResult::Succeeded, _) => Phase::Promoted,
            _ => Phase::Failed,
        };
        self.status.last_promotion = Some(record);
        Verdict::wait(phase, message, self.timing.active)
    }
}
