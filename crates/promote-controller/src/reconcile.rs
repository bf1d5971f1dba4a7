//! One reconcile of one Promotion, in one pass: validate the spec, observe (I/O), decide
//! (pure, `promote-lane`), carry out the plan's effects one by one folding each outcome in,
//! then report.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use kube::ResourceExt;
use kube::api::Api;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action as Requeue;
use promote_api::{Promotion, PromotionResult, PromotionStatus};
use promote_git::RemoteSpec;
use promote_lane::{EffectOutcome, LaneSpec, Plan, decide, invalid_spec};
use tracing::{instrument, warn};

use crate::branches::Seen;
use crate::cached::Lean;
use crate::context::Context;
use crate::observe::{Observed, observe};
use crate::report::Stored;
use crate::{effects, report};

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

/// A Promotion as the watch delivers it: parsed, or why it could not be.
pub type Guarded = DeserializeGuard<Lean>;

/// One pass over one Promotion, open while its plan's effects are carried out. Reconcile
/// runs it to the end; a test can stop it after any effect, as a crash would.
#[derive(Debug)]
pub struct Pass<'a> {
    ctx: &'a Context,
    promotion: &'a Promotion,
    key: String,
    remote: Option<RemoteSpec>,
    plan: Plan,
    /// What the API server holds, as far as this pass knows.
    written: Stored,
}

impl<'a> Pass<'a> {
    /// Validates the spec, observes Git and both Applications, and decides.
    pub async fn begin(ctx: &'a Context, promotion: &'a Promotion) -> Pass<'a> {
        let key = format!(
            "{}/{}",
            promotion.metadata.namespace.as_deref().unwrap_or_default(),
            promotion.name_any()
        );
        let previous = promotion.status.clone().unwrap_or_default();
        let generation = promotion.metadata.generation;
        let timing = &ctx.settings.timing;
        let (plan, remote) = match LaneSpec::parse(&promotion.spec, &ctx.settings.admission) {
            Ok(spec) => {
                let observed = observe(ctx, promotion, spec, &key).await;
                register_branch(ctx, promotion, &key, &observed);
                (decide(&observed.observation, timing), observed.remote)
            }
            Err(e) => {
                ctx.branches.forget(&key);
                let plan = invalid_spec(&e, &previous, generation, Timestamp::now(), timing);
                (plan, None)
            }
        };
        Pass {
            ctx,
            promotion,
            key,
            remote,
            plan,
            written: Stored::of(promotion),
        }
    }

    /// The plan as it stands.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Carries out the next effect and folds its outcome in; None when the plan is done.
    pub async fn step(&mut self) -> Option<EffectOutcome> {
        let effect = self.plan.next_effect()?;
        let outcome = effects::carry_out(
            self.ctx,
            self.promotion,
            &self.key,
            self.remote.as_ref(),
            &mut self.written,
            effect,
        )
        .await;
        self.plan.fold(outcome.clone(), Timestamp::now());
        Some(outcome)
    }

    /// Carries out what is left of the plan, then writes the status and records the Events.
    pub async fn finish(mut self) -> Result<promote_lane::Requeue, Error> {
        while self.step().await.is_some() {}
        let report = self.plan.finish();
        count_finished(self.ctx, self.promotion, &report.status);
        report::status(
            self.ctx,
            self.promotion,
            &self.key,
            &mut self.written,
            &report.status,
        )
        .await?;
        // After the write: a deleted Promotion's write fails, so its series are not revived.
        self.ctx
            .metrics
            .lanes()
            .observe(&self.key, &self.promotion.spec, &report.status);
        report::events(self.ctx, self.promotion, &report.notes).await;
        Ok(report.requeue)
    }
}

/// Tells the shared branch checks which branch this lane reads, with which access, the tip it
/// read and the files it reads there, so it is woken when that branch moves in a way that
/// concerns it; a lane without a usable repository leaves them (the Secret watch wakes it when
/// its credentials change).
fn register_branch(ctx: &Context, promotion: &Promotion, key: &str, observed: &Observed) {
    let Some(remote) = &observed.remote else {
        ctx.branches.forget(key);
        return;
    };
    let lane = (
        promotion.metadata.namespace.clone().unwrap_or_default(),
        promotion.name_any(),
    );
    let observation = &observed.observation;
    let spec = &observation.spec;
    // Every file the lane reads at the tip: a commit that changes none of them does not wake it.
    let mut files = vec![
        spec.source.values_file.clone(),
        spec.target.values_file.clone(),
    ];
    if let Some(parity) = &spec.parity {
        files.extend([parity.source_file.clone(), parity.target_file.clone()]);
    }
    let seen = Seen {
        lane,
        tip: observation.git.as_ref().ok().map(|g| g.revision.clone()),
        files,
    };
    ctx.branches.saw(key, remote, &spec.repository.branch, seen);
}

/// Reconciles one Promotion in one pass.
#[instrument(skip_all, fields(promotion = %guarded.name_any()))]
pub async fn reconcile(guarded: Arc<Guarded>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    ctx.metrics.reconciled();
    let read = match &guarded.0 {
        Ok(lean) => lean.promotion().map_err(|e| e.to_string()),
        Err(invalid) => Err(invalid.error.clone()),
    };
    let promotion = match &read {
        Ok(p) => p,
        Err(error) => {
            // Cannot act on an object we cannot read; the API server's schema should have
            // stopped it, so this is an old object or a schema change. Wait for an edit.
            warn!(%error, "Promotion cannot be read");
            ctx.metrics.reconcile_error("invalid_object");
            return Ok(Requeue::await_change());
        }
    };
    let fresh = fresher(&ctx, promotion).await?;
    let promotion = fresh.as_ref().unwrap_or(promotion);
    let requeue = Pass::begin(&ctx, promotion).await.finish().await?;
    Ok(match requeue {
        promote_lane::Requeue::After(d) => Requeue::requeue(jitter(d)),
        promote_lane::Requeue::AwaitChange => Requeue::await_change(),
    })
}

/// The Promotion read from the API server when the cached copy is older than this replica's
/// last status write (the watch has not delivered it yet); None when the copy is current.
async fn fresher(ctx: &Context, cached: &Promotion) -> Result<Option<Promotion>, Error> {
    let (Some(ns), Some(name)) = (
        cached.metadata.namespace.as_deref(),
        cached.metadata.name.as_deref(),
    ) else {
        return Ok(None);
    };
    let key = format!("{ns}/{name}");
    if !ctx
        .written
        .behind(&key, cached.metadata.resource_version.as_deref())
    {
        return Ok(None);
    }
    let fresh = Api::<Promotion>::namespaced(ctx.client.clone(), ns)
        .get_opt(name)
        .await?;
    ctx.written.forget(&key);
    Ok(fresh)
}

/// Retries with a short, growing delay; errors are counted.
pub fn error_policy(_guarded: Arc<Guarded>, error: &Error, ctx: Arc<Context>) -> Requeue {
    warn!(%error, "reconcile failed");
    ctx.metrics.reconcile_error(error.category());
    Requeue::requeue(Duration::from_secs(5))
}

/// Spreads requeues by up to a tenth, so lanes created together do not come back together.
fn jitter(d: Duration) -> Duration {
    let spread = d.as_millis() / 10;
    let extra = u64::try_from(spread).unwrap_or(u64::MAX);
    d + Duration::from_millis(fastrand::u64(0..=extra))
}

/// The finished promotion a status reports, as a comparable key.
fn finished(status: &PromotionStatus) -> Option<String> {
    status
        .last_promotion
        .as_ref()
        .filter(|r| r.result != PromotionResult::Running)
        .map(|r| format!("{}{:?}", r.version, r.started_at))
}

/// Counts a promotion that just finished, and how long each of its phases took.
fn count_finished(ctx: &Context, promotion: &Promotion, status: &PromotionStatus) {
    if promotion.status.as_ref().and_then(finished) == finished(status) {
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
