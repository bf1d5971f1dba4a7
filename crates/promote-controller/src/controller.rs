//! The kube-runtime Controller: watches, the reconcile pipeline, and the error policy.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject};
use kube::core::{DeserializeGuard, PartialObjectMeta};
use kube::runtime::controller::{Action as Requeue, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use promote_api::Promotion;
use tracing::{info, instrument, warn};

use crate::context::Context;
use crate::decide::{after_write, decide};
use crate::model::Action;
use crate::observe::{application_resource, observe};
use crate::{act, report};

/// Why a reconcile failed; everything else is reported on the status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Kubernetes API refused or failed a call.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}

impl Error {
    /// A low-cardinality label for metrics.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Kube(_) => "kube",
        }
    }
}

type Guarded = DeserializeGuard<Promotion>;

/// Reconciles one Promotion: observe → decide → act → report.
#[instrument(skip_all, fields(promotion = %guarded.name_any()))]
pub async fn reconcile(guarded: Arc<Guarded>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    ctx.metrics.reconciled();
    let promotion = match &guarded.0 {
        Ok(p) => p,
        Err(invalid) => {
            // Cannot act on an object we cannot read; the API server's schema should have
            // stopped it, so this is an old object or a schema change. Wait for an edit.
            warn!(error = %invalid.error, "Promotion cannot be read");
            ctx.metrics.reconcile_error("invalid_object");
            return Ok(Requeue::await_change());
        }
    };
    let key = format!(
        "{}/{}",
        promotion.metadata.namespace.as_deref().unwrap_or_default(),
        promotion.name_any()
    );
    let (observation, remote) = observe(promotion, &key, &ctx).await;
    let decision = decide(&observation, &ctx.settings.timing);
    let requeue = decision.requeue;
    match (&decision.action, remote) {
        (Action::Write(request), Some(remote)) => {
            // Record the intent first: after a crash the next reconcile finds it and
            // recognises a commit that was already pushed instead of writing another.
            report::status(&ctx, promotion, &key, &decision.status).await?;
            report::events(&ctx, promotion, &decision.notes).await;
            let result = act::write(&ctx, promotion, &key, &remote, request).await;
            let (status, notes) = after_write(
                decision.status,
                &result,
                jiff::Timestamp::now(),
                promotion.metadata.generation,
            );
            if let crate::decide::WriteResult::Committed { commit } = &result {
                act::after_commit(&ctx, promotion, commit).await;
            }
            count_finished(&ctx, promotion, &status);
            let mut written = promotion.clone();
            written.status = None;
            report::status(&ctx, &written, &key, &status).await?;
            report::events(&ctx, promotion, &notes).await;
        }
        _ => {
            count_finished(&ctx, promotion, &decision.status);
            report::status(&ctx, promotion, &key, &decision.status).await?;
            report::events(&ctx, promotion, &decision.notes).await;
        }
    }
    Ok(Requeue::requeue(jitter(requeue)))
}

/// Spreads requeues by up to a tenth, so lanes created together do not come back together.
fn jitter(d: std::time::Duration) -> std::time::Duration {
    let spread = d.as_millis() / 10;
    let extra = u64::try_from(spread).unwrap_or(u64::MAX);
    d + std::time::Duration::from_millis(fastrand::u64(0..=extra))
}

fn finished(status: &promote_api::PromotionStatus) -> Option<String> {
    status
        .last_promotion
        .as_ref()
        .filter(|r| r.result != promote_api::PromotionResult::Running)
        .map(|r| format!("{}{:?}", r.version, r.started_at))
}

fn previous_finished(p: &Promotion) -> Option<String> {
    p.status.as_ref().and_then(finished)
}

/// Counts a promotion that just finished, and how long each of its phases took.
fn count_finished(ctx: &Context, promotion: &Promotion, status: &promote_api::PromotionStatus) {
    if previous_finished(promotion) == finished(status) {
        return;
    }
    let Some(record) = &status.last_promotion else {
        return;
    };
    ctx.metrics
        .promotion_finished(&format!("{:?}", record.result));
    let Some(start) = record.started_at.as_ref().map(|t| t.0) else {
        return;
    };
    for (phase, at) in [
        ("committed", &record.committed_at),
        ("synced", &record.synced_at),
        ("healthy", &record.healthy_at),
    ] {
        if let Some(at) = at {
            let seconds = at.0.duration_since(start).as_secs_f64();
            ctx.metrics.phase_reached(phase, seconds.max(0.0));
        }
    }
}

/// Retries with a short, growing delay; errors are counted.
pub fn error_policy(_guarded: Arc<Guarded>, error: &Error, ctx: Arc<Context>) -> Requeue {
    warn!(%error, "reconcile failed");
    ctx.metrics.reconcile_error(error.category());
    Requeue::requeue(std::time::Duration::from_secs(5))
}

/// Changes that deserve a reconcile: the spec (generation) and annotations, not status.
fn spec_or_annotations(p: &Guarded) -> Option<u64> {
    let mut hasher = DefaultHasher::new();
    p.meta().generation.hash(&mut hasher);
    p.meta().annotations.hash(&mut hasher);
    Some(hasher.finish())
}

/// Runs the controller until `shutdown` resolves. With `namespace`, only Promotions (and
/// Secrets) in that namespace are watched.
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<&str>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let promotions: Api<Guarded> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let (reader, writer) = reflector::store::<Guarded>();
    let stream = watcher(promotions, watcher::Config::default().any_semantic())
        .default_backoff()
        // The cache never needs field-manager bookkeeping; dropping it saves most of the
        // memory a cached Promotion takes.
        .modify(|p| p.meta_mut().managed_fields = None)
        .reflect(writer)
        .applied_objects()
        .predicate_filter(spec_or_annotations, Default::default());

    let apps: Api<PartialObjectMeta<DynamicObject>> =
        Api::all_with(client.clone(), &application_resource());
    let app_changes = watcher(apps, watcher::Config::default())
        .default_backoff()
        .touched_objects();
    let app_reader = reader.clone();
    let app_mapper = move |meta: PartialObjectMeta<DynamicObject>| {
        let (ns, name) = (meta.namespace().unwrap_or_default(), meta.name_any());
        referencing(&app_reader, |p| {
            [&p.spec.source.application, &p.spec.target.application]
                .into_iter()
                .flatten()
                .any(|a| a.namespace == ns && a.name == name)
        })
    };

    let secrets: Api<PartialObjectMeta<Secret>> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let secret_changes = watcher(secrets, watcher::Config::default())
        .default_backoff()
        .touched_objects();
    let secret_reader = reader.clone();
    let secret_mapper = move |meta: PartialObjectMeta<Secret>| {
        let (ns, name) = (meta.namespace().unwrap_or_default(), meta.name_any());
        referencing(&secret_reader, |p| {
            p.metadata.namespace.as_deref() == Some(ns.as_str())
                && p.spec
                    .repository
                    .credentials
                    .as_ref()
                    .is_some_and(|c| c.secret_name == name)
        })
    };

    info!("controller starting");
    let config = kube::runtime::controller::Config::default().concurrency(ctx.settings.concurrency);
    Controller::for_stream(stream, reader)
        .with_config(config)
        .watches_stream_with(app_changes, app_mapper, application_resource())
        .watches_stream(secret_changes, secret_mapper)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "reconcile did not run");
            }
        })
        .await;
    info!("controller stopped");
}

/// The Promotions in the store for which `matches` holds.
fn referencing(
    store: &Store<Guarded>,
    matches: impl Fn(&Promotion) -> bool,
) -> Vec<ObjectRef<Guarded>> {
    store
        .state()
        .iter()
        .filter(|g| g.0.as_ref().is_ok_and(&matches))
        .map(|g| ObjectRef::from_obj(g.as_ref()))
        .collect()
}
