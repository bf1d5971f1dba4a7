//! The writes Promote makes to an Application, as JSON merge patches.

use serde_json::{Value, json};

use crate::{Application, ArgoError};

/// Annotation that asks Argo CD to refresh an Application; Argo CD removes it when done.
pub const REFRESH_ANNOTATION: &str = "argocd.argoproj.io/refresh";

/// How hard Argo CD should refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// Compare with Git again.
    Normal,
    /// Also regenerate manifests, bypassing Argo CD's manifest cache.
    Hard,
}

impl Refresh {
    fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Hard => "hard",
        }
    }
}

/// A merge patch that asks Argo CD to refresh the Application.
pub fn refresh_patch(refresh: Refresh) -> Value {
    json!({"metadata": {"annotations": {REFRESH_ANNOTATION: refresh.as_str()}}})
}

/// A merge patch that starts a sync to `revision` (the branch tip when None), the way
/// `argocd app sync` does: write `.operation` and clear `status.operationState` in the same
/// update. It carries the resourceVersion it was decided on, so the API server rejects it
/// with a conflict if the Application changed meanwhile (an operation started by someone
/// else, say). Refused when an operation is already running.
pub fn sync_operation_patch(
    app: &Application,
    revision: Option<&str>,
    initiated_by: &str,
) -> Result<Value, ArgoError> {
    if app.operation_running() {
        let phase = app
            .operation_state
            .as_ref()
            .filter(|o| o.phase.is_running())
            .map_or("Requested", |o| o.phase.as_str());
        return Err(ArgoError::OperationRunning {
            name: app.key(),
            phase: phase.to_owned(),
        });
    }
    let mut sync = json!({"syncStrategy": {"hook": {}}});
    if let Some(revision) = revision {
        sync["revision"] = json!(revision);
    }
    let mut patch = json!({
        "operation": {
            "initiatedBy": {"username": initiated_by},
            "info": [{"name": "Reason", "value": "promotion"}],
            "sync": sync,
        },
        "status": {"operationState": null},
    });
    if let Some(rv) = &app.resource_version {
        patch["metadata"] = json!({"resourceVersion": rv});
    }
    Ok(patch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(status: Value, operation: Option<Value>) -> Application {
        let mut v = json!({"metadata": {"name": "web-prod", "namespace": "argocd", "resourceVersion": "7"},
                           "status": status});
        if let Some(op) = operation {
            v["operation"] = op;
        }
        Application::from_json(&v).expect("parses")
    }

    #[test]
    fn refresh_sets_the_annotation() {
        assert_eq!(
            refresh_patch(Refresh::Hard),
            json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": "hard"}}})
        );
    }

    #[test]
    fn sync_writes_operation_and_clears_operation_state() {
        let a = app(json!({"operationState": {"phase": "Succeeded"}}), None);
        let p = sync_operation_patch(&a, Some("abc123"), "promote-operator").expect("allowed");
        assert_eq!(p["operation"]["sync"]["revision"], "abc123");
        assert_eq!(
            p["operation"]["initiatedBy"]["username"],
            "promote-operator"
        );
        assert!(p["status"]["operationState"].is_null());
        assert!(
            p["status"]
                .as_object()
                .expect("status")
                .contains_key("operationState")
        );
        assert_eq!(p["metadata"]["resourceVersion"], "7");
        let p = sync_operation_patch(&a, None, "x").expect("allowed");
        assert!(p["operation"]["sync"].get("revision").is_none());
    }

    #[test]
    fn sync_is_refused_while_an_operation_runs() {
        let running = app(json!({"operationState": {"phase": "Running"}}), None);
        let err = sync_operation_patch(&running, None, "x").expect_err("refused");
        assert!(err.is_retryable());
        assert!(err.to_string().contains("Running"));
        let requested = app(json!({}), Some(json!({"sync": {}})));
        assert!(sync_operation_patch(&requested, None, "x").is_err());
    }
}
