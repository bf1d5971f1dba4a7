//! Each environment as the status shows it: its release file, its Application, and since
//! when it has been running healthy at its version (the soak clock).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use promote_api::{EnvironmentStatus, FieldValue};
use promote_argocd::{HealthStatus, SyncStatus};

use crate::observation::{AppView, GitView, Observation};

/// The status of one environment; `is_source` also requires the Application to run the
/// version (synced at a revision holding it) before the soak clock starts.
pub(crate) fn environment_status(
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
