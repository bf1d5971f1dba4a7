//! The changes the write verbs make, as merge patches, and the approval's checks. Pure.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt as _;
use promote_api::{Approval, Promotion};
use serde_json::{Value, json};

use super::error::Failure;

/// Refuses what is not a version, before anything is sent.
pub fn valid(version: &str) -> Result<(), Failure> {
    promote_values::validate_version(version)
        .map_err(|e| Failure::error(format!("{version:?} is not a version: {e}")))
}

/// The version to approve: the one asked for, which must be the source's current version
/// unless `force`; without one, the source's current version.
pub fn approval_version(
    p: &Promotion,
    asked: Option<&str>,
    force: bool,
) -> Result<String, Failure> {
    let name = p.name_any();
    let env = &p.spec.source.environment;
    let source = p
        .status
        .as_ref()
        .and_then(|s| s.source.as_ref())
        .and_then(|s| s.version.as_deref());
    match (asked, source) {
        (Some(v), Some(s)) if v == s => Ok(v.to_owned()),
        (Some(v), _) if force => Ok(v.to_owned()),
        (Some(v), Some(s)) => Err(Failure::error(format!(
            "{v} is not {env}'s current version ({env} is at {s}): promotion {name} moves an approved version only while {env} holds it"
        ))
        .hint(format!(
            "approve {s} instead (leave VERSION out), or pass --force to record an approval of {v} anyway"
        ))),
        (Some(v), None) => Err(Failure::error(format!(
            "the operator has not reported {env}'s version for promotion {name} yet, so {v} cannot be checked against it"
        ))
        .hint("pass --force to approve it anyway")),
        (None, Some(s)) => {
            // The status comes from the cluster, not from the user: still check it.
            valid(s)?;
            Ok(s.to_owned())
        }
        (None, None) => Err(Failure::error(format!(
            "the operator has not reported {env}'s version for promotion {name} yet: give the VERSION to approve"
        ))),
    }
}

/// What an approval lets through besides the version itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Allow {
    /// A version the lane rejected (`--allow-rejected`).
    pub rejected: bool,
    /// Closed release windows, once (`--override-window`).
    pub closed_window: bool,
}

/// Sets `spec.approval` whole (a note left out removes an earlier one), on condition that
/// the object is still the one the version was checked against.
pub fn approve(
    p: &Promotion,
    version: &str,
    by: Option<&str>,
    now: Timestamp,
    note: Option<&str>,
    allow: Allow,
) -> Result<Value, Failure> {
    let approval = Approval {
        version: version.to_owned(),
        approved_by: by.map(str::to_owned),
        approved_at: Some(Time(now)),
        note: note.map(str::to_owned),
        allow_rejected: allow.rejected,
        override_window: allow.closed_window,
    };
    let mut value =
        serde_json::to_value(&approval).map_err(|e| Failure::error(format!("approval: {e}")))?;
    if let Value::Object(map) = &mut value {
        for key in ["approvedBy", "note", "allowRejected", "overrideWindow"] {
            map.entry(key).or_insert(Value::Null);
        }
    }
    Ok(json!({
        "metadata": {"resourceVersion": p.resource_version()},
        "spec": {"approval": value},
    }))
}

/// What the approval does against the lane's release windows, as a line for the person
/// approving (nothing when the lane has none).
pub fn window_note(p: &Promotion, overrides: bool) -> String {
    if p.spec.windows.is_empty() {
        return String::new();
    }
    if overrides {
        return "note: it moves even while the release windows are closed (overrideWindow); the history records that, with who approved it and the note\n".to_owned();
    }
    let window = p.status.as_ref().and_then(|s| s.window.as_ref());
    match window {
        Some(w) if !w.open => {
            let when = w.next_open.as_ref().map_or_else(
                || "they do not open within a year".to_owned(),
                |t| format!("they open at {}", super::table::stamp(t)),
            );
            format!(
                "note: the release windows are closed ({when}); it moves then, or now with --override-window\n"
            )
        }
        _ => String::new(),
    }
}

/// Sets or clears `spec.pin`.
pub fn pin(version: Option<&str>) -> Value {
    json!({"spec": {"pin": version}})
}

/// Sets `spec.suspend`.
pub fn suspend(on: bool) -> Value {
    json!({"spec": {"suspend": on}})
}

#[cfg(test)]
mod tests {
    use promote_api::{EnvironmentStatus, PromotionSpec, PromotionStatus};

    use super::*;

    fn promotion(source: Option<&str>) -> Promotion {
        let spec: PromotionSpec = serde_json::from_value(json!({
            "repository": {"url": "https://git.example/r.git"},
            "source": {"environment": "dev", "valuesFile": "dev.yaml"},
            "target": {"environment": "prod", "valuesFile": "prod.yaml"},
        }))
        .expect("spec");
        let mut p = Promotion::new("web", spec);
        p.metadata.resource_version = Some("42".into());
        p.status = Some(PromotionStatus {
            source: Some(EnvironmentStatus {
                version: source.map(str::to_owned),
                ..EnvironmentStatus::default()
            }),
            ..PromotionStatus::default()
        });
        p
    }

    #[test]
    fn approval_defaults_to_the_source_version_and_refuses_others() {
        let p = promotion(Some("sha-2"));
        assert_eq!(approval_version(&p, None, false).expect("default"), "sha-2");
        assert_eq!(
            approval_version(&p, Some("sha-2"), false).expect("same"),
            "sha-2"
        );
        let refused = approval_version(&p, Some("sha-1"), false).expect_err("not the source");
        assert!(refused.message.contains("dev is at sha-2"), "{refused}");
        assert!(refused.hint.is_some_and(|h| h.contains("--force")));
        assert_eq!(
            approval_version(&p, Some("sha-1"), true).expect("forced"),
            "sha-1"
        );
        let unknown = promotion(None);
        assert!(approval_version(&unknown, None, false).is_err());
        assert!(approval_version(&unknown, Some("v1"), false).is_err());
        assert_eq!(
            approval_version(&unknown, Some("v1"), true).expect("forced"),
            "v1"
        );
        let bad = promotion(Some("not a version"));
        assert!(approval_version(&bad, None, false).is_err());
    }

    #[test]
    fn the_approval_patch_is_whole_and_conditional() {
        let p = promotion(Some("sha-2"));
        let now: Timestamp = "2026-12-01T10:00:00Z".parse().expect("time");
        let patch =
            approve(&p, "sha-2", Some("alice"), now, None, Allow::default()).expect("patch");
        assert_eq!(
            patch,
            json!({
                "metadata": {"resourceVersion": "42"},
                "spec": {"approval": {
                    "version": "sha-2",
                    "approvedBy": "alice",
                    "approvedAt": "2026-12-01T10:00:00Z",
                    "note": null,
                    "allowRejected": null,
                    "overrideWindow": null,
                }},
            })
        );
        let allow = Allow {
            rejected: true,
            closed_window: false,
        };
        let patch = approve(&p, "sha-2", None, now, Some("fixed"), allow).expect("patch");
        assert_eq!(patch["spec"]["approval"]["allowRejected"], json!(true));
        assert_eq!(patch["spec"]["approval"]["overrideWindow"], Value::Null);
        let allow = Allow {
            rejected: false,
            closed_window: true,
        };
        let patch = approve(&p, "sha-2", None, now, None, allow).expect("patch");
        assert_eq!(patch["spec"]["approval"]["overrideWindow"], json!(true));
        assert_eq!(patch["spec"]["approval"]["allowRejected"], Value::Null);
        assert_eq!(pin(None), json!({"spec": {"pin": null}}));
        assert_eq!(suspend(true), json!({"spec": {"suspend": true}}));
    }
}
