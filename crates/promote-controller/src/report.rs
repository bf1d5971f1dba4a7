//! Report: status through server-side apply with one field manager, and Events.

use kube::Resource;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use promote_api::{FIELD_MANAGER, Promotion, PromotionStatus};
use promote_lane::Note;
use tracing::{instrument, warn};

use crate::context::Context;

/// Writes `status` unless it equals `written`, the status the API server already holds.
#[instrument(skip_all, fields(promotion = %key))]
pub async fn status(
    ctx: &Context,
    promotion: &Promotion,
    key: &str,
    written: Option<&PromotionStatus>,
    status: &PromotionStatus,
) -> Result<(), kube::Error> {
    if written == Some(status) {
        return Ok(());
    }
    let (Some(namespace), Some(name)) = (
        promotion.metadata.namespace.as_deref(),
        promotion.metadata.name.as_deref(),
    ) else {
        return Ok(());
    };
    let api: Api<Promotion> = Api::namespaced(ctx.client.clone(), namespace);
    let patch = serde_json::json!({
        "apiVersion": format!("{}/{}", promote_api::GROUP, promote_api::VERSION),
        "kind": "Promotion",
        "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

/// Records Events through the shared recorder; failures are logged, not fatal.
pub async fn events(ctx: &Context, promotion: &Promotion, notes: &[Note]) {
    let reference = promotion.object_ref(&());
    for note in notes {
        let event = Event {
            type_: if note.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: note.reason.to_owned(),
            note: Some(truncate(&note.message, 1000)),
            action: "Reconcile".to_owned(),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&event, &reference).await {
            warn!(error = %e, reason = note.reason, "cannot record Event");
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}...", &s[..cut])
}
