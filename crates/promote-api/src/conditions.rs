//! Condition types and reasons, and the rule that keeps `lastTransitionTime` honest.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// Condition types a Promotion reports.
pub mod types {
    /// The lane is where its spec says it should be and nothing is failing.
    pub const READY: &str = "Ready";
    /// The environments differ (release, or Git versus live).
    pub const DRIFTED: &str = "Drifted";
    /// Both environments' self-heal settings are what the lane expects.
    pub const POLICY_COMPLIANT: &str = "PolicyCompliant";
    /// The environments' configuration files differ only where `spec.parity.allow` allows.
    pub const PARITY_COMPLIANT: &str = "ParityCompliant";
    /// A promotion is in flight.
    pub const PROMOTING: &str = "Promoting";
    /// The last promotion was verified synced and healthy in the target.
    pub const VERIFIED: &str = "Verified";
    /// The spec cannot be acted on until it changes (bad path, missing Secret…).
    pub const STALLED: &str = "Stalled";

    /// Every condition type, in the order they are reported.
    pub const ALL: [&str; 7] = [
        READY,
        DRIFTED,
        POLICY_COMPLIANT,
        PARITY_COMPLIANT,
        PROMOTING,
        VERIFIED,
        STALLED,
    ];
}

/// Reasons: CamelCase, low cardinality, also used as Event reasons.
pub mod reasons {
    pub const IN_SYNC: &str = "InSync";
    pub const AWAITING_APPROVAL: &str = "AwaitingApproval";
    pub const GATED: &str = "Gated";
    pub const SUSPENDED: &str = "Suspended";
    pub const COMMITTED: &str = "Committed";
    pub const SYNCING: &str = "Syncing";
    pub const VERIFYING: &str = "Verifying";
    pub const PROMOTED: &str = "Promoted";
    pub const FAILED: &str = "Failed";
    pub const ROLLED_BACK: &str = "RolledBack";
    pub const CONFLICT: &str = "Conflict";
    pub const RELEASE_DRIFT: &str = "ReleaseDrift";
    pub const LIVE_DRIFT: &str = "LiveDrift";
    pub const OVERRIDDEN: &str = "OverriddenByHelmParameters";
    pub const NO_DRIFT: &str = "NoDrift";
    pub const COMPLIANT: &str = "Compliant";
    pub const SELF_HEAL_MISMATCH: &str = "SelfHealMismatch";
    pub const APPLICATION_NOT_FOUND: &str = "ApplicationNotFound";
    pub const INVALID_SPEC: &str = "InvalidSpec";
    pub const CREDENTIALS: &str = "CredentialsError";
    pub const GIT_ERROR: &str = "GitError";
    pub const VALUES_ERROR: &str = "ValuesFileError";
    pub const SYNC_REQUEST_FAILED: &str = "SyncRequestFailed";
    pub const API_ERROR: &str = "KubernetesAPIError";
    pub const CHANGED_OUTSIDE: &str = "ChangedOutsidePromote";
    pub const IDLE: &str = "Idle";
    pub const RESET: &str = "Reset";
    pub const RESET_REFUSED: &str = "ResetRefused";
    pub const PARITY_DIFFERENCES: &str = "ParityDifferences";
    pub const CONFIG_FILE_ERROR: &str = "ConfigFileError";
    pub const WINDOW_OVERRIDDEN: &str = "WindowOverridden";
    pub const SIGNING_KEY_ERROR: &str = "SigningKeyError";

    /// Every reason above; `docs/troubleshooting.md` explains each one.
    pub const ALL: [&str; 32] = [
        IN_SYNC,
        AWAITING_APPROVAL,
        GATED,
        SUSPENDED,
        COMMITTED,
        SYNCING,
        VERIFYING,
        PROMOTED,
        FAILED,
        ROLLED_BACK,
        CONFLICT,
        RELEASE_DRIFT,
        LIVE_DRIFT,
        OVERRIDDEN,
        NO_DRIFT,
        COMPLIANT,
        SELF_HEAL_MISMATCH,
        APPLICATION_NOT_FOUND,
        INVALID_SPEC,
        CREDENTIALS,
        GIT_ERROR,
        VALUES_ERROR,
        SYNC_REQUEST_FAILED,
        API_ERROR,
        CHANGED_OUTSIDE,
        IDLE,
        RESET,
        RESET_REFUSED,
        PARITY_DIFFERENCES,
        CONFIG_FILE_ERROR,
        WINDOW_OVERRIDDEN,
        SIGNING_KEY_ERROR,
    ];
}

/// Most characters kept in a condition message; the API allows 32768.
pub const MAX_MESSAGE_LEN: usize = 4096;

/// Builds a condition stamped with `generation`; its transition time is `now` until
/// [`merge`] keeps an older one.
pub fn new(
    type_: &str,
    status: bool,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: if status { "True" } else { "False" }.to_owned(),
        reason: reason.to_owned(),
        message: truncate(message.into()),
        observed_generation: generation,
        last_transition_time: now.clone(),
    }
}

/// Builds a condition whose status is `Unknown` (the operator could not tell).
pub fn unknown(
    type_: &str,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    Condition {
        status: "Unknown".to_owned(),
        ..new(type_, false, reason, message, generation, now)
    }
}

/// Merges freshly computed conditions into the previous ones: a condition whose status,
/// reason and message did not change keeps its `lastTransitionTime`. Types absent from
/// `fresh` are kept as they were. The result is ordered by [`types::ALL`], then by type.
pub fn merge(previous: &[Condition], fresh: Vec<Condition>) -> Vec<Condition> {
    let mut out: Vec<Condition> = previous
        .iter()
        .filter(|p| !fresh.iter().any(|f| f.type_ == p.type_))
        .cloned()
        .collect();
    for mut cond in fresh {
        if let Some(old) = previous.iter().find(|p| p.type_ == cond.type_)
            && old.status == cond.status
            && old.reason == cond.reason
            && old.message == cond.message
        {
            cond.last_transition_time = old.last_transition_time.clone();
        }
        out.push(cond);
    }
    out.sort_by(|a, b| {
        order(&a.type_)
            .cmp(&order(&b.type_))
            .then(a.type_.cmp(&b.type_))
    });
    out
}

/// Finds a condition by type.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition of this type is present and True.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(|c| c.status == "True")
}

fn order(type_: &str) -> usize {
    types::ALL
        .iter()
        .position(|t| *t == type_)
        .unwrap_or(types::ALL.len())
}

fn truncate(mut message: String) -> String {
    if message.len() > MAX_MESSAGE_LEN {
        let mut cut = MAX_MESSAGE_LEN - 3;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push_str("...");
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(secs).expect("valid timestamp"))
    }

    #[test]
    fn unchanged_condition_keeps_transition_time() {
        let old = vec![new(
            types::READY,
            true,
            reasons::IN_SYNC,
            "ok",
            Some(1),
            &at(100),
        )];
        let fresh = vec![new(
            types::READY,
            true,
            reasons::IN_SYNC,
            "ok",
            Some(2),
            &at(200),
        )];
        let merged = merge(&old, fresh);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].last_transition_time, at(100));
        assert_eq!(merged[0].observed_generation, Some(2));
    }

    #[test]
    fn changed_condition_takes_new_transition_time() {
        let old = vec![new(
            types::READY,
            true,
            reasons::IN_SYNC,
            "ok",
            Some(1),
            &at(100),
        )];
        for fresh in [
            new(
                types::READY,
                false,
                reasons::IN_SYNC,
                "ok",
                Some(1),
                &at(200),
            ),
            new(types::READY, true, reasons::GATED, "ok", Some(1), &at(200)),
            new(
                types::READY,
                true,
                reasons::IN_SYNC,
                "other",
                Some(1),
                &at(200),
            ),
        ] {
            let merged = merge(&old, vec![fresh]);
            assert_eq!(merged[0].last_transition_time, at(200));
        }
    }

    #[test]
    fn absent_types_are_kept_and_order_is_stable() {
        let old = vec![
            new(types::STALLED, false, reasons::IDLE, "", Some(1), &at(1)),
            new("Custom", true, "X", "", Some(1), &at(1)),
        ];
        let fresh = vec![
            new(
                types::POLICY_COMPLIANT,
                true,
                reasons::COMPLIANT,
                "",
                Some(1),
                &at(2),
            ),
            new(types::READY, true, reasons::IN_SYNC, "", Some(1), &at(2)),
        ];
        let merged = merge(&old, fresh);
        let names: Vec<_> = merged.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(names, ["Ready", "PolicyCompliant", "Stalled", "Custom"]);
    }

    #[test]
    fn long_messages_are_truncated_on_a_char_boundary() {
        let c = new(
            types::READY,
            true,
            reasons::IN_SYNC,
            "é".repeat(5000),
            None,
            &at(1),
        );
        assert!(c.message.len() <= MAX_MESSAGE_LEN);
        assert!(c.message.ends_with("..."));
    }
}
