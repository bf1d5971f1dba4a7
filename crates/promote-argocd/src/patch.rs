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
    operation_patch(app, revision.map(|r| json!({"revision": r})), initiated_by)
}

/// [`sync_operation_patch`] to `revision` of the source whose repository is `repo_url`: for
/// a multi-source Application the revision goes to that source's position only (Argo CD's
/// `revisions` with `sourcePositions`), the other sources keep their target revisions.
pub fn sync_source_patch(
    app: &Application,
    repo_url: &str,
    revision: &str,
    initiated_by: &str,
) -> Result<Value, ArgoError> {
    if app.sources.len() <= 1 {
        return sync_operation_patch(app, Some(revision), initiated_by);
    }
    let Some(i) = app.source_index(repo_url) else {
        return Err(ArgoError::Malformed {
            name: app.key(),
            reason: format!("no single source of it is the repository {repo_url}"),
        });
    };
    let position = i + 1;
    let target = json!({"revisions": [revision], "sourcePositions": [position]});
    operation_patch(app, Some(target), initiated_by)
}

fn operation_patch(
    app: &Application,
    revision: Option<Value>,
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
    if let Some(Value::Object(revision)) = revision {
        for (k, v) in revision {
            sync[k] = v;
        }
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

    #[test]
    fn a_multi_source_sync_moves_only_the_lanes_source() {
        let a = Application::from_json(&json!({
            "metadata": {"name": "web-prod", "namespace": "argocd", "resourceVersion": "3"},
            "spec": {"sources": [
                {"repoURL": "https://charts.example.com", "chart": "web"},
                {"repoURL": "https://git.example.com/web-core.git", "path": "deploy"},
            ]},
        }))
        .expect("parses");
        let p =
            sync_source_patch(&a, "https://git.example.com/web-core", "abc", "x").expect("allowed");
        assert_eq!(p["operation"]["sync"]["revisions"], json!(["abc"]));
        assert_eq!(p["operation"]["sync"]["sourcePositions"], json!([2]));
        assert!(p["operation"]["sync"].get("revision").is_none());
        let err = sync_source_patch(&a, "https://git.example.com/other.git", "abc", "x")
            .expect_err("not a source");
        assert!(!err.is_retryable());
        // One source: the plain revision.
        let one = app(json!({}), None);
        let p = sync_source_patch(&one, "https://git.example.com/web-core.git", "abc", "x")
            .expect("allowed");
        assert_eq!(p["operation"]["sync"]["revision"], "abc");
    }
}
