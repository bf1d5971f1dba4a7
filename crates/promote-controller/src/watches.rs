//! The kube-runtime Controller: what is watched (Promotions, the Applications and Secrets
//! they name), how a change maps back to the lanes it concerns, and every reconcile run under
//! [`crate::supervise`].

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Controller, Error};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use promote_git::RemoteSpec;
use tracing::info;

use crate::apps::AppObject;
use crate::branches::{LaneRef, Moved};
use crate::cached::Lean;
use crate::context::Context;
use crate::observe::application_resource;
use crate::reconcile::Guarded;
use crate::supervise::{self, Supervisor};

/// Applications per page of the Application watch's list.
const APP_PAGE: u32 = 100;

/// Promotions per page of the Promotion watch's list: a page is parsed whole (every object
/// first buffered as a generic value, managed fields included, then dropped), and what the
/// allocator took for that peak stays resident.
const PROMOTION_PAGE: u32 = 100;

/// Branch checks made at once.
const BRANCH_CHECKS_AT_ONCE: usize = 4;

/// Changes that deserve a reconcile: the spec (generation) and annotations, not status.
fn spec_or_annotations(p: &Guarded) -> Option<u64> {
    let mut hasher = DefaultHasher::new();
    p.meta().generation.hash(&mut hasher);
    p.meta().annotations.hash(&mut hasher);
    Some(hasher.finish())
}

/// Runs the controller until `shutdown` resolves. With `namespace`, only Promotions (and
/// Secrets) in that namespace are watched. Every watch call asks the server to end it after
/// `watch_timeout_secs`, below the client's read timeout, so an idle watch is not mistaken for
/// a hung server.
pub async fn run(
    sup: Arc<Supervisor>,
    namespace: Option<&str>,
    watch_timeout_secs: u32,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let client = sup.ctx.client.clone();
    let watch_config = || watcher::Config::default().timeout(watch_timeout_secs);
    let promotions: Api<Guarded> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let (reader, writer) = reflector::store::<Guarded>();
    // Turns true once the store holds the first complete list. Not `Store::wait_until_ready`:
    // its one-shot remembers only the last task that polled it, so of several tasks waiting
    // on it all but one would wait for ever.
    let (listed_tx, listed) = tokio::sync::watch::channel(false);
    let stream = watcher(
        promotions,
        watch_config().any_semantic().page_size(PROMOTION_PAGE),
    )
    .default_backoff()
    // The cache never needs field-manager bookkeeping; dropping it saves most of the
    // memory a cached Promotion takes.
    .modify(|p| p.meta_mut().managed_fields = None)
    .reflect(writer)
    .inspect_ok(forget_deleted(sup.ctx.clone()))
    .inspect_ok(move |event| {
        if matches!(event, watcher::Event::InitDone) {
            listed_tx.send_replace(true);
        }
    })
    .applied_objects()
    .predicate_filter(spec_or_annotations, Default::default());

    // Whole Applications, so reconciles read them from the cache instead of two GETs each;
    // only the pure view of those in admitted namespaces is kept.
    let apps: Api<AppObject> = Api::all_with(client.clone(), &application_resource());
    let app_ctx = sup.ctx.clone();
    // Small pages: a page of whole objects is parsed at once.
    let app_changes = watcher(apps, watch_config().page_size(APP_PAGE))
        .default_backoff()
        .inspect_ok(move |event| app_ctx.apps.apply(event))
        .touched_objects();
    let app_mapper = lanes_naming_application(reader.clone());

    let secrets: Api<PartialObjectMeta<Secret>> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let secret_changes = watcher(secrets, watch_config())
        .default_backoff()
        .touched_objects();
    let secret_mapper = lanes_naming_secret(reader.clone());

    // Lanes whose branch moved since their last reconcile read it.
    let (wake, mut woken) = tokio::sync::mpsc::unbounded_channel::<LaneRef>();
    let checker = tokio::spawn(check_branches(sup.ctx.clone(), listed.clone(), wake));
    let branch_moves = futures::stream::poll_fn(move |cx| woken.poll_recv(cx))
        .map(|(ns, name)| ObjectRef::<Guarded>::new(&name).within(&ns));

    let sweeper = tokio::spawn(sweep_caches(
        sup.ctx.clone(),
        reader.clone(),
        listed.clone(),
    ));
    let lane_sweeper = tokio::spawn(sweep_lane_metrics(
        sup.ctx.clone(),
        reader.clone(),
        listed.clone(),
    ));
    let ctx = sup.ctx.clone();
    info!("controller starting");
    let config =
        kube::runtime::controller::Config::default().concurrency(sup.ctx.settings.concurrency);
    let health = sup.health.clone();
    let early = stopped_before_ready(stop.clone(), listed.clone());
    let shutdown = async move {
        let mut stop = stop;
        let _ = stop.wait_for(|s| *s).await;
    };
    let controller = Controller::for_stream(stream, reader)
        .with_config(config)
        .watches_stream_with(app_changes, app_mapper, application_resource())
        .watches_stream(secret_changes, secret_mapper)
        .reconcile_on(branch_moves)
        .graceful_shutdown_on(shutdown)
        .run(supervise::reconcile, supervise::error_policy, sup)
        .for_each(|result| {
            if let Err(Error::ObjectNotFound(gone)) = &result {
                // Deleted: nothing of it waits to be retried any more.
                let ns = gone.namespace.as_deref().unwrap_or_default();
                health.forget(&format!("{ns}/{}", gone.name));
            } else if let Err(e) = &result {
                tracing::debug!(error = %e, "reconcile did not run");
            }
            async {}
        });
    tokio::select! {
        () = controller => {}
        () = early => info!("stopped before the first list of Promotions completed"),
    }
    sweeper.abort();
    lane_sweeper.abort();
    checker.abort();
    // A replica that no longer reconciles would export its last values as if current.
    ctx.metrics.lanes().clear();
    info!("controller stopped");
}

/// Maps an Application change to the lanes that name it as their source or target.
fn lanes_naming_application(
    reader: Store<Guarded>,
) -> impl Fn(AppObject) -> Vec<ObjectRef<Guarded>> + Send + Sync + 'static {
    move |meta: AppObject| {
        let (ns, name) = (meta.namespace().unwrap_or_default(), meta.name_any());
        referencing(&reader, |p| {
            [&p.spec.source.application, &p.spec.target.application]
                .into_iter()
                .flatten()
                .any(|a| a.namespace == ns && a.name == name)
        })
    }
}

/// Maps a Secret change to the lanes of its namespace that read it: repository credentials
/// or the signing key.
fn lanes_naming_secret(
    reader: Store<Guarded>,
) -> impl Fn(PartialObjectMeta<Secret>) -> Vec<ObjectRef<Guarded>> + Send + Sync + 'static {
    move |meta: PartialObjectMeta<Secret>| {
        let (ns, name) = (meta.namespace().unwrap_or_default(), meta.name_any());
        referencing(&reader, |p| {
            let repository = &p.spec.repository;
            p.metadata.namespace.as_deref() == Some(ns.as_str())
                && (repository
                    .credentials
                    .as_ref()
                    .is_some_and(|c| c.secret_name == name)
                    || repository
                        .signing
                        .as_ref()
                        .is_some_and(|s| s.secret_name == name))
        })
    }
}

/// Resolves when a stop is asked for before the store of Promotions is ready. The
/// controller's graceful stop waits for its runner, which starts nothing until the store is
/// ready; once the stop cuts the watch, the store never becomes ready and that wait would never
/// end. No reconcile can be running then, so the controller is simply dropped.
async fn stopped_before_ready(
    mut stop: tokio::sync::watch::Receiver<bool>,
    listed: tokio::sync::watch::Receiver<bool>,
) {
    let _ = stop.wait_for(|s| *s).await;
    if *listed.borrow() {
        std::future::pending::<()>().await;
    }
}

/// Waits until the store of Promotions holds the first complete list; false when the
/// controller is gone first.
async fn first_list(mut listed: tokio::sync::watch::Receiver<bool>) -> bool {
    listed.wait_for(|l| *l).await.is_ok()
}

/// Checks every registered branch every `--resync` ([`crate::branches`]), sending the lanes
/// to wake to `wake`, until the controller is gone.
async fn check_branches(
    ctx: Arc<Context>,
    listed: tokio::sync::watch::Receiver<bool>,
    wake: tokio::sync::mpsc::UnboundedSender<LaneRef>,
) {
    if !first_list(listed).await {
        return;
    }
    let mut ticks = tokio::time::interval(ctx.settings.branch_check);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate; the reconciles that fill the registry have just begun.
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let branches = ctx.branches.snapshot();
        let mut checks = futures::stream::iter(branches)
            .map(|(remote, branch)| {
                let ctx = ctx.clone();
                async move {
                    let tip = ctx.engine.tip(&remote, &branch).await;
                    crate::observe::count_tip(&ctx, tip.as_ref().map(|t| t.check));
                    let tip = tip.ok().map(|t| t.commit.to_string());
                    let moved = ctx.branches.moved(&remote, &branch, tip.as_deref());
                    let woken = concerned(&ctx, &remote, &branch, tip.as_deref(), moved).await;
                    tracing::debug!(repo = %remote.url, branch, woken = woken.len(), "branch checked");
                    woken
                }
            })
            .buffer_unordered(BRANCH_CHECKS_AT_ONCE);
        while let Some(lanes) = checks.next().await {
            for lane in lanes {
                if wake.send(lane).is_err() {
                    return;
                }
            }
        }
    }
}

/// Of the lanes whose branch moved, those the move concerns: every lane when the check failed
/// or started to work again, otherwise the lanes with a file that differs between the tip they
/// read and the new one (or that cannot be compared). All of them are marked as told.
async fn concerned(
    ctx: &Context,
    remote: &RemoteSpec,
    branch: &str,
    tip: Option<&str>,
    moved: Vec<Moved>,
) -> Vec<LaneRef> {
    // The lanes of a repository nearly always saw the same tip: compare once per tip seen.
    let mut unchanged: HashMap<&str, HashMap<String, bool>> = HashMap::new();
    if let Some(to) = tip {
        let mut by_tip: HashMap<&str, Vec<String>> = HashMap::new();
        for m in &moved {
            if let Some(from) = m.seen.tip.as_deref() {
                by_tip
                    .entry(from)
                    .or_default()
                    .extend(m.seen.files.iter().cloned());
            }
        }
        for (from, mut files) in by_tip {
            files.sort();
            files.dedup();
            if let Ok(same) = ctx.engine.files_unchanged(remote, from, to, &files).await {
                unchanged.insert(from, files.into_iter().zip(same).collect());
            }
        }
    }
    let mut woken = Vec::new();
    for m in &moved {
        let from = m.seen.tip.as_deref();
        let quiet = from
            .and_then(|f| unchanged.get(f))
            .is_some_and(|verdicts| m.seen.files.iter().all(|f| verdicts.get(f) == Some(&true)));
        if ctx.branches.told(remote, branch, &m.key, from, tip) && !quiet {
            woken.push(m.seen.lane.clone());
        }
    }
    woken
}

/// How often the repository caches of URLs no Promotion names any more are removed.
const CACHE_SWEEP: std::time::Duration = std::time::Duration::from_secs(600);

/// Removes, every [`CACHE_SWEEP`], the bare caches of repositories that no Promotion in the
/// store names, so a cluster's churn of lanes does not fill the cache volume.
async fn sweep_caches(
    ctx: Arc<Context>,
    store: Store<Guarded>,
    listed: tokio::sync::watch::Receiver<bool>,
) {
    if !first_list(listed).await {
        return;
    }
    let mut every = tokio::time::interval(CACHE_SWEEP);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let urls: Vec<promote_git::RepoUrl> = store
            .state()
            .iter()
            .filter_map(|g| g.0.as_ref().ok())
            .filter_map(|p| promote_git::RepoUrl::parse(&p.spec.repository.url).ok())
            .collect();
        match ctx.engine.retain_caches(urls.iter()).await {
            Ok(0) => {}
            Ok(removed) => info!(removed, "removed repository caches no Promotion names"),
            Err(e) => tracing::warn!(error = %e, "cannot sweep the repository caches"),
        }
    }
}

/// Drops the lane series and the branch registration of a Promotion the watch reports
/// deleted.
fn forget_deleted(ctx: Arc<Context>) -> impl FnMut(&watcher::Event<Guarded>) {
    move |event| {
        if let watcher::Event::Delete(gone) = event {
            let key = format!(
                "{}/{}",
                gone.namespace().unwrap_or_default(),
                gone.name_any()
            );
            ctx.metrics.lanes().forget(&key);
            ctx.branches.forget(&key);
        }
    }
}

/// How often lane series are checked against the store of Promotions.
const LANE_SWEEP: std::time::Duration = std::time::Duration::from_secs(60);

/// Drops, every [`LANE_SWEEP`], the lane series of Promotions the store no longer holds: one
/// deleted while the watch was down (a re-list reports no deletion), or whose reconcile ended
/// after the delete was seen.
async fn sweep_lane_metrics(
    ctx: Arc<Context>,
    store: Store<Guarded>,
    listed: tokio::sync::watch::Receiver<bool>,
) {
    if !first_list(listed).await {
        return;
    }
    let mut every = tokio::time::interval(LANE_SWEEP);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let known: std::collections::HashSet<String> = store
            .state()
            .iter()
            .map(|g| format!("{}/{}", g.namespace().unwrap_or_default(), g.name_any()))
            .collect();
        ctx.metrics.lanes().retain(|key| known.contains(key));
    }
}

/// The Promotions in the store for which `matches` holds.
fn referencing(store: &Store<Guarded>, matches: impl Fn(&Lean) -> bool) -> Vec<ObjectRef<Guarded>> {
    store
        .state()
        .iter()
        .filter(|g| g.0.as_ref().is_ok_and(&matches))
        .map(|g| ObjectRef::from_obj(g.as_ref()))
        .collect()
}
