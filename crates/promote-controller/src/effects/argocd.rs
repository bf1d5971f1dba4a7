//! The Argo CD effects: a sync request to the promotion's commit, and a refresh.

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use promote_api::conditions::reasons;
use promote_api::{ApplicationRef, FIELD_MANAGER};
use promote_argocd::{Application, ArgoError, Refresh, refresh_patch, sync_source_patch};
use promote_lane::{Failure, SyncResult};
use tracing::{instrument, warn};

use crate::context::Context;
use crate::observe::application_resource;

/// Tries of a sync request that lost a race with another writer of the Application (Argo CD
/// updates its status often; the patch carries the resourceVersion it was built on).
const SYNC_TRIES: usize = 3;

fn api(ctx: &Context, app: &ApplicationRef) -> Api<DynamicObject> {
    Api::namespaced_with(ctx.client.clone(), &app.namespace, &application_resource())
}

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    }
}

/// Starts a sync of `app` to `revision`, as `argocd app sync --revision` would. Refused (so
/// the plan falls back to a refresh) while an operation runs or when the Application cannot
/// be read.
#[instrument(skip_all, fields(application = %app.name, %revision))]
pub(crate) async fn request_sync(
    ctx: &Context,
    app: &ApplicationRef,
    repo_url: &str,
    revision: &str,
) -> SyncResult {
    let api = api(ctx, app);
    let name = format!("{}/{}", app.namespace, app.name);
    for _ in 0..SYNC_TRIES {
        let current = match api.get_opt(&app.name).await {
            Ok(Some(obj)) => serde_json::to_value(obj)
                .map_err(|e| e.to_string())
                .and_then(|v| Application::from_json(&v).map_err(|e| e.to_string())),
            Ok(None) => Err(format!("Application {name} does not exist")),
            Err(e) => Err(format!("cannot read Application {name}: {e}")),
        };
        let current = match current {
            Ok(app) => app,
            Err(message) => {
                return SyncResult::Refused(Failure::transient(
                    reasons::APPLICATION_NOT_FOUND,
                    message,
                ));
            }
        };
        let patch = match sync_source_patch(&current, repo_url, revision, &ctx.settings.identity) {
            Ok(patch) => patch,
            Err(e @ ArgoError::OperationRunning { .. }) => {
                return SyncResult::Refused(Failure::transient(e.category(), e.to_string()));
            }
            Err(e) => {
                return SyncResult::Failed(Failure::permanent(e.category(), e.to_string()));
            }
        };
        match api.patch(&app.name, &params(), &Patch::Merge(patch)).await {
            Ok(_) => return SyncResult::Requested,
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(e) => {
                warn!(error = %e, "cannot request a sync");
                return SyncResult::Failed(Failure::transient(
                    reasons::SYNC_REQUEST_FAILED,
                    format!("cannot request a sync of {name}: {e}"),
                ));
            }
        }
    }
    SyncResult::Failed(Failure::transient(
        reasons::SYNC_REQUEST_FAILED,
        format!("{name} kept changing while a sync was requested ({SYNC_TRIES} tries)"),
    ))
}

/// Asks Argo CD to compare `app` with Git now.
#[instrument(skip_all, fields(application = %app.name))]
pub(crate) async fn refresh(ctx: &Context, app: &ApplicationRef) -> Result<(), Failure> {
    api(ctx, app)
        .patch(
            &app.name,
            &params(),
            &Patch::Merge(refresh_patch(Refresh::Normal)),
        )
        .await
        .map(|_| ())
        .map_err(|e| {
            warn!(error = %e, "cannot ask Argo CD to refresh");
            Failure::transient(
                reasons::API_ERROR,
                format!(
                    "cannot refresh Application {}/{}: {e}",
                    app.namespace, app.name
                ),
            )
        })
}
