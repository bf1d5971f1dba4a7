//! Release windows: promotions move only inside an Allow window and never inside a Deny one,
//! read on the wall clock of each window's time zone (across a DST change too); the lane wakes
//! when the window next opens; an approval with overrideWindow moves its version once; pins,
//! rollbacks, resets and promotions already in flight are never held back.

mod common;

use std::time::Duration;

use common::*;
use jiff::{Timestamp, Zoned};
use promote_api::conditions::reasons;
use promote_api::{Phase, PromotionResult, RecordKind, ResetRequest, WindowStatus};
use promote_lane::{Admission, Failure, LaneSpec, SpecErrorKind, WriteResult};
use serde_json::{Value, json};

const C1: &str = "c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1";
const WEEKDAYS: &str = "0 9 * * 1-4";

/// Seconds since the epoch of a zoned time such as `2026-12-02T10:00:00+01:00[Europe/Berlin]`.
fn when(zoned: &str) -> i64 {
    zoned
        .parse::<Zoned>()
        .expect("zoned time")
        .timestamp()
        .as_second()
}

fn ts(utc: &str) -> Timestamp {
    utc.parse().expect("timestamp")
}

fn with_windows(mut w: World, windows: Value) -> World {
    w.spec.windows = serde_json::from_value(windows).expect("windows");
    w
}

/// Manual dev → prod, sha-b approved, Allow Monday to Thursday 09:00 for 8h in Berlin.
fn business_hours(now: &str) -> World {
    let mut w = with_windows(
        World::new("sha-b", "sha-a").approve("sha-b"),
        json!([{"kind": "Allow", "schedule": WEEKDAYS, "duration": "8h", "timeZone": "Europe/Berlin"}]),
    );
    w.now = when(now);
    w
}

/// A Deny window open the whole day of `now` (UTC), and nothing else.
fn denied_all_day(w: World) -> World {
    with_windows(
        w,
        json!([{"kind": "Deny", "schedule": "0 0 * * *", "duration": "24h"}]),
    )
}

fn message(d: &Decision) -> String {
    d.status.message.clone().unwrap_or_default()
}

fn window(d: &Decision) -> WindowStatus {
    d.status.window.clone().expect("status.window is reported")
}

fn held(d: &Decision) {
    assert_eq!(d.action, Action::None, "nothing moves: {}", message(d));
    assert_eq!(phase(d), Phase::Gated, "{}", message(d));
    assert!(
        message(d).starts_with("gate: release window closed ("),
        "{}",
        message(d)
    );
    assert!(!window(d).open);
}

fn writes(d: &Decision) -> Box<promote_lane::WriteRequest> {
    match &d.action {
        Action::Write(w) => w.clone(),
        Action::None => panic!("expected a write: {}", message(d)),
    }
}

#[test]
fn inside_an_allow_window_a_promotion_moves_and_the_status_says_when_it_closes() {
    let d = business_hours("2026-12-02T10:00:00+01:00[Europe/Berlin]").decide();
    let write = writes(&d);
    assert_eq!(write.values, ["sha-b"]);
    let status = window(&d);
    assert!(status.open);
    assert_eq!(
        status.window.as_deref(),
        Some("Allow 0 9 * * 1-4 for 8h (Europe/Berlin)")
    );
    assert_eq!(
        status.closes_at.map(|t| t.0),
        Some(ts("2026-12-02T16:00:00Z")),
        "17:00 in Berlin"
    );
    assert_eq!(status.next_open, None);
    let record = d.status.last_promotion.expect("record");
    assert!(!record.window_overridden);
    assert!(
        d.notes
            .iter()
            .all(|n| n.reason != reasons::WINDOW_OVERRIDDEN)
    );
}

#[test]
fn outside_an_allow_window_the_version_waits_and_the_lane_wakes_when_it_opens() {
    // Wednesday 18:00: closed since 17:00, opens Thursday 09:00.
    let d = business_hours("2026-12-02T18:00:00+01:00[Europe/Berlin]").decide();
    held(&d);
    assert!(
        message(&d).starts_with(
            "gate: release window closed (Allow 0 9 * * 1-4 for 8h, Europe/Berlin); it opens at 2026-12-03T09:00:00+01:00[Europe/Berlin]"
        ),
        "{}",
        message(&d)
    );
    assert!(
        message(&d).contains("kubectl promote approve app-prod sha-b -n web --override-window"),
        "{}",
        message(&d)
    );
    assert_eq!(
        window(&d),
        WindowStatus {
            open: false,
            window: Some("Allow 0 9 * * 1-4 for 8h (Europe/Berlin)".into()),
            next_open: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(ts(
                "2026-12-03T08:00:00Z"
            ))),
            closes_at: None,
        }
    );
    assert_eq!(
        d.requeue,
        Duration::from_secs(60),
        "capped at the idle wait"
    );

    // Half a minute before the opening the lane asks to look again exactly then.
    let d = business_hours("2026-12-03T08:59:30+01:00[Europe/Berlin]").decide();
    held(&d);
    assert_eq!(d.requeue, Duration::from_secs(30));
    // And then it moves.
    let d = business_hours("2026-12-03T09:00:00+01:00[Europe/Berlin]").decide();
    assert_eq!(writes(&d).values, ["sha-b"]);
}

#[test]
fn friday_evening_waits_for_monday() {
    let d = business_hours("2026-12-04T12:00:00+01:00[Europe/Berlin]").decide();
    held(&d);
    assert!(
        message(&d).contains("it opens at 2026-12-07T09:00:00+01:00[Europe/Berlin]"),
        "Friday is not in 1-4: {}",
        message(&d)
    );
}

#[test]
fn deny_wins_over_allow() {
    let mut w = with_windows(
        World::new("sha-b", "sha-a").auto(),
        json!([
            {"kind": "Allow", "schedule": "0 6 * * *", "duration": "16h", "timeZone": "Europe/Berlin"},
            {"kind": "Deny", "schedule": "0 18 * * 5", "duration": "64h", "timeZone": "Europe/Berlin"},
        ]),
    );
    // Friday 19:00: the Allow window is open until 22:00, the Deny window since 18:00.
    w.now = when("2026-12-04T19:00:00+01:00[Europe/Berlin]");
    let d = w.decide();
    held(&d);
    assert!(
        message(&d).starts_with(
            "gate: release window closed (Deny 0 18 * * 5 for 64h, Europe/Berlin); it opens at 2026-12-07T10:00:00+01:00[Europe/Berlin]"
        ),
        "the Deny window ends Monday 10:00, inside Monday's Allow window: {}",
        message(&d)
    );

    // Thursday 19:00: Allow open, no Deny: it moves, and the next Deny is not what ends it.
    w.now = when("2026-12-03T19:00:00+01:00[Europe/Berlin]");
    let d = w.decide();
    writes(&d);
    assert_eq!(
        window(&d).closes_at.map(|t| t.0),
        Some(ts("2026-12-03T21:00:00Z"))
    );

    // Friday 17:00: the Deny window opens at 18:00, before the Allow window ends at 22:00.
    w.now = when("2026-12-04T17:00:00+01:00[Europe/Berlin]");
    let d = w.decide();
    writes(&d);
    let status = window(&d);
    assert_eq!(
        status.closes_at.map(|t| t.0),
        Some(ts("2026-12-04T17:00:00Z"))
    );
    assert_eq!(
        status.window.as_deref(),
        Some("Deny 0 18 * * 5 for 64h (Europe/Berlin)")
    );
}

#[test]
fn a_deny_window_after_the_allow_one_pushes_the_opening_to_the_next_allow() {
    let mut w = with_windows(
        World::new("sha-b", "sha-a").auto(),
        json!([
            {"kind": "Allow", "schedule": "0 9 * * *", "duration": "2h"},
            // A holiday freeze over the whole of Christmas Eve and Christmas Day.
            {"kind": "Deny", "schedule": "0 0 24 12 *", "duration": "48h"},
        ]),
    );
    w.now = ts("2026-12-23T12:00:00Z").as_second();
    let d = w.decide();
    held(&d);
    assert!(
        message(&d)
            .contains("(Allow 0 9 * * * for 2h, UTC); it opens at 2026-12-26T09:00:00+00:00[UTC]"),
        "the 24th and 25th are frozen: {}",
        message(&d)
    );
}

#[test]
fn the_schedule_is_read_on_the_zones_wall_clock_across_a_dst_change() {
    // Berlin leaves summer time on Sunday 2026-10-25: 09:00 is 07:00 UTC before, 08:00 after.
    let window = json!([{"kind": "Allow", "schedule": "0 9 * * 1-5", "duration": "8h",
                         "timeZone": "Europe/Berlin"}]);
    let mut w = with_windows(World::new("sha-b", "sha-a").auto(), window);
    w.now = ts("2026-10-23T07:30:00Z").as_second();
    writes(&w.decide());

    w.now = ts("2026-10-23T16:00:00Z").as_second();
    let d = w.decide();
    held(&d);
    assert!(
        message(&d).contains("it opens at 2026-10-26T09:00:00+01:00[Europe/Berlin]"),
        "{}",
        message(&d)
    );
    assert_eq!(
        window_of(&d).next_open.map(|t| t.0),
        Some(ts("2026-10-26T08:00:00Z"))
    );

    // 07:30 UTC was 09:30 on Friday; on Monday it is 08:30, before the window.
    w.now = ts("2026-10-26T07:30:00Z").as_second();
    held(&w.decide());
    w.now = ts("2026-10-26T08:30:00Z").as_second();
    writes(&w.decide());

    // New York leaves summer time a week later.
    let ny = json!([{"kind": "Allow", "schedule": "0 9 * * *", "duration": "1h",
                     "timeZone": "America/New_York"}]);
    let mut w = with_windows(World::new("sha-b", "sha-a").auto(), ny);
    w.now = ts("2026-10-31T14:00:00Z").as_second();
    let d = w.decide();
    held(&d);
    assert_eq!(
        window_of(&d).next_open.map(|t| t.0),
        Some(ts("2026-11-01T14:00:00Z")),
        "09:00 EST on Sunday, 23 hours after 09:00 EDT on Saturday: {}",
        message(&d)
    );
}

fn window_of(d: &Decision) -> WindowStatus {
    window(d)
}

#[test]
fn a_deny_window_that_never_ends_has_no_next_opening() {
    let mut w = with_windows(
        World::new("sha-b", "sha-a").auto(),
        json!([{"kind": "Deny", "schedule": "* * * * *", "duration": "1h"}]),
    );
    w.now = T0;
    let d = w.decide();
    held(&d);
    assert!(
        message(&d).contains("it does not open within the next 366 days"),
        "{}",
        message(&d)
    );
    assert_eq!(window(&d).next_open, None);
    assert_eq!(d.requeue, Duration::from_secs(60));
}

#[test]
fn an_approval_with_override_window_moves_its_version_once() {
    let mut w = denied_all_day(World::new("sha-b", "sha-a"));
    w.spec.approval = Some(
        serde_json::from_value(json!({"version": "sha-b", "approvedBy": "oncall-lead",
            "note": "security fix CVE-2026-1234", "overrideWindow": true}))
        .expect("approval"),
    );
    let d = w.decide();
    let write = writes(&d);
    assert_eq!(write.approved_by.as_deref(), Some("oncall-lead"));
    assert!(!window(&d).open, "the window is still reported closed");
    let record = d.status.last_promotion.clone().expect("record");
    assert!(record.window_overridden);
    assert_eq!(record.approved_by.as_deref(), Some("oncall-lead"));
    assert_eq!(record.note.as_deref(), Some("security fix CVE-2026-1234"));
    let note = d
        .notes
        .iter()
        .find(|n| n.reason == reasons::WINDOW_OVERRIDDEN)
        .expect("a WindowOverridden Event");
    assert!(note.warning);
    assert_eq!(
        note.message,
        "sha-b moves to prod while the release window is closed (Deny 0 0 * * * for 24h, UTC): approved by oncall-lead with overrideWindow: security fix CVE-2026-1234"
    );

    // The write fails for good: the override was used, the same approval does not move it again.
    let (status, _) = after_write(
        &d,
        WriteResult::Failed(Failure::permanent(reasons::GIT_ERROR, "push rejected")),
        at(w.now),
    );
    assert_eq!(
        status
            .history
            .first()
            .map(|r| (r.window_overridden, r.result)),
        Some((true, PromotionResult::Failed))
    );
    w.previous = status;
    w.now += 60;
    let d = w.decide();
    held(&d);

    // Approved anew with the override: it moves once more.
    w.spec.approval = Some(
        serde_json::from_value(json!({"version": "sha-b", "approvedBy": "oncall-lead",
            "note": "push fixed", "overrideWindow": true}))
        .expect("approval"),
    );
    let d = w.decide();
    assert!(d.status.last_promotion.expect("record").window_overridden);
}

#[test]
fn an_override_is_for_its_version_only() {
    // Auto: sha-c is in dev; the override names sha-b.
    let mut w = denied_all_day(World::new("sha-c", "sha-a").auto());
    w.spec.approval = Some(
        serde_json::from_value(json!({"version": "sha-b", "approvedBy": "oncall-lead",
                                      "overrideWindow": true}))
        .expect("approval"),
    );
    held(&w.decide());
    // Without overrideWindow the approval of the version is not enough.
    let w = denied_all_day(World::new("sha-b", "sha-a").approve("sha-b"));
    held(&w.decide());
}

#[test]
fn pins_rollbacks_and_resets_are_never_held() {
    let mut w = denied_all_day(World::new("sha-b", "sha-a"));
    w.spec.pin = Some("sha-0".into());
    let write = writes(&w.decide());
    assert_eq!(
        (write.kind, write.version.as_str()),
        (RecordKind::Rollback, "sha-0")
    );

    let mut w = denied_all_day(World::new("sha-c", "sha-a"));
    w.spec.reset = Some(ResetRequest {
        id: "r1".into(),
        requested_by: Some("alice".into()),
        requested_at: None,
    });
    assert_eq!(writes(&w.decide()).kind, RecordKind::Reset);

    // A promotion whose verification fails after the window closed is still rolled back.
    let mut w = with_windows(
        World::new("sha-b", "sha-a").auto(),
        json!([{"kind": "Allow", "schedule": "0 9 * * *", "duration": "1h"}]),
    );
    w.spec.verification =
        serde_json::from_value(json!({"timeout": "1m", "rollbackOnFailure": true}))
            .expect("verification");
    w.now = ts("2026-12-02T09:59:00Z").as_second();
    let d = w.decide();
    writes(&d);
    let (status, _) = after_write(&d, WriteResult::Committed { commit: C1.into() }, at(w.now));
    w.previous = status;
    w.now = ts("2026-12-02T10:05:00Z").as_second();
    w.target = vec!["sha-b".into()];
    w.in_flight_synced = Some(true);
    w.target_app = app("web-app-prod", "Synced", C1, "Degraded", true, "sha-b");
    let d = w.decide();
    let write = writes(&d);
    assert_eq!(
        (write.kind, write.version.as_str()),
        (RecordKind::Rollback, "sha-a"),
        "{}",
        message(&d)
    );
}

#[test]
fn a_promotion_in_flight_when_the_window_closes_carries_on() {
    let w = business_hours("2026-12-02T16:59:50+01:00[Europe/Berlin]");
    let d = w.decide();
    writes(&d);
    let (status, _) = after_write(&d, WriteResult::Committed { commit: C1.into() }, at(w.now));
    let mut w = w;
    w.previous = status;
    w.now = when("2026-12-02T17:01:00+01:00[Europe/Berlin]");
    w.target = vec!["sha-b".into()];
    w.in_flight_synced = Some(true);
    w.target_app = app("web-app-prod", "Synced", C1, "Healthy", true, "sha-b");
    let d = w.decide();
    assert_eq!(phase(&d), Phase::Promoted, "{}", message(&d));
    assert!(!window(&d).open, "closed now, and reported so");
    let record = d.status.last_promotion.expect("record");
    assert_eq!(record.result, PromotionResult::Succeeded);
    assert!(!record.window_overridden);
}

#[test]
fn without_windows_nothing_is_reported() {
    let d = World::new("sha-b", "sha-a").approve("sha-b").decide();
    assert_eq!(d.status.window, None);
    writes(&d);
}

#[test]
fn invalid_windows_name_the_field_and_the_fix() {
    let cases = [
        (
            json!({"kind": "Allow", "schedule": "0 9 * *", "duration": "8h"}),
            "spec.windows[1].schedule",
            SpecErrorKind::Schedule,
        ),
        (
            json!({"kind": "Allow", "schedule": "0 0 9 * * 1", "duration": "8h"}),
            "spec.windows[1].schedule",
            SpecErrorKind::Schedule,
        ),
        (
            json!({"kind": "Allow", "schedule": "0 25 * * *", "duration": "8h"}),
            "spec.windows[1].schedule",
            SpecErrorKind::Schedule,
        ),
        (
            json!({"kind": "Deny", "schedule": "0 0 30 2 *", "duration": "8h"}),
            "spec.windows[1].schedule",
            SpecErrorKind::Schedule,
        ),
        (
            json!({"kind": "Deny", "schedule": "0 0 * * *", "duration": "8 hours"}),
            "spec.windows[1].duration",
            SpecErrorKind::Duration,
        ),
        (
            json!({"kind": "Deny", "schedule": "0 0 * * *", "duration": "0m"}),
            "spec.windows[1].duration",
            SpecErrorKind::Duration,
        ),
        (
            json!({"kind": "Deny", "schedule": "0 0 * * *", "duration": "1h", "timeZone": "Europe/Atlantis"}),
            "spec.windows[1].timeZone",
            SpecErrorKind::TimeZone,
        ),
    ];
    for (bad, field, kind) in cases {
        let mut spec = spec();
        spec.windows = serde_json::from_value(json!([
            {"kind": "Allow", "schedule": WEEKDAYS, "duration": "8h", "timeZone": "Europe/Berlin"},
            bad,
        ]))
        .expect("windows");
        let e = LaneSpec::parse(&spec, &Admission::default()).expect_err("invalid");
        assert_eq!((e.field.as_str(), e.kind), (field, kind), "{e}");
        assert!(e.to_string().contains("such as"), "the fix is named: {e}");
    }
}

#[test]
fn schedules_take_names_steps_and_lists() {
    for schedule in [
        "0 9 * * MON-FRI",
        "*/15 8-17 * * 1,3,5",
        "0 18 * * FRI",
        "0 0 24 12 *",
        "0 0 1 JAN *",
    ] {
        let mut spec = spec();
        spec.windows = serde_json::from_value(json!([
            {"kind": "Deny", "schedule": schedule, "duration": "1h"},
        ]))
        .expect("windows");
        LaneSpec::parse(&spec, &Admission::default()).unwrap_or_else(|e| panic!("{schedule}: {e}"));
    }
}

#[test]
fn a_start_in_the_hour_the_clocks_skip_opens_after_the_change() {
    // Berlin skips 02:00-03:00 on Sunday 2026-03-29: 02:30 does not happen that night.
    let mut w = with_windows(
        World::new("sha-b", "sha-a").auto(),
        json!([{"kind": "Allow", "schedule": "30 2 * * *", "duration": "1h",
                "timeZone": "Europe/Berlin"}]),
    );
    w.now = ts("2026-03-28T23:00:00Z").as_second();
    let d = w.decide();
    held(&d);
    assert!(
        message(&d).contains("it opens at 2026-03-29T03:00:00+02:00[Europe/Berlin]"),
        "at the end of the gap: {}",
        message(&d)
    );
    // The window still lasts its hour from there.
    w.now = ts("2026-03-29T01:59:00Z").as_second();
    let d = w.decide();
    writes(&d);
    assert_eq!(
        window(&d).closes_at.map(|t| t.0),
        Some(ts("2026-03-29T02:00:00Z"))
    );
}

#[test]
fn a_lane_with_nothing_to_do_is_looked_at_again_when_its_window_closes_or_opens() {
    // In sync at 16:59:30 in Berlin, the window closes at 17:00: looked at again within 30 s,
    // not a whole idle interval later, so status.window never says open after 17:00.
    let mut w = with_windows(
        World::new("sha-b", "sha-b"),
        json!([{"kind": "Allow", "schedule": WEEKDAYS, "duration": "8h", "timeZone": "Europe/Berlin"}]),
    );
    w.now = when("2026-12-02T16:59:30+01:00[Europe/Berlin]");
    let d = w.decide();
    assert_eq!(phase(&d), Phase::InSync, "{}", message(&d));
    assert!(window(&d).open);
    assert_eq!(d.requeue, Duration::from_secs(30));
    // Closed at 18:00: the next look is at Thursday's opening, or sooner by the idle interval.
    w.now = when("2026-12-02T18:00:00+01:00[Europe/Berlin]");
    let d = w.decide();
    assert!(!window(&d).open);
    assert_eq!(
        d.requeue,
        Duration::from_secs(60),
        "the idle interval comes first"
    );
}
