//! The idle lane: suspended, pinned, in sync, held after a conflict, rejected, awaiting
//! approval, gated (sync, health, soak) — or ready to start a promotion.

use std::time::Duration;

use promote_api::{Phase, PromotionResult, RecordKind, Trigger};
use promote_argocd::{HealthStatus, SyncStatus};

use super::{Lane, Verdict};
use crate::observation::AppView;
use crate::record::short;

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
        if let Some(pin) = spec.pinned() {
            if target_version == pin {
                return Verdict::wait(
                    Phase::InSync,
                    format!("{dst_env} is pinned at {pin}; {src_env} is at {source_version}"),
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
        if let Some(held) = self.held_after_conflict(source_version) {
            return held;
        }
        if self.status.rejected_versions.contains(source_version) {
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
                    "{source_version} failed verification in {dst_env} and is rejected; it is not promoted again automatically (pin it to force it, or ship a new version)"
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
        if let Some((message, wait)) = self.gate(source) {
            return Verdict::wait(
                Phase::Gated,
                message,
                wait.unwrap_or(self.timing.idle).min(self.timing.idle),
            );
        }
        self.start(RecordKind::Promotion, source.to_vec(), target, approved_by)
    }

    /// After a conflict over `version`, the person's edit stands: the same version is not
    /// written over it again until someone approves it anew (or pins).
    fn held_after_conflict(&self, version: &str) -> Option<Verdict> {
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
        Some(Verdict::wait(
            Phase::Failed,
            format!(
                "{version} was not written: {}; the other edit is kept. To promote {version} over it, approve it again",
                last.message
                    .as_deref()
                    .unwrap_or("the target changed meanwhile")
            ),
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
            let elapsed = self.now.duration_since(since).unsigned_abs();
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

/// How a person approves `version`, as a command they can paste.
fn approve_hint(key: &str, version: &str) -> String {
    let (namespace, name) = key.split_once('/').unwrap_or(("default", key));
    format!(
        "kubectl patch promotion {name} -n {namespace} --type merge -p '{{\"spec\":{{\"approval\":{{\"version\":\"{version}\",\"approvedBy\":\"<you>\"}}}}}}'"
    )
}
