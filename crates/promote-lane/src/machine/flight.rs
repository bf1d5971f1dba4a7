//! A promotion in flight: written but not known to be pushed (write again), pushed and
//! waiting for Argo CD (sync, health, the timeout), and the rollback when it fails. A pin
//! set meanwhile wins at once, and while suspended nothing is written: verification waits.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use promote_api::{Phase, PromotionRecord, PromotionResult, RecordKind};
use promote_argocd::{HealthStatus, SyncStatus};

use std::time::Duration;

use super::{Lane, Verdict, written_side};
use crate::health::{HealthCheck, describe_attempt};
use crate::observation::{AppView, GitView};
use crate::plan::Note;
use crate::plan::ProbeRequest;
use crate::record::{REJECTED_LIMIT, elapsed, kind_word, short};
use promote_api::conditions::reasons;

impl Lane<'_> {
    /// Carries the running record on.
    pub(super) fn in_flight(
        &mut self,
        record: PromotionRecord,
        git: &GitView,
        source: &[String],
        target: &[String],
    ) -> Verdict {
        if let Some(reset) = self.pending_reset() {
            // Refused, not queued: the person asks again once this one finished.
            self.status.last_reset_id = Some(reset.id.clone());
            self.notes.push(Note {
                warning: true,
                reason: reasons::RESET_REFUSED,
                message: format!(
                    "reset {} refused: {} {} is in flight; request the reset again once it finished",
                    reset.id,
                    kind_word(record.kind),
                    record.version
                ),
            });
        }
        if let Some(pin) = self.obs.spec.pinned()
            && pin != record.version
            && record.kind != RecordKind::Reset
        {
            let message = format!(
                "{} {} superseded: spec.pin is {pin}",
                kind_word(record.kind),
                record.version
            );
            let _ = self.close(record, PromotionResult::Failed, message, false);
            return self.start_pin(pin, target);
        }
        match record.commit.clone() {
            Some(commit) => self.verify(record, &commit, git),
            None if self.obs.spec.suspend => {
                let message = format!(
                    "suspended before {} was written to {}; nothing is committed until spec.suspend is cleared",
                    record.version, self.obs.spec.target.environment
                );
                self.status.last_promotion = Some(record);
                Verdict::wait(Phase::Suspended, message, self.timing.idle)
            }
            None => self.write_again(record, source, target),
        }
    }

    /// Decided but not known to be pushed: write again. The compare-and-swap stops a second
    /// commit, and a commit of ours already on the branch is recognised.
    fn write_again(
        &mut self,
        record: PromotionRecord,
        source: &[String],
        target: &[String],
    ) -> Verdict {
        let dst = &written_side(&self.obs.spec, record.kind).environment;
        // The file the record writes: the target's, or the source's for a reset.
        let target = if record.kind == RecordKind::Reset {
            source
        } else {
            target
        };
        let previous = record.previous_version.clone().unwrap_or_default();
        let values = if target[0] == record.version {
            target.to_vec()
        } else if target[0] == previous
            && (source[0] == record.version || record.kind != RecordKind::Promotion)
        {
            if record.values.len() == target.len() {
                record.values.clone()
            } else {
                let mut values = if record.kind == RecordKind::Promotion {
                    source.to_vec()
                } else {
                    target.to_vec()
                };
                values[0] = record.version.clone();
                values
            }
        } else {
            let message = format!(
                "{dst} changed to {} while promoting {} (expected {previous})",
                target[0], record.version
            );
            return self.close(record, PromotionResult::Conflict, message, true);
        };
        let message = format!("writing {} to {dst}", record.version);
        let request = self.write_request(
            record.kind,
            values,
            target,
            previous,
            record.approved_by.clone(),
            record.base_revision.clone(),
        );
        Verdict {
            phase: Phase::Promoting,
            message,
            write: Some(request),
            probe: None,
            requeue: self.timing.active,
        }
    }

    /// Pushed: waits for the target to be Synced at the commit and Healthy, within the
    /// verification timeout.
    fn verify(&mut self, mut record: PromotionRecord, commit: &str, git: &GitView) -> Verdict {
        let spec = &self.obs.spec;
        let dst = &written_side(spec, record.kind).environment;
        let timeout = spec.verification.timeout.value;
        let started = record
            .committed_at
            .as_ref()
            .or(record.started_at.as_ref())
            .map_or(self.now, |t| t.0);
        let overdue = elapsed(self.now, started) > timeout;

        let app = if record.kind == RecordKind::Reset {
            &self.obs.source_app
        } else {
            &self.obs.target_app
        };
        let (synced, healthy, state) = match app {
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
            if record.healthy_at.is_none() {
                record.healthy_at = Some(Time(self.now));
            }
            let message = format!(
                "{} {} is synced and healthy in {dst} ({})",
                kind_word(record.kind),
                record.version,
                short(commit)
            );
            // A promotion is also verified by the health URL; a rollback or a pin restores a
            // known version and needs only Argo CD's word.
            let check = spec.verification.health.as_ref();
            match check.filter(|_| record.kind == RecordKind::Promotion) {
                None => return self.close(record, PromotionResult::Succeeded, message, false),
                Some(check) => return self.probe(record, check, message, overdue),
            }
        }
        if overdue && spec.suspend {
            let message = format!(
                "suspended: verification of {} {} is paused (not synced and healthy in {dst} within {}: {state}); nothing is rolled back until spec.suspend is cleared",
                kind_word(record.kind),
                record.version,
                spec.verification.timeout.text
            );
            self.status.last_promotion = Some(record);
            return Verdict::wait(Phase::Suspended, message, self.timing.idle);
        }
        if overdue {
            let message = format!(
                "{} {} was not synced and healthy in {dst} within {}: {state}",
                kind_word(record.kind),
                record.version,
                spec.verification.timeout.text
            );
            return self.fail_verification(record, message);
        }
        // Passing answers count only while the target stays synced and healthy.
        if let Some(evidence) = record.verification.as_mut() {
            evidence.consecutive = 0;
        }
        let phase = if synced {
            Phase::Verifying
        } else {
            Phase::Syncing
        };
        let message = format!(
            "{} {} committed {}; {state}",
            kind_word(record.kind),
            record.version,
            short(commit)
        );
        self.status.last_promotion = Some(record);
        Verdict::wait(phase, message, self.timing.active)
    }

    /// Synced and healthy: the health URL decides. Verified after enough consecutive passing
    /// answers; failed when the timeout passes first; otherwise probed again when due.
    fn probe(
        &mut self,
        record: PromotionRecord,
        check: &HealthCheck,
        synced: String,
        overdue: bool,
    ) -> Verdict {
        let evidence = record.verification.as_ref();
        let passed = evidence.map_or(0, |e| e.consecutive);
        let last = evidence.and_then(|e| e.attempts.last());
        let tally = format!(
            "{passed} of {} consecutive passing answers",
            check.successes
        );
        if passed >= check.successes {
            let message = format!("{synced}, and {} answered {tally}", check.url);
            return self.close(record, PromotionResult::Succeeded, message, false);
        }
        let last_words = last.map_or_else(|| "no answer yet".to_owned(), describe_attempt);
        if overdue {
            let message = format!(
                "{synced}, but {} did not pass within {}: {tally}, last {last_words}",
                check.url, self.obs.spec.verification.timeout.text
            );
            return self.fail_verification(record, message);
        }
        let due_in = last.map_or(Duration::ZERO, |a| {
            check
                .interval
                .value
                .saturating_sub(elapsed(self.now, a.at.0))
        });
        let message = format!(
            "{synced}; probing {}: {tally}, last {last_words}",
            check.url
        );
        self.status.last_promotion = Some(record);
        Verdict {
            phase: Phase::Verifying,
            message,
            write: None,
            probe: due_in.is_zero().then(|| ProbeRequest {
                url: check.url.clone(),
                expect_body: check.expect_body.clone(),
                ca_bundle: check.ca_bundle.clone(),
                timeout: check.probe_timeout(),
            }),
            requeue: if due_in.is_zero() {
                check.interval.value
            } else {
                due_in
            },
        }
    }

    /// Verification failed: reject the version and, when asked, write every promoted field's
    /// previous value back.
    fn fail_verification(&mut self, record: PromotionRecord, message: String) -> Verdict {
        let spec = &self.obs.spec;
        let version = record.version.clone();
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
        let written = record.values.clone();
        let previous = restored(&record);
        let outcome = self.close(record, result, message, true);
        let (Some(previous), true) = (previous, rollback) else {
            return outcome;
        };
        let Some(target) = self
            .obs
            .git
            .as_ref()
            .ok()
            .and_then(|g| g.target.as_ref().ok())
            .cloned()
        else {
            return outcome;
        };
        let moved = if written.len() == target.len() {
            target != written
        } else {
            target[0] != version
        };
        if moved {
            // Someone already moved the target; do not write over them.
            return outcome;
        }
        let values = if previous.len() == target.len() {
            previous
        } else {
            let mut values = target.clone();
            values[0] = previous[0].clone();
            values
        };
        self.start(
            RecordKind::Rollback,
            values,
            &target,
            Some("rollback".to_owned()),
        )
    }
}

/// The values a rollback of `record` writes back: every field's previous value when the
/// record has them, else the previous version alone.
fn restored(record: &PromotionRecord) -> Option<Vec<String>> {
    if !record.previous_values.is_empty() {
        return Some(record.previous_values.clone());
    }
    record.previous_version.clone().map(|v| vec![v])
}
