//! Drift: the release files of the two environments, and Git against what runs live.

use promote_api::{Drift, EnvironmentDrift, ReleaseDrift};
use promote_argocd::SyncStatus;

use crate::observation::{AppView, Observation};

/// Release drift and live drift of both environments.
pub(crate) fn drift(
    obs: &Observation,
    source: Option<&Vec<String>>,
    target: Option<&Vec<String>>,
) -> Drift {
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
