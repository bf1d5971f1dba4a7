//! The decision: a pure function from an [`Observation`] to the status to report and the one
//! action to take. No I/O, no clock: everything comes in through the observation.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use promote_api::conditions::{self, reasons, types};
use promote_api::{
    Drift, EnvironmentDrift, EnvironmentStatus, FieldValue, HISTORY_LIMIT, Phase, Policy,
    PolicyCheck, PromotionRecord, PromotionResult, PromotionStatus, RecordKind, ReleaseDrift,
    Trigger,
};
use promote_argocd::{HealthStatus, SyncStatus};

use crate::duration::parse_duration;
use crate::model::{Action, AppView, Decision, Failure, GitView, Note, Observation, WriteRequest};

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

/// Most versions remembered as rejected.
const REJECTED_LIMIT: usize = 50;

/// What the lane should do next, and the status that says so.
pub fn decide(obs: &Observation, timing: &Timing) -> Decision {
    let now = Time(obs.now);
    let prev = &obs.previous;
    let mut status = PromotionStatus {
        observed_generation: obs.generation,
        last_promotion: prev.last_promotion.clone(),
        history: prev.history.clone(),
        rejected_versions: prev.rejected_versions.clone(),
        ..PromotionStatus::default()
    };
    let git = obs.git.as_ref().ok();
    let source_values = git.and_then(|g| g.source.as_ref().ok());
    let target_values = git.and_then(|g| g.target.as_ref().ok());

    status.source = Some(environment_status(
        obs,
        &obs.spec.source.environment,
        git,
        source_values,
        &obs.source_app,
        prev.source.as_ref(),
        true,
    ));
    status.target = Some(environment_status(
        obs,
        &obs.spec.target.environment,
        git,
        target_values,
        &obs.target_app,
        prev.target.as_ref(),
        false,
    ));
    status.drift = Some(drift(obs, source_values, target_values));
    status.policy = Some(policy(obs));

    let mut lane = Lane {
        obs,
        timing,
        now: obs.now,
        status: &mut status,
        notes: Vec::new(),
        stalled: None,
    };
    let (phase, message, action, requeue) = lane.run();
    let notes = lane.notes;
    let stalled = lane.stalled;

    status.phase = Some(phase);
    status.message = Some(message.clone());
    let generation = obs.generation;
    let fresh = vec![
        ready_condition(phase, &message, generation, &now),
        drifted_condition(status.drift.as_ref(), generation, &now),
        policy_condition(status.policy.as_ref(), generation, &now),
        promoting_condition(status.last_promotion.as_ref(), generation, &now),
        verified_condition(status.last_promotion.as_ref(), generation, &now),
        match &stalled {
            Some(f) => {
                conditions::new(types::STALLED, true, f.reason, &f.message, generation, &now)
            }
            None => conditions::new(types::STALLED, false, reasons::IDLE, "", generation, &now),
        },
    ];
    status.conditions = conditions::merge(&prev.conditions, fresh);
    Decision {
        status,
        action,
        requeue,
        notes,
    }
}

/// What a write ended in, as the act step reports it.
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
    /// The write failed.
    Failed(Failure),
}

/// Folds the outcome of a write into the status the decision produced.
pub fn after_write(
    mut status: PromotionStatus,
    result: &WriteResult,
    now: Timestamp,
    generation: Option<i64>,
) -> (PromotionStatus, Vec<Note>) {
    let mut notes = Vec::new();
    let Some(mut record) = status.last_promotion.clone() else {
        return (status, notes);
    };
    let target = record_target(&record).to_owned();
    let (phase, message) = match result {
        WriteResult::Committed { commit } => {
            record.commit = Some(commit.clone());
            record.committed_at = Some(Time(now));
            notes.push(Note {
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
            (
                Phase::Syncing,
                format!(
                    "{} committed {}; waiting for Argo CD to sync {target}",
                    record.version,
                    short(commit)
                ),
            )
        }
        WriteResult::AlreadyThere => {
            finish(
                &mut record,
                PromotionResult::Succeeded,
                now,
                "the file already held the version",
            );
            (
                Phase::InSync,
                format!("{target} already holds {}", record.version),
            )
        }
        WriteResult::Conflict { message } => {
            finish(&mut record, PromotionResult::Conflict, now, message);
            notes.push(Note {
                warning: true,
                reason: reasons::CONFLICT,
                message: message.clone(),
            });
            (
                Phase::Failed,
                format!("conflict: {message}; the other edit was kept"),
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
            notes.push(Note {
                warning: true,
                reason: f.reason,
                message: f.message.clone(),
            });
            (
                Phase::Failed,
                format!("writing {} failed: {}", record.version, f.message),
            )
        }
    };
    if record.result != PromotionResult::Running {
        push_history(&mut status.history, &record);
    }
    let now_time = Time(now);
    status.conditions = conditions::merge(
        &status.conditions,
        vec![
            conditions::new(
                types::READY,
                false,
                phase.as_str(),
                &message,
                generation,
                &now_time,
            ),
            promoting_condition(Some(&record), generation, &now_time),
            verified_condition(Some(&record), generation, &now_time),
        ],
    );
    status.last_promotion = Some(record);
    status.phase = Some(phase);
    status.message = Some(message);
    (status, notes)
}

struct Lane<'a> {
    obs: &'a Observation,
    timing: &'a Timing,
    now: Timestamp,
    status: &'a mut PromotionStatus,
    notes: Vec<Note>,
    stalled: Option<Failure>,
}

type Outcome = (Phase, String, Action, Duration);

impl Lane<'_> {
    fn run(&mut self) -> Outcome {
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
            let f = Failure::permanent(reasons::INVALID_SPEC, "spec.fields is empty");
            return self.failure(&f, "nothing to promote");
        }
        if let Some(record) = self.status.last_promotion.clone()
            && record.result == PromotionResult::Running
        {
            return self.in_flight(record, git, source, target);
        }
        self.idle(source, target)
    }

    fn failure(&mut self, f: &Failure, context: &str) -> Outcome {
        let message = format!("{context}: {}", f.message);
        if f.retryable {
            let phase = self.obs.previous.phase.unwrap_or(Phase::InSync);
            return (
                phase,
                format!("{message} (retrying)"),
                Action::None,
                self.timing.active.max(Duration::from_secs(10)),
            );
        }
        self.stalled = Some(f.clone());
        (Phase::Failed, message, Action::None, self.timing.idle)
    }

    fn idle(&mut self, source: &[String], target: &[String]) -> Outcome {
        let obs = self.obs;
        let spec = &obs.spec;
        let (src_env, dst_env) = (&spec.source.environment, &spec.target.environment);
        let (source_version, target_version) = (&source[0], &target[0]);
        if spec.suspend {
            return (
                Phase::Suspended,
                format!("suspended: {src_env} at {source_version}, {dst_env} at {target_version}"),
                Action::None,
                self.timing.idle,
            );
        }
        if let Some(pin) = pinned(spec) {
            if target_version == pin {
                return (
                    Phase::InSync,
                    format!("{dst_env} is pinned at {pin}; {src_env} is at {source_version}"),
                    Action::None,
                    self.timing.idle,
                );
            }
            let mut values = target.to_vec();
            values[0] = pin.to_owned();
            return self.start(
                RecordKind::Rollback,
                values,
                target,
                Some(format!("pin {pin}")),
            );
        }
        if source == target {
            let last = self.status.last_promotion.as_ref();
            let phase = match last {
                Some(r)
                    if &r.version == target_version && r.result == PromotionResult::Succeeded =>
                {
                    if r.kind == RecordKind::Rollback && pinned(spec).is_none() {
                        Phase::RolledBack
                    } else {
                        Phase::Promoted
                    }
                }
                _ => Phase::InSync,
            };
            return (
                phase,
                format!("{dst_env} runs {target_version}, the same as {src_env}"),
                Action::None,
                self.timing.idle,
            );
        }
        if let Some(held) = self.held_after_conflict(source_version) {
            return held;
        }
        if self.status.rejected_versions.contains(source_version) {
            let rolled_back =
                self.status.last_promotion.as_ref().is_some_and(|r| {
                    r.kind == RecordKind::Rollback && &r.version == target_version
                });
            return (
                if rolled_back {
                    Phase::RolledBack
                } else {
                    Phase::Gated
                },
                format!(
                    "{source_version} failed verification in {dst_env} and is rejected; it is not promoted again automatically (pin it to force it, or ship a new version)"
                ),
                Action::None,
                self.timing.idle,
            );
        }
        let approved_by = match spec.trigger {
            Trigger::Auto => None,
            Trigger::Manual => match &spec.approval {
                Some(a) if &a.version == source_version => Some(
                    a.approved_by
                        .clone()
                        .unwrap_or_else(|| "unknown".to_owned()),
                ),
                Some(a) => {
                    return (
                        Phase::AwaitingApproval,
                        format!(
                            "approval is for {} but {src_env} is at {source_version}: approve {source_version} to promote it",
                            a.version
                        ),
                        Action::None,
                        self.timing.idle,
                    );
                }
                None => {
                    return (
                        Phase::AwaitingApproval,
                        format!(
                            "{source_version} waits for approval to go to {dst_env} (now {target_version}): kubectl promote approve {} {source_version}",
                            obs.key.rsplit('/').next().unwrap_or(&obs.key)
                        ),
                        Action::None,
                        self.timing.idle,
                    );
                }
            },
        };
        if let Some((message, wait)) = self.gate(source) {
            return (
                Phase::Gated,
                message,
                Action::None,
                wait.unwrap_or(self.timing.idle).min(self.timing.idle),
            );
        }
        self.start(RecordKind::Promotion, source.to_vec(), target, approved_by)
    }

    /// After a conflict over `version`, the person's edit stands: the same version is not
    /// written over it again until someone approves it anew (or pins).
    fn held_after_conflict(&self, version: &str) -> Option<Outcome> {
        let last = self.status.last_promotion.as_ref()?;
        if last.result != PromotionResult::Conflict || last.version != version {
            return None;
        }
        let reapproved = match (&self.obs.spec.approval, &last.finished_at) {
            (Some(a), Some(finished)) if a.version == version => {
                a.approved_at.as_ref().is_some_and(|at| at.0 > finished.0)
            }
            _ => false,
        };
        if reapproved {
            return None;
        }
        Some((
            Phase::Failed,
            format!(
                "{version} was not written: {}; the other edit is kept. To promote {version} over it, approve it again",
                last.message
                    .as_deref()
                    .unwrap_or("the target changed meanwhile")
            ),
            Action::None,
            self.timing.idle,
        ))
    }

    /// Why the source version may not move yet, and how long until it may (for soak time).
    fn gate(&self, source: &[String]) -> Option<(String, Option<Duration>)> {
        let spec = &self.obs.spec;
        let gates = &spec.gates;
        let env = &spec.source.environment;
        let version = &source[0];
        let app = match &self.obs.source_app {
            AppView::NotConfigured => None,
            AppView::Missing(name) => {
                return Some((
                    format!("gate: the {env} Application {name} does not exist"),
                    None,
                ));
            }
            AppView::Error(f) => {
                return Some((
                    format!("gate: cannot read the {env} Application: {}", f.message),
                    None,
                ));
            }
            AppView::Found(app) => Some(app),
        };
        if let Some(app) = app {
            if gates.source_synced {
                let at_version = self
                    .obs
                    .git
                    .as_ref()
                    .ok()
                    .and_then(|g| g.source_at_synced.as_deref())
                    .is_some_and(|v| v == source);
                if app.sync_status != SyncStatus::Synced || !at_version {
                    return Some((
                        format!(
                            "gate: {env} ({}) is {} at {}, not yet synced to a revision with {version}",
                            app.key(),
                            app.sync_status.as_str(),
                            app.sync_revision.as_deref().map_or("no revision", short)
                        ),
                        None,
                    ));
                }
            }
            if gates.source_healthy
                && (app.health != HealthStatus::Healthy || !app.health_trustworthy())
            {
                return Some((
                    format!(
                        "gate: {env} ({}) is {}, not Healthy",
                        app.key(),
                        app.health.as_str()
                    ),
                    None,
                ));
            }
        }
        if let Some(soak) = gates.soak_time.as_deref().and_then(parse_duration) {
            let since = self
                .status
                .source
                .as_ref()
                .and_then(|s| s.healthy_since.as_ref())
                .map(|t| t.0);
            let Some(since) = since else {
                return Some((
                    format!(
                        "gate: soak time {} starts once {env} is healthy",
                        gates.soak_time.as_deref().unwrap_or("")
                    ),
                    None,
                ));
            };
            let elapsed = self.now.duration_since(since).unsigned_abs();
            if elapsed < soak {
                let remaining = soak - elapsed;
                return Some((
                    format!(
                        "gate: {version} soaking in {env}: {}s of {}s",
                        elapsed.as_secs(),
                        soak.as_secs()
                    ),
                    Some(remaining + Duration::from_millis(200)),
                ));
            }
        }
        None
    }

    fn start(
        &mut self,
        kind: RecordKind,
        values: Vec<String>,
        target: &[String],
        approved_by: Option<String>,
    ) -> Outcome {
        let spec = &self.obs.spec;
        let record = PromotionRecord {
            kind,
            version: values[0].clone(),
            previous_version: Some(target[0].clone()),
            approved_by: approved_by.clone(),
            started_at: Some(Time(self.now)),
            result: PromotionResult::Running,
            ..PromotionRecord::default()
        };
        let message = format!(
            "{} {} -> {} in {}",
            kind_word(kind),
            target[0],
            values[0],
            spec.target.environment
        );
        self.notes.push(Note {
            warning: false,
            reason: reasons::COMMITTED,
            message: format!("starting {message}"),
        });
        self.status.last_promotion = Some(record);
        let request = WriteRequest {
            kind,
            file: spec.target.values_file.clone(),
            environment: spec.target.environment.clone(),
            from_environment: spec.source.environment.clone(),
            version: values[0].clone(),
            previous: target[0].clone(),
            values,
            expected: target.to_vec(),
            approved_by,
        };
        (
            Phase::Promoting,
            message,
            Action::Write(request),
            self.timing.active,
        )
    }

    fn in_flight(
        &mut self,
        mut record: PromotionRecord,
        git: &GitView,
        source: &[String],
        target: &[String],
    ) -> Outcome {
        let spec = &self.obs.spec;
        let dst = &spec.target.environment;
        let Some(commit) = record.commit.clone() else {
            // Decided but not known to be pushed: write again. The compare-and-swap stops
            // a second commit, and a commit of ours already on the branch is recognised.
            let previous = record.previous_version.clone().unwrap_or_default();
            let values = if target[0] == record.version {
                target.to_vec()
            } else if target[0] == previous
                && (source[0] == record.version || record.kind != RecordKind::Promotion)
            {
                let mut values = if record.kind == RecordKind::Promotion {
                    source.to_vec()
                } else {
                    target.to_vec()
                };
                values[0] = record.version.clone();
                values
            } else {
                let message = format!(
                    "{dst} changed to {} while promoting {} (expected {previous})",
                    target[0], record.version
                );
                return self.close(record, PromotionResult::Conflict, message, true);
            };
            let request = WriteRequest {
                kind: record.kind,
                file: spec.target.values_file.clone(),
                environment: dst.clone(),
                from_environment: spec.source.environment.clone(),
                version: record.version.clone(),
                previous,
                values,
                expected: target.to_vec(),
                approved_by: record.approved_by.clone(),
            };
            return (
                Phase::Promoting,
                format!("writing {} to {dst}", record.version),
                Action::Write(request),
                self.timing.active,
            );
        };

        let timeout =
            parse_duration(&spec.verification.timeout).unwrap_or(Duration::from_secs(600));
        let started = record
            .committed_at
            .as_ref()
            .or(record.started_at.as_ref())
            .map_or(self.now, |t| t.0);
        let overdue = self.now.duration_since(started).unsigned_abs() > timeout;

        let (synced, healthy, state) = match &self.obs.target_app {
            AppView::NotConfigured => (true, true, "no Application to verify".to_owned()),
            AppView::Missing(name) => (false, false, format!("Application {name} does not exist")),
            AppView::Error(f) => (false, false, f.message.clone()),
            AppView::Found(app) => {
                let synced =
                    app.sync_status == SyncStatus::Synced && git.in_flight_synced == Some(true);
                let healthy = app.health == HealthStatus::Healthy && app.health_trustworthy();
                (
                    synced,
                    healthy,
                    format!(
                        "{} is {} at {} and {}",
                        app.key(),
                        app.sync_status.as_str(),
                        app.sync_revision.as_deref().map_or("no revision", short),
                        app.health.as_str()
                    ),
                )
            }
        };
        if synced && record.synced_at.is_none() {
            record.synced_at = Some(Time(self.now));
        }
        if synced && healthy {
            record.healthy_at = Some(Time(self.now));
            let message = format!(
                "{} {} is synced and healthy in {dst} ({})",
                kind_word(record.kind),
                record.version,
                short(&commit)
            );
            return self.close(record, PromotionResult::Succeeded, message, false);
        }
        if overdue {
            let message = format!(
                "{} {} was not synced and healthy in {dst} within {}: {state}",
                kind_word(record.kind),
                record.version,
                spec.verification.timeout
            );
            return self.fail_verification(record, message);
        }
        let phase = if synced {
            Phase::Verifying
        } else {
            Phase::Syncing
        };
        self.status.last_promotion = Some(record.clone());
        (
            phase,
            format!(
                "{} {} committed {}; {state}",
                kind_word(record.kind),
                record.version,
                short(&commit)
            ),
            Action::None,
            self.timing.active,
        )
    }

    fn fail_verification(&mut self, record: PromotionRecord, message: String) -> Outcome {
        let spec = &self.obs.spec;
        let version = record.version.clone();
        let previous = record.previous_version.clone();
        let rollback =
            spec.verification.rollback_on_failure && record.kind == RecordKind::Promotion;
        if record.kind == RecordKind::Promotion && !self.status.rejected_versions.contains(&version)
        {
            self.status.rejected_versions.insert(0, version.clone());
            self.status.rejected_versions.truncate(REJECTED_LIMIT);
        }
        let result = if rollback {
            PromotionResult::RolledBack
        } else {
            PromotionResult::Failed
        };
        let outcome = self.close(record, result, message.clone(), true);
        let (Some(previous), true) = (previous, rollback) else {
            return outcome;
        };
        let target = match self
            .obs
            .git
            .as_ref()
            .ok()
            .and_then(|g| g.target.as_ref().ok())
        {
            Some(t) => t.clone(),
            None => return outcome,
        };
        if target[0] != version {
            // Someone already moved the target; do not write over them.
            return outcome;
        }
        let mut values = target.clone();
        values[0] = previous;
        self.start(
            RecordKind::Rollback,
            values,
            &target,
            Some("rollback".to_owned()),
        )
    }

    fn close(
        &mut self,
        mut record: PromotionRecord,
        result: PromotionResult,
        message: String,
        warning: bool,
    ) -> Outcome {
        finish(&mut record, result, self.now, &message);
        push_history(&mut self.status.history, &record);
        self.notes.push(Note {
            warning,
            reason: match result {
                PromotionResult::Succeeded if record.kind == RecordKind::Rollback => {
                    reasons::ROLLED_BACK
                }
                PromotionResult::Succeeded => reasons::PROMOTED,
                PromotionResult::Conflict => reasons::CONFLICT,
                PromotionResult::RolledBack => reasons::FAILED,
                _ => reasons::FAILED,
            },
            message: message.clone(),
        });
        let phase = match (result, record.kind) {
            (PromotionResult::Succeeded, RecordKind::Rollback)
                if pinned(&self.obs.spec).is_none() =>
            {
                Phase::RolledBack
            }
            (PromotionResult::Succeeded, _) => Phase::Promoted,
            _ => Phase::Failed,
        };
        self.status.last_promotion = Some(record);
        (phase, message, Action::None, self.timing.active)
    }
}

/// The pinned version, when a non-empty pin is set.
fn pinned(spec: &promote_api::PromotionSpec) -> Option<&str> {
    spec.pin.as_deref().filter(|p| !p.is_empty())
}

fn finish(record: &mut PromotionRecord, result: PromotionResult, now: Timestamp, message: &str) {
    record.result = result;
    record.finished_at = Some(Time(now));
    record.message = Some(message.to_owned());
}

fn push_history(history: &mut Vec<PromotionRecord>, record: &PromotionRecord) {
    history.retain(|h| !(h.version == record.version && h.started_at == record.started_at));
    history.insert(0, record.clone());
    history.truncate(HISTORY_LIMIT);
}

fn record_target(record: &PromotionRecord) -> &str {
    match record.kind {
        RecordKind::Reset => "the source",
        _ => "the target",
    }
}

fn kind_word(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Promotion => "promotion",
        RecordKind::Rollback => "rollback",
        RecordKind::Reset => "reset",
    }
}

/// The first 12 characters of a commit id.
pub fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

fn environment_status(
    obs: &Observation,
    environment: &str,
    git: Option<&GitView>,
    values: Option<&Vec<String>>,
    app: &AppView,
    previous: Option<&EnvironmentStatus>,
    is_source: bool,
) -> EnvironmentStatus {
    let version = values.and_then(|v| v.first()).cloned();
    let mut st = EnvironmentStatus {
        environment: Some(environment.to_owned()),
        version: version.clone(),
        fields: obs
            .spec
            .fields
            .iter()
            .enumerate()
            .map(|(i, path)| FieldValue {
                path: path.clone(),
                value: values.and_then(|v| v.get(i)).cloned(),
            })
            .collect(),
        revision: git.map(|g| g.revision.clone()),
        ..EnvironmentStatus::default()
    };
    let running = match app.app() {
        Some(app) => {
            st.sync = Some(app.sync_status.as_str().to_owned());
            st.sync_revision = app.sync_revision.clone();
            st.health = Some(app.health.as_str().to_owned());
            st.live_images = app.images.iter().map(|i| i.normalized()).collect();
            st.auto_sync = Some(app.sync_policy.auto_sync);
            st.self_heal = Some(app.sync_policy.self_heal);
            st.prune = Some(app.sync_policy.prune);
            st.reconciled_at = app.reconciled_at.map(Time);
            let at_version = !is_source
                || git
                    .and_then(|g| g.source_at_synced.as_ref())
                    .is_some_and(|v| Some(v) == values);
            app.sync_status == SyncStatus::Synced
                && app.health == HealthStatus::Healthy
                && app.health_trustworthy()
                && at_version
        }
        None => matches!(app, AppView::NotConfigured) && version.is_some(),
    };
    st.healthy_since = if running {
        previous
            .filter(|p| p.version == version)
            .and_then(|p| p.healthy_since.clone())
            .or(Some(Time(obs.now)))
    } else {
        None
    };
    st
}

fn drift(obs: &Observation, source: Option<&Vec<String>>, target: Option<&Vec<String>>) -> Drift {
    let spec = &obs.spec;
    let release = match (source, target) {
        (Some(s), Some(t)) if s != t => {
            let differing: Vec<String> = spec
                .fields
                .iter()
                .zip(s.iter().zip(t.iter()))
                .filter(|(_, (a, b))| a != b)
                .map(|(f, (a, b))| {
                    format!(
                        "{f}: {} {a}, {} {b}",
                        spec.source.environment, spec.target.environment
                    )
                })
                .collect();
            ReleaseDrift {
                drifted: true,
                message: Some(differing.join("; ")),
            }
        }
        (Some(_), Some(_)) => ReleaseDrift {
            drifted: false,
            message: None,
        },
        _ => ReleaseDrift {
            drifted: false,
            message: Some("unknown: the release files could not be read".to_owned()),
        },
    };
    let source_drift = live_drift(
        &obs.source_app,
        source.and_then(|v| v.first()),
        &spec.fields,
    );
    let target_drift = live_drift(
        &obs.target_app,
        target.and_then(|v| v.first()),
        &spec.fields,
    );
    let drifted = release.drifted
        || [&source_drift, &target_drift].iter().any(|d| {
            d.git_vs_live.as_deref() == Some("OutOfSync") || !d.overridden_fields.is_empty()
        });
    Drift {
        drifted,
        release,
        source: source_drift,
        target: target_drift,
    }
}

fn live_drift(app: &AppView, git_version: Option<&String>, fields: &[String]) -> EnvironmentDrift {
    let app = match app {
        AppView::Found(app) => app,
        AppView::NotConfigured => {
            return EnvironmentDrift {
                git_vs_live: Some("Unknown".to_owned()),
                reason: Some("no Application configured".to_owned()),
                overridden_fields: Vec::new(),
            };
        }
        AppView::Missing(name) => {
            return EnvironmentDrift {
                git_vs_live: Some("Unknown".to_owned()),
                reason: Some(format!("Application {name} does not exist")),
                overridden_fields: Vec::new(),
            };
        }
        AppView::Error(f) => {
            return EnvironmentDrift {
                git_vs_live: Some("Unknown".to_owned()),
                reason: Some(f.message.clone()),
                overridden_fields: Vec::new(),
            };
        }
    };
    let overridden = app.overridden_fields(fields);
    let live = app.live_versions(None);
    let runs_git = git_version.is_some_and(|v| app.images.iter().any(|i| i.runs(v)));
    let reason = match app.sync_status {
        SyncStatus::OutOfSync if !app.sync_policy.self_heal => Some(format!(
            "live differs from Git and self-heal is off (a hot-reload session?); live runs {}",
            if live.is_empty() {
                "unknown images".to_owned()
            } else {
                live.join(", ")
            }
        )),
        SyncStatus::OutOfSync => {
            Some("live differs from Git; Argo CD self-heal will revert it".to_owned())
        }
        SyncStatus::Synced if !live.is_empty() && !runs_git => Some(format!(
            "Synced, but live runs {} while Git says {}",
            live.join(", "),
            git_version.map_or("?", String::as_str)
        )),
        SyncStatus::Unknown => Some("Argo CD has not compared this Application yet".to_owned()),
        SyncStatus::Synced => None,
    };
    let reason = match (reason, overridden.is_empty()) {
        (r, true) => r,
        (r, false) => Some(format!(
            "{}helm.parameters override {}: edits to the values file have no effect",
            r.map(|r| format!("{r}; ")).unwrap_or_default(),
            overridden.join(", ")
        )),
    };
    EnvironmentDrift {
        git_vs_live: Some(app.sync_status.as_str().to_owned()),
        reason,
        overridden_fields: overridden,
    }
}

fn policy(obs: &Observation) -> Policy {
    let spec = &obs.spec;
    Policy {
        source: policy_check(
            &obs.source_app,
            spec.source_expected_self_heal(),
            &spec.source.environment,
            "source",
        ),
        target: policy_check(
            &obs.target_app,
            spec.target_expected_self_heal(),
            &spec.target.environment,
            "target",
        ),
    }
}

fn policy_check(app: &AppView, expected: bool, env: &str, side: &str) -> Option<PolicyCheck> {
    match app {
        AppView::NotConfigured => None,
        AppView::Missing(name) => Some(PolicyCheck {
            application: Some(name.clone()),
            expected_self_heal: expected,
            self_heal: None,
            compliant: false,
            message: Some(format!("the {env} Application {name} does not exist")),
        }),
        AppView::Error(f) => Some(PolicyCheck {
            application: None,
            expected_self_heal: expected,
            self_heal: None,
            compliant: false,
            message: Some(f.message.clone()),
        }),
        AppView::Found(app) => {
            let actual = app.sync_policy.self_heal;
            let compliant = actual == expected;
            let message = (!compliant).then(|| {
                if expected {
                    format!(
                        "{env} Application {} has self-heal off but this lane expects it on: set spec.syncPolicy.automated.selfHeal: true (with auto-sync enabled) on {}, or spec.{side}.expectedSelfHeal: false on the Promotion",
                        app.key(),
                        app.key()
                    )
                } else {
                    format!(
                        "{env} Application {} has self-heal on but this lane expects it off (hot-reload sessions would be reverted): set spec.syncPolicy.automated.selfHeal: false on {}, or spec.{side}.expectedSelfHeal: true on the Promotion",
                        app.key(),
                        app.key()
                    )
                }
            });
            Some(PolicyCheck {
                application: Some(app.key()),
                expected_self_heal: expected,
                self_heal: Some(actual),
                compliant,
                message,
            })
        }
    }
}

fn ready_condition(
    phase: Phase,
    message: &str,
    generation: Option<i64>,
    now: &Time,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
    let ready = matches!(
        phase,
        Phase::InSync | Phase::Promoted | Phase::AwaitingApproval | Phase::Gated | Phase::Suspended
    );
    conditions::new(
        types::READY,
        ready,
        phase.as_str(),
        message,
        generation,
        now,
    )
}

fn drifted_condition(
    drift: Option<&Drift>,
    generation: Option<i64>,
    now: &Time,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
    let Some(d) = drift else {
        return conditions::unknown(types::DRIFTED, reasons::IDLE, "", generation, now);
    };
    let mut parts = Vec::new();
    let mut reason = reasons::NO_DRIFT;
    if d.release.drifted {
        reason = reasons::RELEASE_DRIFT;
        parts.push(format!(
            "release: {}",
            d.release.message.as_deref().unwrap_or("")
        ));
    }
    for (side, env) in [("source", &d.source), ("target", &d.target)] {
        if env.git_vs_live.as_deref() == Some("OutOfSync") {
            if reason == reasons::NO_DRIFT {
                reason = reasons::LIVE_DRIFT;
            }
            parts.push(format!(
                "{side}: {}",
                env.reason.as_deref().unwrap_or("OutOfSync")
            ));
        } else if !env.overridden_fields.is_empty() {
            if reason == reasons::NO_DRIFT {
                reason = reasons::OVERRIDDEN;
            }
            parts.push(format!("{side}: {}", env.reason.as_deref().unwrap_or("")));
        }
    }
    conditions::new(
        types::DRIFTED,
        d.drifted,
        reason,
        parts.join("; "),
        generation,
        now,
    )
}

fn policy_condition(
    policy: Option<&Policy>,
    generation: Option<i64>,
    now: &Time,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
    let checks: Vec<&PolicyCheck> = policy
        .into_iter()
        .flat_map(|p| [p.source.as_ref(), p.target.as_ref()])
        .flatten()
        .collect();
    if checks.is_empty() {
        return conditions::unknown(
            types::POLICY_COMPLIANT,
            reasons::APPLICATION_NOT_FOUND,
            "no Argo CD Application is configured for either environment",
            generation,
            now,
        );
    }
    let failing: Vec<&str> = checks
        .iter()
        .filter(|c| !c.compliant)
        .filter_map(|c| c.message.as_deref())
        .collect();
    if failing.is_empty() {
        let names: Vec<&str> = checks
            .iter()
            .filter_map(|c| c.application.as_deref())
            .collect();
        return conditions::new(
            types::POLICY_COMPLIANT,
            true,
            reasons::COMPLIANT,
            format!("self-heal is as expected on {}", names.join(" and ")),
            generation,
            now,
        );
    }
    let reason = if checks.iter().any(|c| !c.compliant && c.self_heal.is_none()) {
        reasons::APPLICATION_NOT_FOUND
    } else {
        reasons::SELF_HEAL_MISMATCH
    };
    conditions::new(
        types::POLICY_COMPLIANT,
        false,
        reason,
        failing.join("; "),
        generation,
        now,
    )
}

fn promoting_condition(
    record: Option<&PromotionRecord>,
    generation: Option<i64>,
    now: &Time,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
    match record {
        Some(r) if r.result == PromotionResult::Running => conditions::new(
            types::PROMOTING,
            true,
            if r.commit.is_some() {
                reasons::SYNCING
            } else {
                reasons::COMMITTED
            },
            format!("{} {}", kind_word(r.kind), r.version),
            generation,
            now,
        ),
        _ => conditions::new(types::PROMOTING, false, reasons::IDLE, "", generation, now),
    }
}

fn verified_condition(
    record: Option<&PromotionRecord>,
    generation: Option<i64>,
    now: &Time,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
    let Some(r) = record else {
        return conditions::unknown(
            types::VERIFIED,
            reasons::IDLE,
            "no promotion yet",
            generation,
            now,
        );
    };
    let message = r.message.clone().unwrap_or_default();
    match r.result {
        PromotionResult::Running => conditions::unknown(
            types::VERIFIED,
            reasons::VERIFYING,
            message,
            generation,
            now,
        ),
        PromotionResult::Succeeded => conditions::new(
            types::VERIFIED,
            true,
            reasons::PROMOTED,
            message,
            generation,
            now,
        ),
        PromotionResult::Conflict => conditions::new(
            types::VERIFIED,
            false,
            reasons::CONFLICT,
            message,
            generation,
            now,
        ),
        PromotionResult::RolledBack => conditions::new(
            types::VERIFIED,
            false,
            reasons::ROLLED_BACK,
            message,
            generation,
            now,
        ),
        PromotionResult::Failed => conditions::new(
            types::VERIFIED,
            false,
            reasons::FAILED,
            message,
            generation,
            now,
        ),
    }
}
