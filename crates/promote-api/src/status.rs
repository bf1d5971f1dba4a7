//! `Promotion.status`: what the operator observed, decided and did, recomputed continuously.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Observed state of a lane. Written only by the operator, through server-side apply.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PromotionStatus {
    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Where the lane stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,

    /// One sentence a person can act on: why the lane is in this phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,

    /// What runs in the source environment, in Git and in the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<EnvironmentStatus>,

    /// What runs in the target environment, in Git and in the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<EnvironmentStatus>,

    /// Where the environments differ; recomputed on every reconcile, not only during a
    /// promotion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<Drift>,

    /// Whether each environment's Argo CD self-heal setting is what the lane expects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,

    /// The most recent promotion (or rollback), with a timestamp per phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_promotion: Option<PromotionRecord>,

    /// Earlier promotions, newest first, at most 20.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub history: Vec<PromotionRecord>,

    /// The approval in the spec as the operator first saw it, and when: any change to
    /// `spec.approval` is a new approval, dated by the operator rather than by the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ObservedApproval>,

    /// Versions whose verification failed, or that a person replaced in the target after
    /// they were promoted; they are never promoted automatically again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub rejected_versions: Vec<String>,

    /// The id of the last `spec.reset` request acted on (carried out, found unneeded, or
    /// refused); a request with this id is not acted on again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reset_id: Option<String>,

    /// How the environments' configuration files compare (with `spec.parity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parity: Option<crate::ParityStatus>,

    /// Whether the release windows let a promotion move now (with `spec.windows`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<crate::WindowStatus>,

    /// Ready, Drifted, PolicyCompliant, ParityCompliant, Promoting, Verified and Stalled, each with the
    /// generation it was computed from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".to_owned()]))]
    pub conditions: Vec<Condition>,
}

/// Where a lane stands.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// The target holds the source's version (or the pinned version).
    InSync,
    /// The source has a new version that waits for a person's approval.
    AwaitingApproval,
    /// A version is ready to move but a gate (sync, health, soak time) holds it.
    Gated,
    /// The commit is being written and pushed.
    Promoting,
    /// The commit is pushed; waiting for Argo CD to sync the target to it.
    Syncing,
    /// The target is synced; waiting for it to be healthy.
    Verifying,
    /// The last promotion is synced and healthy in the target.
    Promoted,
    /// The last promotion failed; the message says why.
    Failed,
    /// Verification failed and the previous version was written back.
    RolledBack,
    /// `spec.suspend` is set; nothing is committed.
    Suspended,
}

impl Phase {
    /// Every phase, in the order a promotion moves through them.
    pub const ALL: [Phase; 10] = [
        Self::InSync,
        Self::AwaitingApproval,
        Self::Gated,
        Self::Promoting,
        Self::Syncing,
        Self::Verifying,
        Self::Promoted,
        Self::Failed,
        Self::RolledBack,
        Self::Suspended,
    ];

    /// The phase's name as it appears in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InSync => "InSync",
            Self::AwaitingApproval => "AwaitingApproval",
            Self::Gated => "Gated",
            Self::Promoting => "Promoting",
            Self::Syncing => "Syncing",
            Self::Verifying => "Verifying",
            Self::Promoted => "Promoted",
            Self::Failed => "Failed",
            Self::RolledBack => "RolledBack",
            Self::Suspended => "Suspended",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One environment as observed in Git and through its Argo CD Application.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentStatus {
    /// Environment name, from the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The version (first field) in the environment's release values file at the branch tip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Every field's value in the release values file, in `spec.fields` order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldValue>,
    /// The branch tip the versions were read at. Later commits that change none of the
    /// lane's files leave it until the lane is next reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Argo CD sync status: Synced, OutOfSync or Unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<String>,
    /// The revision Argo CD last synced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_revision: Option<String>,
    /// Argo CD health: Healthy, Progressing, Degraded, Suspended, Missing or Unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// Images running in the environment, normalised (registry prefix and digest removed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub live_images: Vec<String>,
    /// Whether Argo CD auto-sync is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_sync: Option<bool>,
    /// Whether Argo CD self-heal is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_heal: Option<bool>,
    /// Whether Argo CD prune is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune: Option<bool>,
    /// When Argo CD last reconciled the Application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciled_at: Option<Time>,
    /// Since when the current version has been Synced and Healthy here (for soak time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_since: Option<Time>,
}

/// An approval as the operator observed it.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObservedApproval {
    /// The approved version.
    pub version: String,
    /// Who approved it, as the spec says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// The time the client wrote into the approval, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_at: Option<Time>,
    /// The approval's note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The approval allows a rejected version.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_rejected: bool,
    /// The approval overrides closed release windows.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub override_window: bool,
    /// When the operator first saw this approval.
    pub observed_at: Time,
}

/// One field's value in a release values file.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FieldValue {
    /// The field's path, as in `spec.fields`.
    pub path: String,
    /// Its value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// Where the environments differ.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    /// True when any of the drifts below is reported.
    #[serde(default)]
    pub drifted: bool,
    /// The source's version differs from the target's.
    #[serde(default)]
    pub release: ReleaseDrift,
    /// Git versus live in the source environment.
    #[serde(default)]
    pub source: EnvironmentDrift,
    /// Git versus live in the target environment.
    #[serde(default)]
    pub target: EnvironmentDrift,
}

/// Release drift between the two environments' values files.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseDrift {
    /// Whether the source's version differs from the target's.
    #[serde(default)]
    pub drifted: bool,
    /// What differs, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Git versus live in one environment.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentDrift {
    /// Synced, OutOfSync or Unknown (no Application, or Argo CD has not reported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_vs_live: Option<String>,
    /// Why, in words (for example a hot-reload session with self-heal off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Fields the lane writes that the Application overrides with `helm.parameters`, so a
    /// change in the values file has no effect.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overridden_fields: Vec<String>,
}

/// Self-heal policy of both environments against what the lane expects.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// The source environment's check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<PolicyCheck>,
    /// The target environment's check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<PolicyCheck>,
}

/// One environment's self-heal policy check.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyCheck {
    /// The Application checked, as `namespace/name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    /// What the lane expects.
    pub expected_self_heal: bool,
    /// What the Application has (absent when it could not be read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_heal: Option<bool>,
    /// Whether the two agree.
    pub compliant: bool,
    /// What to change when they do not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What kind of change a record describes.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RecordKind {
    /// The source's version was copied into the target.
    #[default]
    Promotion,
    /// The previous version was written back after a failed verification, or a pin.
    Rollback,
    /// The target's version was written back into the source (`spec.reset`: dev reset to
    /// the prod baseline).
    Reset,
}

/// How a promotion ended, or that it is still running.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PromotionResult {
    /// Still in progress.
    #[default]
    Running,
    /// Synced and healthy in the target.
    Succeeded,
    /// Failed; the message says why.
    Failed,
    /// A person changed the target value meanwhile; their edit was kept.
    Conflict,
    /// Failed and rolled back to the previous version.
    RolledBack,
}

/// One promotion, with a timestamp per phase.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PromotionRecord {
    /// Promotion or rollback.
    #[serde(default)]
    pub kind: RecordKind,
    /// The version written.
    pub version: String,
    /// The version it replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_version: Option<String>,
    /// Every field written, in `spec.fields` order (the first is `version`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub values: Vec<String>,
    /// Every field's value before, in `spec.fields` order; a rollback writes them back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub previous_values: Vec<String>,
    /// The branch tip the commit was decided on: after a restart the operator looks for its
    /// own commit between this and the tip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_revision: Option<String>,
    /// The commit that wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Who approved it (absent for Auto).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// When the operator started acting on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When the commit was pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed_at: Option<Time>,
    /// When Argo CD reported the target Synced at the commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_at: Option<Time>,
    /// When the target was Healthy at the commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_at: Option<Time>,
    /// When it ended, either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// How it ended.
    #[serde(default)]
    pub result: PromotionResult,
    /// The health URL's answers while it was verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<VerificationEvidence>,
    /// The approval's note: the change summary a person gave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub note: Option<String>,
    /// Release notes: the commits that changed the source's version since the version this
    /// promotion replaced, newest first (at most 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub changes: Vec<SourceChange>,
    /// Whether `changes` reaches back to the replaced version (false: there were more, or the
    /// history did not reach it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes_complete: Option<bool>,
    /// The promotion moved outside the release windows because its approval said
    /// `overrideWindow` (who and why: `approvedBy` and `note`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub window_overridden: bool,
    /// Details a person can act on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Most source changes kept in a record.
pub const CHANGES_LIMIT: usize = 10;

/// A commit that changed the source's version.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceChange {
    /// The commit.
    pub commit: String,
    /// Its author.
    #[schemars(length(max = 256))]
    pub author: String,
    /// Its subject line.
    #[schemars(length(max = 256))]
    pub subject: String,
}

/// Most probe attempts kept in a record.
pub const PROBE_ATTEMPTS_LIMIT: usize = 10;

/// What `spec.verification.healthUrl` answered during one promotion.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerificationEvidence {
    /// The URL probed.
    pub url: String,
    /// Consecutive passing answers needed.
    pub required: u32,
    /// Consecutive passing answers so far.
    pub consecutive: u32,
    /// Probes made in all.
    pub total: u32,
    /// The newest attempts, newest last (at most 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub attempts: Vec<ProbeAttempt>,
}

/// One probe of the health URL.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProbeAttempt {
    /// When it was made.
    pub at: Time,
    /// Whether it counted as passing (2xx, and the expected body when one is set).
    pub passed: bool,
    /// The HTTP status code, when an answer came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// How long it took, in milliseconds.
    pub latency_ms: u64,
    /// Why it did not pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub error: Option<String>,
}
