//! The plan: what the decision asks the controller to do, in order, and what it reports at
//! the end. The controller carries out one [`Effect`] at a time and hands its
//! [`EffectOutcome`] back to [`Plan::fold`], which updates the status and may add the next
//! effect; no second decision is made and the controller chooses nothing itself.
//!
//! A new effect whose result feeds the lane (an HTTP probe, say) is a variant here, its
//! outcome a variant of [`EffectOutcome`], and its folding an arm in `fold.rs`.

use std::collections::VecDeque;
use std::time::Duration;

use jiff::Timestamp;
use promote_api::{ApplicationRef, ProbeAttempt, PromotionStatus, RecordKind, SourceChange};

use crate::health::HealthCheck;
use crate::observation::Failure;

/// How often to look again.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// While nothing is in flight.
    pub idle: Duration,
    /// While a promotion is in flight or a gate is about to open.
    pub active: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(60),
            active: Duration::from_secs(2),
        }
    }
}

/// A Kubernetes Event to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Warning rather than Normal.
    pub warning: bool,
    /// CamelCase reason.
    pub reason: &'static str,
    /// What happened.
    pub message: String,
}

/// Where the values of a commit come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteFrom {
    /// Copied from the source's release file, only while it still holds the values the
    /// decision was made on (compare-and-swap on the approved source).
    SourceFile {
        /// The source's release file.
        file: String,
        /// The source environment.
        environment: String,
    },
    /// Given values; `label` says in the commit message where they come from.
    Values {
        /// `pin` or `rollback`.
        label: &'static str,
    },
}

/// One commit the lane wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteRequest {
    /// Promotion or rollback (a pin is written as a rollback).
    pub kind: RecordKind,
    /// The file to write.
    pub file: String,
    /// The environment that file belongs to.
    pub environment: String,
    /// Where the values come from.
    pub from: WriteFrom,
    /// The values to write, in `spec.fields` order.
    pub values: Vec<String>,
    /// The values the decision was made on (compare-and-swap): if the file no longer holds
    /// them, nothing is written.
    pub expected: Vec<String>,
    /// The version written (the first value).
    pub version: String,
    /// The version it replaces.
    pub previous: String,
    /// Who approved it.
    pub approved_by: Option<String>,
    /// The approval's note, for the commit message and the deployment log.
    pub note: Option<String>,
    /// The deployment log file that gets an entry in the same commit.
    pub log_file: Option<String>,
    /// The branch tip the decision was first made on: a commit of ours that already wrote
    /// the values is looked for between it and the tip.
    pub base_revision: Option<String>,
}

/// One step for the controller to carry out.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Write this status and record these Events now, before an irreversible step: after a
    /// crash the next reconcile finds the intent and recognises a commit already pushed.
    RecordIntent {
        /// The status that says what is about to happen.
        status: Box<PromotionStatus>,
        /// Events to record with it.
        notes: Vec<Note>,
    },
    /// Write values into a release file as one commit.
    Write(WriteRequest),
    /// Ask Argo CD to sync the target Application to the commit (its auto-sync is off; the
    /// lane's approval is the gate).
    RequestSync {
        /// The target Application.
        application: ApplicationRef,
        /// The commit to sync to.
        revision: String,
    },
    /// Ask Argo CD to refresh the target Application, so it notices the commit now.
    Refresh {
        /// The target Application.
        application: ApplicationRef,
    },
    /// Probe the health URL once.
    Probe(ProbeRequest),
    /// Read the release notes of a promotion just committed: the commits that changed the
    /// source's version since the version it replaced.
    ListChanges {
        /// The promotion's commit.
        commit: String,
        /// The source's release file.
        file: String,
        /// The version field.
        field: String,
        /// The version the promotion replaced.
        since: String,
    },
}

/// One probe of `spec.verification.healthUrl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRequest {
    /// The URL.
    pub url: String,
    /// Text a passing answer's body must contain.
    pub expect_body: Option<String>,
    /// Extra certificate authorities: the labelled Secret's name and key, in the lane's
    /// namespace.
    pub ca_bundle: Option<(String, String)>,
    /// The longest the probe may take.
    pub timeout: Duration,
}

/// What a write ended in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteResult {
    /// A commit landed (or an earlier commit of ours was recognised).
    Committed {
        /// Its id.
        commit: String,
    },
    /// The file already held the values and no commit of ours wrote them.
    AlreadyThere,
    /// Someone else changed the file meanwhile; their edit was kept.
    Conflict {
        /// What changed, and by which commit.
        message: String,
    },
    /// The file holds the values, but whether a commit of ours wrote them cannot be told
    /// (the branch history since the decision's base is not readable as a line): the lane
    /// reports it and waits rather than taking the promotion as done.
    Undecided(Failure),
    /// The write failed.
    Failed(Failure),
}

/// What a sync request ended in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncResult {
    /// The sync operation was written.
    Requested,
    /// Refused before it was made, because an operation is already running.
    Refused(Failure),
    /// The API call failed.
    Failed(Failure),
}

/// What carrying out an [`Effect`] ended in, as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EffectOutcome {
    /// [`Effect::RecordIntent`].
    Recorded(Result<(), Failure>),
    /// [`Effect::Write`].
    Written(WriteResult),
    /// [`Effect::RequestSync`].
    SyncRequested(SyncResult),
    /// [`Effect::Refresh`].
    Refreshed(Result<(), Failure>),
    /// [`Effect::Probe`]: the attempt, passed or not (a failure to probe is a failed attempt).
    Probed(ProbeAttempt),
    /// [`Effect::ListChanges`]: the commits, and whether they reach the replaced version (a
    /// failure to read them is an empty, incomplete list: notes never hold a promotion up).
    Listed {
        /// Newest first.
        changes: Vec<SourceChange>,
        /// Whether the list reaches the replaced version.
        complete: bool,
    },
}

/// When to reconcile the lane again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeue {
    /// After this long (the controller may add jitter).
    After(Duration),
    /// Only when the Promotion changes: the spec cannot be acted on as it is.
    AwaitChange,
}

/// What a reconcile reports when the plan is done.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The status to write.
    pub status: PromotionStatus,
    /// Events to record.
    pub notes: Vec<Note>,
    /// When to look again.
    pub requeue: Requeue,
}

/// The target Application as the decision saw it, for the step after a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TargetApp {
    pub(crate) application: ApplicationRef,
    /// Auto-sync was seen off: a sync is requested rather than a refresh.
    pub(crate) manual_sync: bool,
}

/// The decision, as effects still to carry out and the status so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub(crate) status: PromotionStatus,
    pub(crate) notes: Vec<Note>,
    pub(crate) requeue: Requeue,
    pub(crate) effects: VecDeque<Effect>,
    pub(crate) generation: Option<i64>,
    pub(crate) idle: Duration,
    pub(crate) target_app: Option<TargetApp>,
    pub(crate) health: Option<HealthCheck>,
    /// The source's release file and version field, for a promotion's release notes.
    pub(crate) notes_source: Option<(String, String)>,
}

impl Plan {
    /// The next effect to carry out, or None when the plan is done.
    pub fn next_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    /// The effects still to carry out, in order.
    pub fn effects(&self) -> impl Iterator<Item = &Effect> {
        self.effects.iter()
    }

    /// The status as it stands.
    pub fn status(&self) -> &PromotionStatus {
        &self.status
    }

    /// Folds an effect's outcome in: the status moves on, and the next effect may change.
    pub fn fold(&mut self, outcome: EffectOutcome, now: Timestamp) {
        crate::fold::fold(self, outcome, now);
    }

    /// The report, once every effect is carried out (effects left over are dropped).
    pub fn finish(self) -> Report {
        Report {
            status: self.status,
            notes: self.notes,
            requeue: self.requeue,
        }
    }
}
