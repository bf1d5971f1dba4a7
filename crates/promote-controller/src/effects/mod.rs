//! Carrying out the plan's effects, one at a time; each outcome is returned as data for the
//! lane to fold in. Nothing here chooses what to do next.

mod argocd;
mod git;
pub mod probe;

use promote_api::Promotion;
use promote_api::conditions::reasons;
use promote_git::RemoteSpec;
use promote_lane::{Effect, EffectOutcome, Failure};

use crate::context::Context;
use crate::report::{self, Stored};

/// Carries out `effect`. `written` is the status the API server holds as far as this pass
/// knows; recording the intent updates it.
pub(crate) async fn carry_out(
    ctx: &Context,
    promotion: &Promotion,
    key: &str,
    remote: Option<&RemoteSpec>,
    written: &mut Stored,
    effect: Effect,
) -> EffectOutcome {
    match effect {
        Effect::RecordIntent { status, notes } => {
            let recorded = report::status(ctx, promotion, key, written, &status).await;
            match recorded {
                Ok(()) => {
                    report::events(ctx, promotion, &notes).await;
                    EffectOutcome::Recorded(Ok(()))
                }
                Err(e) => EffectOutcome::Recorded(Err(Failure::transient(
                    reasons::API_ERROR,
                    format!("cannot write the status: {e}"),
                ))),
            }
        }
        Effect::Write(request) => EffectOutcome::Written(match remote {
            Some(remote) => git::write(ctx, promotion, key, remote, &request).await,
            None => git::no_remote(),
        }),
        Effect::RequestSync {
            application,
            revision,
        } => {
            let repo_url = &promotion.spec.repository.url;
            let result = argocd::request_sync(ctx, &application, repo_url, &revision).await;
            EffectOutcome::SyncRequested(result)
        }
        Effect::Refresh { application } => {
            EffectOutcome::Refreshed(argocd::refresh(ctx, &application).await)
        }
        Effect::ListChanges {
            commit,
            file,
            field,
            since,
        } => match remote {
            Some(remote) => git::list_changes(ctx, remote, &commit, &file, &field, &since).await,
            None => EffectOutcome::Listed {
                changes: Vec::new(),
                complete: false,
            },
        },
        Effect::Probe(request) => {
            let namespace = promotion.metadata.namespace.as_deref().unwrap_or("default");
            EffectOutcome::Probed(probe::probe(ctx, namespace, &request).await)
        }
    }
}
