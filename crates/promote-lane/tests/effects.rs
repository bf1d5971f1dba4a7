//! The plan, effect by effect: each outcome an effect can have, folded in, and what the
//! controller is asked to do next.

mod common;

use common::*;
use promote_api::conditions::{self, reasons};
use promote_api::{Phase, PromotionResult, PromotionSpec, RecordKind};
use promote_argocd::Application;
use promote_lane::{
    Admission, AppView, Effect, EffectOutcome, Failure, LaneSpec, Plan, Report, Requeue,
    SpecErrorKind, SyncResult, Timing, WriteFrom, WriteResult, decide, invalid_spec,
};
use serde_json::json;

const COMMIT: &str = "c0ffee0000000000000000000000000000000000";

/// Carries the plan out, answering each effect with `answer`; the effects in the order they
/// were asked for, and the report.
fn carry_out(
    mut plan: Plan,
    mut answer: impl FnMut(&Effect) -> EffectOutcome,
) -> (Vec<Effect>, Report) {
    let mut seen = Vec::new();
    while let Some(effect) = plan.next_effect() {
        let outcome = answer(&effect);
        seen.push(effect);
        plan.fold(outcome, at(T0 + 1));
        assert!(seen.len() < 10, "a plan ends");
    }
    (seen, plan.finish())
}

/// The usual answers: the intent is recorded, the write ends in `write`, syncs and
/// refreshes succeed.
fn answers(write: WriteResult) -> impl FnMut(&Effect) -> EffectOutcome {
    move |effect| match effect {
        Effect::RecordIntent { .. } => EffectOutcome::Recorded(Ok(())),
        Effect::Write(_) => EffectOutcome::Written(write.clone()),
        Effect::RequestSync { .. } => EffectOutcome::SyncRequested(SyncResult::Requested),
        Effect::Refresh { .. } => EffectOutcome::Refreshed(Ok(())),
        Effect::Probe(p) => panic!("no health URL in these lanes, yet a probe of {}", p.url),
        Effect::ListChanges { .. } => EffectOutcome::Listed {
            changes: Vec::new(),
            complete: true,
        },
    }
}

fn committed() -> WriteResult {
    WriteResult::Committed {
        commit: COMMIT.into(),
    }
}

/// prod's Application with auto-sync off.
fn manual_prod() -> AppView {
    let v = json!({
        "metadata": {"name": "web-app-prod", "namespace": "argocd", "resourceVersion": "4"},
        "spec": {},
        "status": {"sync": {"status": "Synced", "revision": TIP}, "health": {"status": "Healthy"},
                   "summary": {"images": ["registry.example.com/web/app:sha-a"]}}
    });
    AppView::Found(Box::new(Application::from_json(&v).expect("app")))
}

fn plan_of(w: &World) -> Plan {
    decide(&w.observation(), &Timing::default())
}

fn kinds(effects: &[Effect]) -> Vec<&'static str> {
    effects
        .iter()
        .map(|e| match e {
            Effect::RecordIntent { .. } => "intent",
            Effect::Write(_) => "write",
            Effect::RequestSync { .. } => "sync",
            Effect::Refresh { .. } => "refresh",
            Effect::Probe(_) => "probe",
            Effect::ListChanges { .. } => "changes",
        })
        .collect()
}

fn message(r: &Report) -> &str {
    r.status.message.as_deref().unwrap_or_default()
}

fn stalled(r: &Report) -> &str {
    conditions::find(&r.status.conditions, "Stalled")
        .map(|c| c.status.as_str())
        .unwrap_or_default()
}

#[test]
fn a_promotion_records_its_intent_before_the_write() {
    let plan = plan_of(&World::new("sha-b", "sha-a").approve("sha-b"));
    let effects: Vec<&Effect> = plan.effects().collect();
    let [Effect::RecordIntent { status, notes }, Effect::Write(write)] = effects.as_slice() else {
        panic!("intent, then write: {effects:?}")
    };
    let record = status
        .last_promotion
        .as_ref()
        .expect("the intent names the version");
    assert_eq!(record.result, PromotionResult::Running);
    assert_eq!(record.version, "sha-b");
    assert!(record.commit.is_none());
    assert!(notes.iter().any(|n| n.message.starts_with("starting")));
    assert_eq!(
        write.from,
        WriteFrom::SourceFile {
            file: "deploy/env/release-dev/app.yaml".into(),
            environment: "dev".into()
        }
    );
    assert!(matches!(plan.clone().finish().requeue, Requeue::After(_)));
}

#[test]
fn after_a_commit_the_target_is_refreshed_or_synced_as_its_policy_says() {
    // Auto-sync on: a refresh, so Argo CD notices the commit now.
    let w = World::new("sha-b", "sha-a").approve("sha-b");
    let (effects, report) = carry_out(plan_of(&w), answers(committed()));
    assert_eq!(kinds(&effects), ["intent", "write", "refresh", "changes"]);
    assert_eq!(report.status.phase, Some(Phase::Syncing));
    let record = report.status.last_promotion.as_ref().expect("record");
    assert_eq!(record.commit.as_deref(), Some(COMMIT));
    assert!(record.committed_at.is_some());

    // Auto-sync off: a sync to exactly the commit.
    let mut w = World::new("sha-b", "sha-a").approve("sha-b");
    w.target_app = manual_prod();
    let (effects, _) = carry_out(plan_of(&w), answers(committed()));
    assert_eq!(kinds(&effects), ["intent", "write", "sync", "changes"]);
    let Effect::RequestSync {
        application,
        revision,
    } = &effects[2]
    else {
        panic!("sync")
    };
    assert_eq!(revision, COMMIT);
    assert_eq!(
        (application.namespace.as_str(), application.name.as_str()),
        ("argocd", "web-app-prod")
    );

    // No Application: nothing to tell; only the release notes are read.
    let mut w = World::new("sha-b", "sha-a").auto();
    w.spec.target.application = None;
    w.target_app = AppView::NotConfigured;
    let (effects, _) = carry_out(plan_of(&w), answers(committed()));
    assert_eq!(kinds(&effects), ["intent", "write", "changes"]);
}

#[test]
fn a_write_that_may_pass_is_retried_and_keeps_the_record_open() {
    let w = World::new("sha-b", "sha-a").approve("sha-b");
    let failed = WriteResult::Failed(Failure::transient("GitError", "connection reset"));
    let (effects, report) = carry_out(plan_of(&w), answers(failed));
    assert_eq!(
        kinds(&effects),
        ["intent", "write"],
        "no sync after no commit"
    );
    assert_eq!(report.status.phase, Some(Phase::Promoting));
    assert!(
        message(&report).contains("retrying"),
        "{}",
        message(&report)
    );
    let record = report.status.last_promotion.as_ref().expect("record");
    assert_eq!(record.result, PromotionResult::Running);
    assert!(report.status.history.is_empty());
    assert_eq!(stalled(&report), "False");
}

#[test]
fn a_write_that_cannot_pass_stalls_the_lane() {
    let w = World::new("sha-b", "sha-a").approve("sha-b");
    let failed = WriteResult::Failed(Failure::permanent(
        reasons::VALUES_ERROR,
        "deploy/env/release-prod/app.yaml: image.tag is an alias",
    ));
    let (_, report) = carry_out(plan_of(&w), answers(failed));
    assert_eq!(report.status.phase, Some(Phase::Failed));
    assert_eq!(stalled(&report), "True");
    assert_eq!(report.status.history[0].result, PromotionResult::Failed);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.warning && n.reason == reasons::VALUES_ERROR)
    );
    assert_eq!(
        report.requeue,
        Requeue::After(Timing::default().idle),
        "looked at again slowly, not every poll"
    );
}

#[test]
fn a_write_conflict_keeps_the_other_edit_and_asks_for_nothing_more() {
    let mut w = World::new("sha-b", "sha-a").approve("sha-b");
    w.target_app = manual_prod();
    let conflict = WriteResult::Conflict {
        message: "prod image.tag is hotfix-1; changed by abc".into(),
    };
    let (effects, report) = carry_out(plan_of(&w), answers(conflict));
    assert_eq!(kinds(&effects), ["intent", "write"]);
    assert_eq!(report.status.phase, Some(Phase::Failed));
    assert!(message(&report).contains("the other edit was kept"));
    assert_eq!(report.status.history[0].result, PromotionResult::Conflict);
    assert!(report.notes.iter().any(|n| n.reason == reasons::CONFLICT));
}

#[test]
fn a_refused_sync_falls_back_to_a_refresh() {
    let mut w = World::new("sha-b", "sha-a").approve("sha-b");
    w.target_app = manual_prod();
    let mut usual = answers(committed());
    let (effects, report) = carry_out(plan_of(&w), |e| match e {
        Effect::RequestSync { .. } => EffectOutcome::SyncRequested(SyncResult::Refused(
            Failure::transient("operation_running", "an operation is already running"),
        )),
        other => usual(other),
    });
    assert_eq!(
        kinds(&effects),
        ["intent", "write", "sync", "refresh", "changes"]
    );
    assert_eq!(report.status.phase, Some(Phase::Syncing));
    assert!(
        message(&report).contains("no sync requested: an operation is already running"),
        "{}",
        message(&report)
    );
}

#[test]
fn a_failed_sync_request_is_reported_and_not_repeated() {
    let mut w = World::new("sha-b", "sha-a").approve("sha-b");
    w.target_app = manual_prod();
    let mut usual = answers(committed());
    let (effects, report) = carry_out(plan_of(&w), |e| match e {
        Effect::RequestSync { .. } => EffectOutcome::SyncRequested(SyncResult::Failed(
            Failure::transient("kube", "the API server refused the patch"),
        )),
        other => usual(other),
    });
    assert_eq!(kinds(&effects), ["intent", "write", "sync", "changes"]);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.warning && n.reason == reasons::SYNC_REQUEST_FAILED)
    );
    assert!(message(&report).contains("the sync request failed"));
    let record = report.status.last_promotion.as_ref().expect("record");
    assert_eq!(record.commit.as_deref(), Some(COMMIT), "the commit stands");
}

#[test]
fn a_failed_refresh_leaves_the_promotion_syncing() {
    let w = World::new("sha-b", "sha-a").approve("sha-b");
    let mut usual = answers(committed());
    let (_, report) = carry_out(plan_of(&w), |e| match e {
        Effect::Refresh { .. } => {
            EffectOutcome::Refreshed(Err(Failure::transient("kube", "connection refused")))
        }
        other => usual(other),
    });
    assert_eq!(report.status.phase, Some(Phase::Syncing));
    assert!(
        message(&report).contains("next poll"),
        "{}",
        message(&report)
    );
    assert_eq!(
        conditions::find(&report.status.conditions, "Ready").map(|c| c.message.as_str()),
        Some(message(&report)),
        "Ready says the same"
    );
}

#[test]
fn without_the_intent_on_record_nothing_is_pushed() {
    let w = World::new("sha-b", "sha-a").approve("sha-b");
    let (effects, report) = carry_out(plan_of(&w), |e| match e {
        Effect::RecordIntent { .. } => {
            EffectOutcome::Recorded(Err(Failure::transient("kube", "etcd timed out")))
        }
        _ => panic!("nothing after a failed intent: {e:?}"),
    });
    assert_eq!(kinds(&effects), ["intent"]);
    assert_eq!(report.status.phase, Some(Phase::Promoting));
    assert!(message(&report).contains("cannot record the intent"));
}

#[test]
fn pins_and_rollbacks_say_where_their_values_come_from() {
    let mut w = World::new("sha-b", "sha-a");
    w.spec.pin = Some("sha-0".into());
    let plan = plan_of(&w);
    let write = plan
        .effects()
        .find_map(|e| match e {
            Effect::Write(w) => Some(w.clone()),
            _ => None,
        })
        .expect("a pin writes");
    assert_eq!(write.kind, RecordKind::Rollback);
    assert_eq!(write.from, WriteFrom::Values { label: "pin" });
    assert_eq!(write.values, ["sha-0"]);
}

fn raw_spec(extra: serde_json::Value) -> PromotionSpec {
    let mut v = json!({
        "repository": {"url": "https://git.example.com/web-core.git"},
        "source": {"environment": "dev", "valuesFile": "deploy/env/release-dev/app.yaml"},
        "target": {"environment": "prod", "valuesFile": "deploy/env/release-prod/app.yaml"},
    });
    for (k, val) in extra.as_object().expect("object") {
        v[k] = val.clone();
    }
    serde_json::from_value(v).expect("spec")
}

#[test]
fn an_invalid_spec_names_the_field_and_the_fix_and_waits_for_a_change() {
    let cases = [
        (
            json!({"gates": {"soakTime": "99999999999999999999h"}}),
            "spec.gates.soakTime",
            SpecErrorKind::Duration,
        ),
        (
            json!({"verification": {"timeout": "0s"}}),
            "spec.verification.timeout",
            SpecErrorKind::Duration,
        ),
        (
            json!({"fields": ["image..tag"]}),
            "spec.fields[0]",
            SpecErrorKind::FieldPath,
        ),
        (
            json!({"fields": ["image.tag", "image.tag"]}),
            "spec.fields[1]",
            SpecErrorKind::Duplicate,
        ),
        (json!({"fields": []}), "spec.fields", SpecErrorKind::Empty),
        (
            json!({"pin": "not a version"}),
            "spec.pin",
            SpecErrorKind::Version,
        ),
        (
            json!({"approval": {"version": "v1 "}}),
            "spec.approval.version",
            SpecErrorKind::Version,
        ),
        (
            json!({"target": {"environment": "prod", "valuesFile": "../prod.yaml"}}),
            "spec.target.valuesFile",
            SpecErrorKind::RepositoryPath,
        ),
        (
            json!({"target": {"environment": "dev", "valuesFile": "deploy/prod.yaml"}}),
            "spec.target.environment",
            SpecErrorKind::Same,
        ),
    ];
    for (extra, field, kind) in cases {
        let err = LaneSpec::parse(&raw_spec(extra.clone()), &Admission::default())
            .expect_err(&format!("{extra}"));
        assert_eq!((err.field.as_str(), err.kind), (field, kind), "{extra}");
        let text = err.to_string();
        assert!(text.starts_with(field) && text.contains("; "), "{text}");

        let report = invalid_spec(
            &err,
            &Default::default(),
            Some(7),
            at(T0),
            &Timing::default(),
        )
        .finish();
        assert_eq!(report.requeue, Requeue::AwaitChange);
        assert_eq!(report.status.phase, Some(Phase::Failed));
        let stalled = conditions::find(&report.status.conditions, "Stalled").expect("Stalled");
        assert_eq!(
            (stalled.status.as_str(), stalled.reason.as_str()),
            ("True", reasons::INVALID_SPEC)
        );
        assert!(stalled.message.contains(field), "{}", stalled.message);
        assert_eq!(stalled.observed_generation, Some(7));
    }
}

#[test]
fn a_valid_spec_has_its_defaults_applied_and_durations_parsed() {
    let spec = LaneSpec::parse(
        &raw_spec(json!({"gates": {"soakTime": "1h30m"}})),
        &Admission::default(),
    )
    .expect("valid");
    assert_eq!(spec.fields, ["image.tag"]);
    assert_eq!(spec.repository.branch, "main");
    assert!(!spec.source.expected_self_heal && spec.target.expected_self_heal);
    let soak = spec.gates.soak.expect("soak");
    assert_eq!(soak.value.as_secs(), 5400);
    assert_eq!(soak.text, "1h30m");
    assert_eq!(spec.verification.timeout.value.as_secs(), 600);
    assert!(spec.gates.source_synced && spec.gates.source_healthy);
    assert!(spec.verification.rollback_on_failure);
    assert_eq!(spec.pin, None);
}

#[test]
fn what_the_operator_does_not_serve_is_refused_with_the_flag_to_change() {
    let elsewhere = json!({"target": {"environment": "prod", "valuesFile": "deploy/prod.yaml",
                                      "application": {"name": "web-prod", "namespace": "team-b"}}});
    let err = LaneSpec::parse(&raw_spec(elsewhere.clone()), &Admission::default())
        .expect_err("team-b is not served");
    assert_eq!(err.field, "spec.target.application.namespace");
    assert_eq!(err.kind, SpecErrorKind::NotAllowed);
    assert!(
        err.to_string().contains("--application-namespaces"),
        "{err}"
    );
    let serves_b = Admission {
        application_namespaces: vec!["argocd".into(), "team-b".into()],
        ..Admission::default()
    };
    assert!(LaneSpec::parse(&raw_spec(elsewhere), &serves_b).is_ok());

    let local = json!({"repository": {"url": "file:///srv/git/web-core.git"}});
    let err = LaneSpec::parse(&raw_spec(local.clone()), &Admission::default())
        .expect_err("file:// is off by default");
    assert_eq!(err.field, "spec.repository.url");
    assert!(
        err.to_string().contains("--allow-file-repositories"),
        "{err}"
    );
    let files = Admission {
        allow_file_repositories: true,
        ..Admission::default()
    };
    assert!(LaneSpec::parse(&raw_spec(local), &files).is_ok());
}

#[test]
fn a_promotions_release_notes_are_read_after_its_commit_and_kept_in_the_record() {
    let mut w = World::new("sha-b", "sha-a");
    w.spec.approval = Some(
        serde_json::from_value(json!({"version": "sha-b", "approvedBy": "oncall-lead",
                                      "note": "fixes the login redirect"}))
        .expect("approval"),
    );
    let change = promote_api::SourceChange {
        commit: "b".repeat(40),
        author: "Dana Developer".into(),
        subject: "ci: web sha-b".into(),
    };
    let listed = change.clone();
    let mut base = answers(committed());
    let (effects, report) = carry_out(plan_of(&w), move |e| match e {
        Effect::ListChanges { .. } => EffectOutcome::Listed {
            changes: vec![listed.clone()],
            complete: true,
        },
        other => base(other),
    });
    let Some(Effect::ListChanges {
        commit,
        file,
        field,
        since,
    }) = effects.last()
    else {
        panic!("the notes are read last: {effects:?}")
    };
    assert_eq!(commit, COMMIT);
    assert_eq!(file, "deploy/env/release-dev/app.yaml");
    assert_eq!((field.as_str(), since.as_str()), ("image.tag", "sha-a"));
    let record = report.status.last_promotion.as_ref().expect("record");
    assert_eq!(record.note.as_deref(), Some("fixes the login redirect"));
    assert_eq!(record.changes, [change]);
    assert_eq!(record.changes_complete, Some(true));

    // Verified: the Promoted Event carries the notes.
    w.previous = report.status;
    w.now += 5;
    w.target = vec!["sha-b".into()];
    w.in_flight_synced = Some(true);
    w.target_app = app("web-app-prod", "Synced", "c0ffee", "Healthy", true, "sha-b");
    let d = w.decide();
    let promoted = d
        .notes
        .iter()
        .find(|n| n.reason == reasons::PROMOTED)
        .expect("Promoted");
    assert!(
        promoted
            .message
            .contains("approved by oncall-lead: fixes the login redirect")
            && promoted
                .message
                .contains("changes since sha-a: bbbbbbbbbbbb ci: web sha-b (Dana Developer)"),
        "{}",
        promoted.message
    );
    assert_eq!(d.status.history[0].changes.len(), 1);
}
