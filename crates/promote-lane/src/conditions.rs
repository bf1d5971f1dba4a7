//! The lane's conditions, each stamped with the generation it was decided on.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use promote_api::conditions::{self, reasons, types};
use promote_api::{Drift, Phase, Policy, PolicyCheck, PromotionRecord, PromotionResult};

use crate::observation::Failure;
use crate::record::kind_word;

/// Stalled: True with the failure's reason while the lane cannot go on without a change.
pub(crate) fn stalled_condition(
    stalled: Option<&Failure>,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    match stalled {
        Some(f) => conditions::new(types::STALLED, true, f.reason, &f.message, generation, now),
        None => conditions::new(types::STALLED, false, reasons::IDLE, "", generation, now),
    }
}

pub(crate) fn ready_condition(
    phase: Phase,
    message: &str,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    let ready = matches!(
        phase,
        Phase::InSync | Phase::Promoted | Phase::AwaitingApproval | Phase::Gated | Phase::Suspended
    );
    conditions::new(
        types::READY,
        ready,
        phase.as_str(),
        message,
        generation,
        now,
    )
}

pub(crate) fn drifted_condition(
    drift: Option<&Drift>,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    let Some(d) = drift else {
        return conditions::unknown(types::DRIFTED, reasons::IDLE, "", generation, now);
    };
    let mut parts = Vec::new();
    let mut reason = reasons::NO_DRIFT;
    if d.release.drifted {
        reason = reasons::RELEASE_DRIFT;
        parts.push(format!(
            "release: {}",
            d.release.message.as_deref().unwrap_or("")
        ));
    }
    for (side, env) in [("source", &d.source), ("target", &d.target)] {
        if env.git_vs_live.as_deref() == Some("OutOfSync") {
            if reason == reasons::NO_DRIFT {
                reason = reasons::LIVE_DRIFT;
            }
            parts.push(format!(
                "{side}: {}",
                env.reason.as_deref().unwrap_or("OutOfSync")
            ));
        } else if !env.overridden_fields.is_empty() {
            if reason == reasons::NO_DRIFT {
                reason = reasons::OVERRIDDEN;
            }
            parts.push(format!("{side}: {}", env.reason.as_deref().unwrap_or("")));
        }
    }
    conditions::new(
        types::DRIFTED,
        d.drifted,
        reason,
        parts.join("; "),
        generation,
        now,
    )
}

pub(crate) fn policy_condition(
    policy: Option<&Policy>,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    let checks: Vec<&PolicyCheck> = policy
        .into_iter()
        .flat_map(|p| [p.source.as_ref(), p.target.as_ref()])
        .flatten()
        .collect();
    if checks.is_empty() {
        return conditions::unknown(
            types::POLICY_COMPLIANT,
            reasons::APPLICATION_NOT_FOUND,
            "no Argo CD Application is configured for either environment",
            generation,
            now,
        );
    }
    let failing: Vec<&str> = checks
        .iter()
        .filter(|c| !c.compliant)
        .filter_map(|c| c.message.as_deref())
        .collect();
    if failing.is_empty() {
        let names: Vec<&str> = checks
            .iter()
            .filter_map(|c| c.application.as_deref())
            .collect();
        return conditions::new(
            types::POLICY_COMPLIANT,
            true,
            reasons::COMPLIANT,
            format!("self-heal is as expected on {}", names.join(" and ")),
            generation,
            now,
        );
    }
    let reason = if checks.iter().any(|c| !c.compliant && c.self_heal.is_none()) {
        reasons::APPLICATION_NOT_FOUND
    } else {
        reasons::SELF_HEAL_MISMATCH
    };
    conditions::new(
        types::POLICY_COMPLIANT,
        false,
        reason,
        failing.join("; "),
        generation,
        now,
    )
}

pub(crate) fn promoting_condition(
    record: Option<&PromotionRecord>,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    match record {
        Some(r) if r.result == PromotionResult::Running => conditions::new(
            types::PROMOTING,
            true,
            if r.commit.is_some() {
                reasons::SYNCING
            } else {
                reasons::COMMITTED
            },
            format!("{} {}", kind_word(r.kind), r.version),
            generation,
            now,
        ),
        _ => conditions::new(types::PROMOTING, false, reasons::IDLE, "", generation, now),
    }
}

pub(crate) fn verified_condition(
    record: Option<&PromotionRecord>,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    let Some(r) = record else {
        return conditions::unknown(
            types::VERIFIED,
            reasons::IDLE,
            "no promotion yet",
            generation,
            now,
        );
    };
    let message = r.message.clone().unwrap_or_default();
    let (verified, reason) = match r.result {
        PromotionResult::Running => {
            return conditions::unknown(
                types::VERIFIED,
                reasons::VERIFYING,
                message,
                generation,
                now,
            );
        }
        PromotionResult::Succeeded => (true, reasons::PROMOTED),
        PromotionResult::Conflict => (false, reasons::CONFLICT),
        PromotionResult::RolledBack => (false, reasons::ROLLED_BACK),
        PromotionResult::Failed => (false, reasons::FAILED),
    };
    conditions::new(types::VERIFIED, verified, reason, message, generation, now)
}
