//! Act: the one write a decision asks for, and the Argo CD refresh after it.

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use promote_api::{FIELD_MANAGER, Promotion, RecordKind};
use promote_argocd::{Application, Refresh, refresh_patch, sync_operation_patch};
use promote_git::{
    Identity, Outcome, PromotionRequest, RemoteSpec, Source, TRAILER_PROMOTION, TRAILER_VERSION,
    Target, TrailerQuery,
};
use tracing::{instrument, warn};

use crate::context::Context;
use crate::decide::WriteResult;
use crate::model::WriteRequest;
use crate::observe::{application_resource, git_failure};

/// How many recent commits are searched for one of ours after a restart.
const RECOGNITION_DEPTH: usize = 200;

/// Writes the values as one commit, or recognises a commit of ours that already did.
#[instrument(skip_all, fields(promotion = %key, version = %request.version))]
pub async fn write(
    ctx: &Context,
    promotion: &Promotion,
    key: &str,
    remote: &RemoteSpec,
    request: &WriteRequest,
) -> WriteResult {
    let spec = &promotion.spec;
    let branch = &spec.repository.branch;
    let fields: Vec<&str> = spec.fields.iter().map(String::as_str).collect();
    let source = match request.kind {
        RecordKind::Promotion => Source::file(&spec.source.values_file, &fields)
            .environment(&request.from_environment)
            .expect(request.values.clone()),
        RecordKind::Rollback | RecordKind::Reset => Source::Values {
            label: match (&spec.pin, request.approved_by.as_deref()) {
                (Some(pin), _) if pin == &request.version => "pin".to_owned(),
                _ => "rollback".to_owned(),
            },
            values: request.values.clone(),
        },
    };
    let mut git_request = PromotionRequest::new(
        remote.clone(),
        branch.clone(),
        key,
        source,
        Target::new(&request.file, &fields).environment(&request.environment),
    )
    .expect_target(request.expected.clone())
    .author(Identity::new(
        ctx.settings.identity.clone(),
        "promote@localhost",
    ));
    if let Some(who) = &request.approved_by {
        git_request = git_request.approved_by(who.clone());
    }
    let outcome = ctx.engine.promote(git_request).await;
    ctx.heads.forget(remote, branch);
    match outcome {
        Ok(Outcome::Committed(c)) => {
            ctx.metrics.git_operation("push", "committed");
            ctx.metrics
                .push_retries(u64::from(c.attempts.saturating_sub(1)));
            WriteResult::Committed {
                commit: c.commit.to_string(),
            }
        }
        Ok(Outcome::InSync { .. }) => {
            ctx.metrics.git_operation("push", "in_sync");
            let query = TrailerQuery::new()
                .with(TRAILER_PROMOTION, key)
                .with(TRAILER_VERSION, &request.version);
            match ctx
                .engine
                .find_commit(remote, branch, &query, RECOGNITION_DEPTH)
                .await
            {
                Ok(Some(found)) => WriteResult::Committed {
                    commit: found.commit.to_string(),
                },
                Ok(None) => WriteResult::AlreadyThere,
                Err(e) => WriteResult::Failed(git_failure(&e)),
            }
        }
        Ok(Outcome::Conflict(c)) => {
            ctx.metrics.git_operation("push", "conflict");
            let by = c
                .changed_by
                .as_ref()
                .map(|b| format!(" by {} ({}, {})", b.commit.short(), b.author, b.summary))
                .unwrap_or_default();
            WriteResult::Conflict {
                message: format!(
                    "{} {} is {} but the decision was made on {}; changed{by}",
                    c.file, c.field, c.found, c.expected
                ),
            }
        }
        Err(e) => {
            ctx.metrics.git_operation("push", e.category());
            WriteResult::Failed(git_failure(&e))
        }
    }
}

/// After a commit: asks Argo CD to refresh the target Application and, when its auto-sync
/// is off, requests a sync to the commit (the lane's approval is the gate), unless an
/// operation is already running.
pub async fn after_commit(ctx: &Context, promotion: &Promotion, commit: &str) {
    let Some(app) = &promotion.spec.target.application else {
        return;
    };
    let api: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &app.namespace, &application_resource());
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    let current = api
        .get_opt(&app.name)
        .await
        .ok()
        .flatten()
        .and_then(|o| serde_json::to_value(o).ok())
        .and_then(|v| Application::from_json(&v).ok());
    if let Some(current) = current.filter(|a| !a.sync_policy.auto_sync) {
        match sync_operation_patch(&current, Some(commit), &ctx.settings.identity) {
            Ok(patch) => {
                if let Err(e) = api.patch(&app.name, &params, &Patch::Merge(patch)).await {
                    warn!(application = %app.name, error = %e, "cannot request a sync");
                }
                return;
            }
            Err(e) => warn!(application = %app.name, error = %e, "not requesting a sync"),
        }
    }
    if let Err(e) = api
        .patch(
            &app.name,
            &params,
            &Patch::Merge(refresh_patch(Refresh::Normal)),
        )
        .await
    {
        warn!(application = %app.name, error = %e, "cannot ask Argo CD to refresh");
    }
}
