//! The idle lane: suspended, pinned, in sync, held after a conflict, rejected, awaiting
//! approval, gated (sync, health, soak, release windows) — or ready to start a promotion.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use promote_api::conditions::reasons;
use promote_api::{Phase, PromotionResult, RecordKind, Trigger};
use promote_argocd::{HealthStatus, SyncStatus};

use super::{Lane, Verdict};
use crate::observation::{AppView, Upstream};
use crate::plan::Note;
use crate::record::{REJECTED_LIMIT, elapsed, short};
use crate::spec::ResetSpec;

/// How often a lane gated on its upstream lane looks again (the upstream's status does not
/// wake it).
const CHAIN_POLL: Duration = Duration::from_secs(5);

impl Lane<'_> {
    /// Nothing in flight: decides whether a version moves now.
    pub(super) fn idle(&mut self, source: &[String], target: &[String]) -> Verdict {
        let obs = self.obs;
        let spec = &obs.spec;
        let (src_env, dst_env) = (&spec.source.environment, &spec.target.environment);
        let (source_version, target_version) = (&source[0], &target[0]);
        if spec.suspend {
            return Verdict::wait(
                Phase::Suspended,
                format!("suspended: {src_env} at {source_version}, {dst_env} at {target_version}"),
                self.timing.idle,
            );
        }
        if let Some(reset) = self.pending_reset() {
            return self.start_reset(&reset, source, target);
        }
        if let Some(pin) = spec.pinned() {
            if target_version == pin {
                return Verdict::wait(
                    Phase::InSync,
                    format!("{dst_env} is pinned at {pin}; {src_env} is at {source_version}"),
                    self.timing.idle,
                );
            }
            return self.start_pin(pin, target);
        }
        if source == target {
            let last = self.status.last_promotion.as_ref();
            let phase = match last {
                Some(r) if r.kind == RecordKind::Reset => Phase::InSync,
                Some(r)
                    if &r.version == target_version && r.result == PromotionResult::Succeeded =>
                {
                    if r.kind == RecordKind::Rollback && spec.pinned().is_none() {
                        Phase::RolledBack
                    } else {
                        Phase::Promoted
                    }
                }
                _ => Phase::InSync,
            };
            return Verdict::wait(
                phase,
                format!("{dst_env} runs {target_version}, the same as {src_env}"),
                self.timing.idle,
            );
        }
        if let Some(held) = self.held(source_version, target_version) {
            return held;
        }
        if self.status.rejected_versions.contains(source_version)
            && !self.rejection_overridden(source_version)
        {
            let rolled_back =
                self.status.last_promotion.as_ref().is_some_and(|r| {
                    r.kind == RecordKind::Rollback && &r.version == target_version
                });
            return Verdict::wait(
                if rolled_back {
                    Phase::RolledBack
                } else {
                    Phase::Gated
                },
                format!(
                    "{source_version} is rejected (it failed verification in {dst_env}, or a person replaced it there); it is not promoted again automatically: ship a new version, pin it, or approve it anew allowing the rejection: {} --allow-rejected",
                    approve_hint(&obs.key, source_version)
                ),
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
                    return Verdict::wait(
                        Phase::AwaitingApproval,
                        format!(
                            "approval is for {} but {src_env} is at {source_version}: approve {source_version} to promote it",
                            a.version
                        ),
                        self.timing.idle,
                    );
                }
                None => {
                    return Verdict::wait(
                        Phase::AwaitingApproval,
                        format!(
                            "{source_version} waits for approval to go to {dst_env} (now {target_version}): {}",
                            approve_hint(&obs.key, source_version)
                        ),
                        self.timing.idle,
                    );
                }
            },
        };
        self.gated_or_start(source, target, approved_by)
    }

    /// The gates that hold an approved (or Auto) version, in order: the upstream lane, the
    /// source, parity, the release windows; then the promotion starts.
    fn gated_or_start(
        &mut self,
        source: &[String],
        target: &[String],
        approved_by: Option<String>,
    ) -> Verdict {
        let source_version = &source[0];
        if let Some(message) = self.upstream_gate(source_version) {
            // The upstream lane's status changes do not wake this one: look again soon.
            return Verdict::wait(Phase::Gated, message, self.timing.active.max(CHAIN_POLL));
        }
        if let Some((message, wait)) = self.gate(source) {
            return Verdict::wait(
                Phase::Gated,
                message,
                wait.unwrap_or(self.timing.idle).min(self.timing.idle),
            );
        }
        if let Some(message) = crate::parity::gate(&self.obs.spec, self.status.parity.as_ref()) {
            return Verdict::wait(Phase::Gated, message, self.timing.idle);
        }
        let overridden = match self.window_gate(source_version) {
            WindowGate::Open => None,
            WindowGate::Closed { message, wait } => {
                return Verdict::wait(Phase::Gated, message, wait.min(self.timing.idle));
            }
            WindowGate::Overridden { note, by } => Some((note, by)),
        };
        let Some((note, by)) = overridden else {
            return self.start(RecordKind::Promotion, source.to_vec(), target, approved_by);
        };
        let verdict = self.start(
            RecordKind::Promotion,
            source.to_vec(),
            target,
            approved_by.or(Some(by)),
        );
        if let Some(record) = self.status.last_promotion.as_mut() {
            record.window_overridden = true;
        }
        self.notes.push(note);
        verdict
    }

    /// Whether the release windows let `version` move now. Closed, its approval may say
    /// `overrideWindow`: that moves it once (a promotion of it since the approval was first
    /// seen used the override up).
    fn window_gate(&self, version: &str) -> WindowGate {
        let Some(state) = self.obs.spec.windows.at(self.now) else {
            return WindowGate::Open;
        };
        if state.open {
            return WindowGate::Open;
        }
        let which = state
            .window
            .as_ref()
            .map(|w| format!(" ({})", w.words()))
            .unwrap_or_default();
        let approval = self
            .obs
            .spec
            .approval
            .as_ref()
            .filter(|a| a.version == version && a.override_window);
        let seen = self.status.approval.as_ref().map(|a| a.observed_at.0);
        if let (Some(a), Some(seen)) = (approval, seen) {
            let used = std::iter::once(self.status.last_promotion.as_ref())
                .flatten()
                .chain(self.status.history.iter())
                .any(|r| {
                    r.version == version
                        && r.window_overridden
                        && r.started_at.as_ref().is_some_and(|t| t.0 >= seen)
                });
            if !used {
                let by = a
                    .approved_by
                    .clone()
                    .unwrap_or_else(|| "unknown".to_owned());
                let why = a
                    .note
                    .as_deref()
                    .map(|n| format!(": {n}"))
                    .unwrap_or_default();
                let dst = &self.obs.spec.target.environment;
                return WindowGate::Overridden {
                    note: Note {
                        warning: true,
                        reason: reasons::WINDOW_OVERRIDDEN,
                        message: format!(
                            "{version} moves to {dst} while the release window is closed{which}: approved by {by} with overrideWindow{why}"
                        ),
                    },
                    by,
                };
            }
        }
        let (when, wait) = match &state.next_open {
            Some(t) => (format!("it opens at {t}"), elapsed(t.timestamp(), self.now)),
            None => (
                "it does not open within the next 366 days".to_owned(),
                self.timing.idle,
            ),
        };
        WindowGate::Closed {
            message: format!(
                "gate: release window closed{which}; {when}. To move {version} now: {} --override-window",
                approve_hint(&self.obs.key, version)
            ),
            wait,
        }
    }

    /// A person's decision about `version` stands until someone approves it anew (or pins):
    /// after a conflict their edit is kept, and after a promotion a later change of the
    /// target by anyone but this lane (a revert, a hotfix) is not undone. Manual: the
    /// approval was used up by that promotion. Auto: the person rejected the version.
    fn held(&mut self, version: &str, target_version: &str) -> Option<Verdict> {
        let last = self.status.last_promotion.clone()?;
        let finished = last.finished_at.clone()?;
        if last.version != version || self.approved_since(version, &finished) {
            return None;
        }
        let dst = &self.obs.spec.target.environment;
        let hint = approve_hint(&self.obs.key, version);
        match (last.result, last.kind) {
            (PromotionResult::Conflict, _) => Some(Verdict::wait(
                Phase::Failed,
                format!(
                    "{version} was not written: {}; the other edit is kept. To promote {version} over it, approve it again: {hint}",
                    last.message
                        .as_deref()
                        .unwrap_or("the target changed meanwhile")
                ),
                self.timing.idle,
            )),
            (PromotionResult::Succeeded, RecordKind::Promotion) => {
                let by = self
                    .obs
                    .git
                    .as_ref()
                    .ok()
                    .and_then(|g| g.target_changed_by.as_deref())
                    .map(|by| format!(" by {by}"))
                    .unwrap_or_default();
                let changed = format!(
                    "{version} was promoted, then {dst} was changed to {target_version}{by} outside this lane; that change stands"
                );
                Some(self.replaced(version, changed, &hint))
            }
            _ => None,
        }
    }

    /// The target no longer holds a version this lane promoted.
    fn replaced(&mut self, version: &str, changed: String, hint: &str) -> Verdict {
        if self.obs.spec.trigger == Trigger::Manual {
            return Verdict::wait(
                Phase::AwaitingApproval,
                format!(
                    "{changed}. The approval was used; to promote {version} again, approve it anew: {hint}"
                ),
                self.timing.idle,
            );
        }
        if !self.status.rejected_versions.iter().any(|v| v == version) {
            self.status.rejected_versions.insert(0, version.to_owned());
            self.status.rejected_versions.truncate(REJECTED_LIMIT);
            self.notes.push(Note {
                warning: true,
                reason: reasons::CHANGED_OUTSIDE,
                message: changed.clone(),
            });
        }
        Verdict::wait(
            Phase::Gated,
            format!(
                "{changed}: {version} is rejected and not promoted again automatically (ship a new version, or pin it)"
            ),
            self.timing.idle,
        )
    }

    /// Whether `version` was approved (the approval first seen) after `t`.
    fn approved_since(&self, version: &str, t: &Time) -> bool {
        self.status
            .approval
            .as_ref()
            .is_some_and(|a| a.version == version && a.observed_at.0 > t.0)
    }

    /// A person approved the rejected `version` again, saying so (`allowRejected`), after it
    /// was rejected; never with trigger Auto.
    fn rejection_overridden(&self, version: &str) -> bool {
        if self.obs.spec.trigger != Trigger::Manual
            || !self
                .obs
                .spec
                .approval
                .as_ref()
                .is_some_and(|a| a.allow_rejected)
        {
            return false;
        }
        let rejected_at = std::iter::once(self.status.last_promotion.as_ref())
            .flatten()
            .chain(self.status.history.iter())
            .filter(|r| r.version == version && r.result != PromotionResult::Running)
            .find_map(|r| r.finished_at.clone());
        match rejected_at {
            Some(at) => self.approved_since(version, &at),
            // The rejection is older than the history: any explicit approval is newer.
            None => self
                .status
                .approval
                .as_ref()
                .is_some_and(|a| a.version == version),
        }
    }

    /// A reset of the source to the target's release fields: a commit to the source's file,
    /// or nothing when the source already holds them. Acted on once per request id.
    fn start_reset(&mut self, reset: &ResetSpec, source: &[String], target: &[String]) -> Verdict {
        let spec = &self.obs.spec;
        let (src, dst) = (&spec.source.environment, &spec.target.environment);
        self.status.last_reset_id = Some(reset.id.clone());
        if source == target {
            let message = format!(
                "reset {}: {src} already holds {dst}'s {}; nothing to write",
                reset.id, target[0]
            );
            self.notes.push(Note {
                warning: false,
                reason: reasons::RESET,
                message: message.clone(),
            });
            return Verdict::wait(Phase::InSync, message, self.timing.idle);
        }
        let by = reset
            .requested_by
            .clone()
            .or_else(|| Some("unknown".to_owned()));
        self.start(RecordKind::Reset, target.to_vec(), source, by)
    }

    /// Why `version` may not move yet because of the upstream lane (`spec.after`): it must
    /// have promoted the version and verified it, and not rejected it since.
    fn upstream_gate(&self, version: &str) -> Option<String> {
        let after = self.obs.spec.after.as_deref()?;
        let status = match &self.obs.upstream {
            Upstream::NotConfigured => return None,
            Upstream::Missing(name) => {
                return Some(format!(
                    "gate: the upstream lane {name} (spec.after) does not exist"
                ));
            }
            Upstream::Error(f) => {
                return Some(format!(
                    "gate: cannot read the upstream lane {after}: {}",
                    f.message
                ));
            }
            Upstream::Found { status, .. } => status,
        };
        if status.rejected_versions.iter().any(|v| v == version) {
            return Some(format!(
                "gate: {version} was rejected by the upstream lane {after} (it failed verification there, or was replaced); it does not move on"
            ));
        }
        let verified = std::iter::once(status.last_promotion.as_ref())
            .flatten()
            .chain(status.history.iter())
            .any(|r| {
                r.kind == RecordKind::Promotion
                    && r.version == version
                    && r.result == PromotionResult::Succeeded
            });
        if verified {
            return None;
        }
        let state = match (status.phase, status.message.as_deref()) {
            (Some(phase), Some(m)) => format!("{phase}: {m}"),
            (Some(phase), None) => phase.to_string(),
            _ => "no status yet".to_owned(),
        };
        Some(format!(
            "gate: the upstream lane {after} has not promoted and verified {version} yet ({after} is {state})"
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
        if let Some(soak) = &gates.soak {
            let since = self
                .status
                .source
                .as_ref()
                .and_then(|s| s.healthy_since.as_ref())
                .map(|t| t.0);
            let Some(since) = since else {
                return Some((
                    format!("gate: soak time {} starts once {env} is healthy", soak.text),
                    None,
                ));
            };
            let elapsed = elapsed(self.now, since);
            if elapsed < soak.value {
                let remaining = soak.value - elapsed;
                return Some((
                    format!(
                        "gate: {version} soaking in {env}: {}s of {}s",
                        elapsed.as_secs(),
                        soak.value.as_secs()
                    ),
                    Some(remaining + Duration::from_millis(200)),
                ));
            }
        }
        None
    }
}

/// What the release windows say about a version about to move.
enum WindowGate {
    /// It may move.
    Open,
    /// Held: the `gate:` message, and the time until the next opening.
    Closed { message: String, wait: Duration },
    /// Closed, but its approval overrides the windows: the Event, and who approved it.
    Overridden { note: Note, by: String },
}

/// How a person approves `version`, as a command they can paste.
fn approve_hint(key: &str, version: &str) -> String {
    let (namespace, name) = key.split_once('/').unwrap_or(("default", key));
    format!("kubectl promote approve {name} {version} -n {namespace}")
}
