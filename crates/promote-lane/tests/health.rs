//! Verification by the health URL: probes are effects of the plan, their answers are folded
//! into the record's evidence, and the decision verifies, waits or rolls back on it.

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use promote_api::{Phase, ProbeAttempt, PromotionResult, PromotionSpec};
use promote_lane::{
    Admission, Effect, EffectOutcome, LaneSpec, Plan, ProbeRequest, Requeue, SpecErrorKind,
    WriteResult,
};
use serde_json::json;

const URL: &str = "https://web.example.com/health";

fn with_health(extra: serde_json::Value) -> PromotionSpec {
    let mut spec = serde_json::to_value(spec()).expect("json");
    let mut verification = json!({"timeout": "2m", "healthUrl": URL});
    if let (Some(v), Some(extra)) = (verification.as_object_mut(), extra.as_object()) {
        v.extend(extra.clone());
    }
    spec["verification"] = verification;
    serde_json::from_value(spec).expect("spec")
}

/// An Auto lane with a health URL, its promotion of sha-b committed, and prod synced at the
/// commit and healthy `secs` after the commit.
fn synced_and_healthy(extra: serde_json::Value, secs: i64) -> World {
    let mut w = World::new("sha-b", "sha-a").auto();
    w.spec = with_health(extra);
    w.spec.trigger = promote_api::Trigger::Auto;
    let d = w.decide();
    let (status, _) = after_write(
        &d,
        WriteResult::Committed {
            commit: "c0ffee".repeat(6) + "c0ff",
        },
        at(T0),
    );
    w.previous = status;
    w.now = T0 + secs;
    w.target = vec!["sha-b".into()];
    w.in_flight_synced = Some(true);
    w.target_app = app("web-app-prod", "Synced", "c0ffee", "Healthy", true, "sha-b");
    w
}

fn probe_of(plan: &Plan) -> Option<ProbeRequest> {
    plan.effects().find_map(|e| match e {
        Effect::Probe(p) => Some(p.clone()),
        _ => None,
    })
}

fn attempt(secs: i64, code: Option<u16>, passed: bool) -> ProbeAttempt {
    ProbeAttempt {
        at: Time(at(secs)),
        passed,
        code,
        latency_ms: 12,
        error: (!passed).then(|| "the answer was 503 Service Unavailable".to_owned()),
    }
}

/// Decides, carries out the probe with `answer`, and carries the status over `step` later.
fn probe_once(w: World, answer: ProbeAttempt, step: i64) -> (World, Requeue) {
    let mut plan = promote_lane::decide(&w.observation(), &promote_lane::Timing::default());
    let mut probed = false;
    while let Some(effect) = plan.next_effect() {
        match effect {
            Effect::Probe(_) => {
                probed = true;
                plan.fold(EffectOutcome::Probed(answer.clone()), at(w.now));
            }
            other => panic!("only a probe was expected, got {other:?}"),
        }
    }
    assert!(probed, "the plan probes the health URL");
    let report = plan.finish();
    let mut w = w;
    w.previous = report.status;
    w.now += step;
    (w, report.requeue)
}

#[test]
fn three_passing_answers_in_a_row_verify_and_a_failure_starts_the_count_again() {
    let w = synced_and_healthy(json!({"interval": "5s", "expectBody": "ok"}), 10);
    let d = w.decide();
    assert_eq!(phase(&d), Phase::Verifying, "{:?}", d.status.message);
    let probe = probe_of(&d.plan).expect("a probe is due");
    assert_eq!(
        probe,
        ProbeRequest {
            url: URL.into(),
            expect_body: Some("ok".into()),
            ca_bundle: None,
            timeout: Duration::from_secs(5),
        }
    );
    let now = w.now;
    let (w, requeue) = probe_once(w, attempt(now, Some(200), true), 5);
    assert_eq!(requeue, Requeue::After(Duration::from_secs(5)));
    let now = w.now;
    let (w, _) = probe_once(w, attempt(now, Some(503), false), 5);
    let evidence = w
        .previous
        .last_promotion
        .as_ref()
        .and_then(|r| r.verification.clone());
    let evidence = evidence.expect("evidence");
    assert_eq!((evidence.consecutive, evidence.total), (0, 2));
    assert!(w.previous.message.as_deref().expect("m").contains("0 of 3"));

    let mut w = w;
    for _ in 0..2 {
        let now = w.now;
        let (next, requeue) = probe_once(w, attempt(now, Some(200), true), 5);
        assert_eq!(requeue, Requeue::After(Duration::from_secs(5)));
        w = next;
    }
    // The third in a row: the lane looks again at once, and that look verifies.
    let now = w.now;
    let (w, requeue) = probe_once(w, attempt(now, Some(204), true), 0);
    assert_eq!(requeue, Requeue::After(Duration::ZERO));
    let d = w.decide();
    assert_eq!(phase(&d), Phase::Promoted, "{:?}", d.status.message);
    assert!(probe_of(&d.plan).is_none());
    let record = d.status.last_promotion.as_ref().expect("record");
    assert_eq!(record.result, PromotionResult::Succeeded);
    let evidence = record
        .verification
        .as_ref()
        .expect("evidence kept in the record");
    assert_eq!(
        (evidence.consecutive, evidence.total, evidence.required),
        (3, 5, 3)
    );
    assert_eq!(evidence.attempts.len(), 5);
    assert_eq!(evidence.attempts[4].code, Some(204));
    assert_eq!(d.status.history[0].verification, record.verification);
    assert!(
        d.status
            .message
            .as_deref()
            .expect("m")
            .contains("answered 3 of 3"),
        "{:?}",
        d.status.message
    );
}

#[test]
fn a_probe_is_not_repeated_before_the_interval() {
    let w = synced_and_healthy(json!({"interval": "30s"}), 10);
    let now = w.now;
    let (w, _) = probe_once(w, attempt(now, Some(200), true), 12);
    let d = w.decide();
    assert!(probe_of(&d.plan).is_none(), "not due for 18 more seconds");
    assert_eq!(d.requeue, Duration::from_secs(18));
    assert_eq!(phase(&d), Phase::Verifying);
}

#[test]
fn a_url_that_never_passes_rolls_back_in_one_write_and_rejects_the_version() {
    let w = synced_and_healthy(json!({}), 10);
    let mut w = w;
    while w.now < T0 + 120 {
        let now = w.now;
        w = probe_once(w, attempt(now, None, false), 5).0;
    }
    w.now = T0 + 121;
    let d = w.decide();
    assert_eq!(
        phase(&d),
        Phase::Promoting,
        "the rollback starts: {:?}",
        d.status.message
    );
    let Action::Write(write) = &d.action else {
        panic!("the rollback writes")
    };
    assert_eq!(
        (write.values.as_slice(), write.expected.as_slice()),
        (&["sha-a".to_owned()][..], &["sha-b".to_owned()][..])
    );
    assert_eq!(d.status.rejected_versions, ["sha-b"]);
    let failed = &d.status.history[0];
    assert_eq!(failed.result, PromotionResult::RolledBack);
    let message = failed.message.as_deref().expect("message");
    assert!(
        message.contains(URL) && message.contains("did not pass within 2m"),
        "{message}"
    );
    let evidence = failed.verification.as_ref().expect("evidence");
    assert_eq!(evidence.attempts.len(), 10, "bounded");
    assert!(evidence.total > 10);

    // The rollback itself needs only Argo CD: no probe.
    let (status, _) = after_write(
        &d,
        WriteResult::Committed {
            commit: "c2".repeat(20),
        },
        at(w.now),
    );
    w.previous = status;
    w.now += 5;
    w.target = vec!["sha-a".into()];
    w.target_app = app("web-app-prod", "Synced", "c2", "Healthy", true, "sha-a");
    let d = w.decide();
    assert!(probe_of(&d.plan).is_none());
    assert_eq!(phase(&d), Phase::RolledBack);
}

#[test]
fn a_health_url_is_checked_when_the_spec_is_read() {
    let parse =
        |extra: serde_json::Value| LaneSpec::parse(&with_health(extra), &Admission::default());
    let err = |extra: serde_json::Value| parse(extra).expect_err("invalid");
    let e = err(json!({"healthUrl": "https://ci:s3cret@web.example.com/health"}));
    assert_eq!(e.field, "spec.verification.healthUrl");
    assert!(!e.to_string().contains("s3cret"), "{e}");
    let e = err(json!({"healthUrl": "ftp://web.example.com/health"}));
    assert_eq!(e.kind, SpecErrorKind::NotAllowed);
    let e = err(json!({"healthUrl": "web.example.com/health"}));
    assert!(e.problem.contains("not a URL"), "{e}");
    let e = err(json!({"interval": "200ms"}));
    assert_eq!(e.field, "spec.verification.interval");
    let e = err(json!({"successes": 0}));
    assert_eq!(e.field, "spec.verification.successes");
    let ok = parse(json!({"caBundle": {"secretName": "web-ca"}})).expect("valid");
    let check = ok.verification.health.expect("a check");
    assert_eq!(check.successes, 3);
    assert_eq!(check.interval.value, Duration::from_secs(5));
    assert_eq!(check.ca_bundle, Some(("web-ca".into(), "ca.crt".into())));
    let mut spec = spec();
    spec.verification.expect_body = Some("ok".into());
    let e = LaneSpec::parse(&spec, &Admission::default()).expect_err("body without URL");
    assert_eq!(e.field, "spec.verification.healthUrl");
}

#[test]
fn a_rejected_version_moves_again_only_on_an_approval_that_says_so() {
    // Manual lane: sha-b approved, committed, and its health URL never passes: rolled back.
    let mut w = World::new("sha-b", "sha-a").approve("sha-b");
    w.spec.verification = with_health(json!({})).verification;
    let d = w.decide();
    let (status, _) = after_write(
        &d,
        WriteResult::Committed {
            commit: "c0ffee".repeat(6) + "c0ff",
        },
        at(T0),
    );
    w.previous = status;
    w.now = T0 + 130;
    w.target = vec!["sha-b".into()];
    w.in_flight_synced = Some(true);
    w.target_app = app("web-app-prod", "Synced", "c0ffee", "Healthy", true, "sha-b");
    let d = w.decide();
    let (status, _) = after_write(
        &d,
        WriteResult::Committed {
            commit: "c2".repeat(20),
        },
        at(w.now),
    );
    w.previous = status;
    w.now += 5;
    w.target = vec!["sha-a".into()];
    w.target_app = app("web-app-prod", "Synced", "c2", "Healthy", true, "sha-a");
    let d = w.decide();
    assert_eq!(phase(&d), Phase::RolledBack);
    assert_eq!(d.status.rejected_versions, ["sha-b"]);

    // The old approval, or a new one that does not say so: nothing moves, and the message
    // names the way.
    let mut w = w.next(&d, 60);
    w = w.approve("sha-b");
    let d = w.decide();
    assert_eq!(d.action, Action::None);
    let message = d.status.message.clone().expect("message");
    assert!(message.contains("--allow-rejected"), "{message}");

    // An approval that allows the rejection, seen after it: the promotion starts again.
    let mut w = w.next(&d, 60);
    w.spec.approval = Some(
        serde_json::from_value(json!({"version": "sha-b", "approvedBy": "oncall-lead",
                                      "note": "the health endpoint is fixed", "allowRejected": true}))
        .expect("approval"),
    );
    let d = w.decide();
    let Action::Write(write) = &d.action else {
        panic!(
            "the approved rejected version is written: {:?}",
            d.status.message
        )
    };
    assert_eq!(write.values, ["sha-b"]);
    assert_eq!(write.approved_by.as_deref(), Some("oncall-lead"));

    // The same approval does not start it again once it failed a second time.
    let mut auto = World::new("sha-b", "sha-a").auto();
    auto.previous = d.status.clone();
    auto.previous.last_promotion = None;
    auto.spec.approval = w.spec.approval.clone();
    let d = auto.decide();
    assert_eq!(d.action, Action::None, "never by Auto");
}
