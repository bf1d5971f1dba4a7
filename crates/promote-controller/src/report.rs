//! Report: status through server-side apply with one field manager, and Events.

use kube::Resource;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use promote_api::{FIELD_MANAGER, Promotion, PromotionStatus};
use promote_lane::Note;
use tracing::{instrument, warn};

use crate::context::Context;

/// What the API server holds of a Promotion, as far as one pass knows: the status and the
/// resourceVersion it was read or last written at.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    /// The status.
    pub status: Option<PromotionStatus>,
    /// The object's resourceVersion then.
    pub resource_version: Option<String>,
}

impl Stored {
    /// As the Promotion was read.
    pub fn of(promotion: &Promotion) -> Self {
        Self {
            status: promotion.status.clone(),
            resource_version: promotion.metadata.resource_version.clone(),
        }
    }
}

/// Writes `status` unless it equals what the API server holds. The write carries the
/// resourceVersion the decision was made on, so a status decided on a stale copy of the
/// Promotion (a watch that fell behind) is refused with a conflict instead of overwriting
/// newer state; the next reconcile decides again on the current object.
#[instrument(skip_all, fields(promotion = %key))]
pub async fn status(
    ctx: &Context,
    promotion: &Promotion,
    key: &str,
    written: &mut Stored,
    status: &PromotionStatus,
) -> Result<(), kube::Error> {
    if written.status.as_ref() == Some(status) {
        return Ok(());
    }
    let (Some(namespace), Some(name)) = (
        promotion.metadata.namespace.as_deref(),
        promotion.metadata.name.as_deref(),
    ) else {
        return Ok(());
    };
    let api: Api<Promotion> = Api::namespaced(ctx.client.clone(), namespace);
    let mut patch = serde_json::json!({
        "apiVersion": format!("{}/{}", promote_api::GROUP, promote_api::VERSION),
        "kind": "Promotion",
        "status": status,
    });
    if let Some(rv) = &written.resource_version {
        patch["metadata"] = serde_json::json!({"resourceVersion": rv});
    }
    let updated = api
        .patch_status(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    if let Some(rv) = &updated.metadata.resource_version {
        ctx.written.wrote(key, rv);
    }
    written.status = Some(status.clone());
    written.resource_version = updated.metadata.resource_version;
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
