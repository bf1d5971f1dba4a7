//! Chains: a lane that names an upstream lane (`spec.after`) moves only versions that lane
//! promoted and verified, never one it rejected; a pin is not held back.

mod common;

use common::*;
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use promote_api::{LaneRef, Phase, PromotionRecord, PromotionResult, PromotionStatus, RecordKind};
use promote_lane::{Admission, Failure, LaneSpec, SpecErrorKind, Upstream};

/// stage → prod, following the dev → stage lane `web-stage`; stage holds sha-b.
fn after_stage(upstream: Upstream) -> World {
    let mut w = World::new("sha-b", "sha-a").auto();
    w.spec.after = Some(LaneRef {
        name: "web-stage".into(),
    });
    w.upstream = upstream;
    w
}

fn record(version: &str, result: PromotionResult) -> PromotionRecord {
    PromotionRecord {
        kind: RecordKind::Promotion,
        version: version.into(),
        result,
        started_at: Some(Time(Timestamp::from_second(T0 - 100).expect("time"))),
        ..PromotionRecord::default()
    }
}

fn stage(phase: Phase, last: PromotionRecord, history: Vec<PromotionRecord>) -> Upstream {
    Upstream::Found {
        name: "web-stage".into(),
        status: Box::new(PromotionStatus {
            phase: Some(phase),
            message: Some("probing https://stage.example.com/health".into()),
            last_promotion: Some(last),
            history,
            ..PromotionStatus::default()
        }),
    }
}

fn gated_saying(w: &World, text: &str) {
    let d = w.decide();
    assert_eq!(d.action, Action::None, "nothing moves");
    assert_eq!(phase(&d), Phase::Gated);
    let message = d.status.message.clone().unwrap_or_default();
    assert!(message.contains(text), "{message}");
}

#[test]
fn a_version_the_upstream_lane_is_still_verifying_waits() {
    let running = record("sha-b", PromotionResult::Running);
    let w = after_stage(stage(Phase::Verifying, running, vec![]));
    gated_saying(
        &w,
        "the upstream lane web-stage has not promoted and verified sha-b yet (web-stage is Verifying: probing",
    );
}

#[test]
fn a_version_the_upstream_lane_verified_moves_unchanged() {
    let done = record("sha-b", PromotionResult::Succeeded);
    let w = after_stage(stage(Phase::Promoted, done.clone(), vec![done]));
    let d = w.decide();
    let Action::Write(write) = &d.action else {
        panic!(
            "verified upstream: the version moves: {:?}",
            d.status.message
        )
    };
    assert_eq!(write.values, ["sha-b"], "the same artifact");
}

#[test]
fn a_version_the_upstream_lane_rolled_back_never_moves() {
    let failed = record("sha-b", PromotionResult::RolledBack);
    let earlier = record("sha-b", PromotionResult::Succeeded);
    let Upstream::Found { name, mut status } =
        stage(Phase::RolledBack, failed.clone(), vec![failed, earlier])
    else {
        unreachable!()
    };
    status.rejected_versions = vec!["sha-b".into()];
    let w = after_stage(Upstream::Found { name, status });
    gated_saying(&w, "sha-b was rejected by the upstream lane web-stage");
}

#[test]
fn a_missing_or_unreadable_upstream_lane_gates_and_a_pin_still_moves() {
    gated_saying(
        &after_stage(Upstream::Missing("web/web-stage".into())),
        "the upstream lane web/web-stage (spec.after) does not exist",
    );
    gated_saying(
        &after_stage(Upstream::Error(Failure::transient(
            "ApiError",
            "connection refused",
        ))),
        "cannot read the upstream lane web-stage: connection refused",
    );
    let mut w = after_stage(Upstream::Missing("web/web-stage".into()));
    w.spec.pin = Some("sha-0".into());
    let d = w.decide();
    let Action::Write(write) = &d.action else {
        panic!("a pin is not held back by the chain")
    };
    assert_eq!(write.values, ["sha-0"]);
}

#[test]
fn an_upstream_name_is_checked_when_the_spec_is_read() {
    let mut spec = spec();
    spec.after = Some(LaneRef {
        name: "Web_Stage".into(),
    });
    let e = LaneSpec::parse(&spec, &Admission::default()).expect_err("invalid");
    assert_eq!(
        (e.field.as_str(), e.kind),
        ("spec.after.name", SpecErrorKind::NotAllowed)
    );
}
