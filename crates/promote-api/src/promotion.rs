//! `Promotion.spec`: one lane that moves one app's release from a source environment to a
//! target environment.

// kube's derive takes one `printcolumn(...)` and `validation` per entry, which repeats keys.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::status::PromotionStatus;

/// A lane that promotes one app's release from a source environment to a target environment
/// through Git: the operator copies the source's release fields (`image.tag` by default) into
/// the target's release values file in one commit, lets Argo CD sync, verifies, and keeps
/// reporting drift and each environment's self-heal policy on the status.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "promote.dev",
    version = "v1alpha1",
    kind = "Promotion",
    plural = "promotions",
    singular = "promotion",
    shortname = "promo",
    category = "promote",
    namespaced,
    status = "PromotionStatus",
    derive = "PartialEq",
    doc = "A lane that promotes one app's release from a source environment to a target environment through Git and Argo CD.",
    printcolumn(
        name = "From",
        type_ = "string",
        json_path = ".spec.source.environment",
        description = "Source environment"
    ),
    printcolumn(
        name = "To",
        type_ = "string",
        json_path = ".spec.target.environment",
        description = "Target environment"
    ),
    printcolumn(
        name = "Source Version",
        type_ = "string",
        json_path = ".status.source.version",
        description = "Version in the source's release file"
    ),
    printcolumn(
        name = "Target Version",
        type_ = "string",
        json_path = ".status.target.version",
        description = "Version in the target's release file"
    ),
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "Where the lane stands"
    ),
    printcolumn(
        name = "Drifted",
        type_ = "boolean",
        json_path = ".status.drift.drifted",
        description = "Whether any drift is reported"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(
    validation = Rule::new("self.source.valuesFile != self.target.valuesFile").message("source.valuesFile and target.valuesFile must differ: a lane copies from one file into another").field_path(".target.valuesFile"),
    validation = Rule::new("self.source.environment != self.target.environment").message("source.environment and target.environment must differ").field_path(".target.environment"),
)]
#[serde(rename_all = "camelCase")]
pub struct PromotionSpec {
    /// The Git repository that holds both environments' release values files.
    pub repository: Repository,

    /// The environment a version is read from (dev, or stage).
    pub source: Environment,

    /// The environment a version is written to (prod, or stage).
    pub target: Environment,

    /// Paths of the scalar fields that cross from the source's values file into the target's
    /// (`image.tag`, `sidecars[1].tag`, `labels."app.kubernetes.io/version"`). Nothing else ever
    /// crosses; the first field is the version the lane reports.
    #[serde(default = "default_fields")]
    #[schemars(length(min = 1, max = 16))]
    #[x_kube(validation = Rule::new("self.all(f, size(f) > 0 && size(f) <= 256 && !f.startsWith('.') && !f.endsWith('.'))").message("each field must be a non-empty path such as image.tag"))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub fields: Vec<String>,

    /// Manual: only the approved version moves. Auto: every new source version that passes
    /// the gates moves.
    #[serde(default)]
    pub trigger: Trigger,

    /// The version a person approved for the target (set with `kubectl patch` or `kubectl edit`).
    /// With a Manual trigger only this version moves, and only while it is the source's
    /// current version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,

    /// Conditions the source must meet before a version moves.
    #[serde(default)]
    pub gates: Gates,

    /// How a promotion is verified after its commit, and what happens when it fails.
    #[serde(default)]
    pub verification: Verification,

    /// Hold the target at this version (a freeze, or a manual rollback). While set, the
    /// operator writes this version to the target and never replaces it, and keeps reporting
    /// drift.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200))]
    #[x_kube(validation = Rule::new(crate::version::CEL_RULE).message(crate::version::CEL_MESSAGE))]
    pub pin: Option<String>,

    /// Stop acting on the lane: nothing is committed while suspended; status is still reported.
    #[serde(default)]
    pub suspend: bool,

    /// The lane this one follows, in the same namespace (dev → stage before stage → prod):
    /// a version moves only once that lane promoted it and verified it, and never a version
    /// that lane rejected. Pins and rollbacks are not held back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<LaneRef>,

    /// Ask for the source to be reset to the target's current release fields (dev to the
    /// prod baseline), written as one commit to the source's release file and verified on
    /// the source's Application. Acted on once per `id`; refused while a promotion is in
    /// flight. Set with `kubectl promote reset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<ResetRequest>,

    /// Keep a deployment log in the repository: each promotion, rollback and reset adds an
    /// entry (what moved, who approved and why, the source commits it brings) to this
    /// Markdown file in the same commit, newest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_notes: Option<ReleaseNotes>,

    /// Compare the environments' configuration files (`source.configFile` and
    /// `target.configFile`) key by key and report every difference outside the allow list on
    /// `status.parity` and the `ParityCompliant` condition; `gates.parity` holds promotions
    /// while they differ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parity: Option<crate::Parity>,

    /// Release windows: with any Allow window, promotions move only while one is open; no
    /// promotion moves while a Deny window is open. Rollbacks and pins are never held back;
    /// an approval with `overrideWindow` moves its version once regardless.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub windows: Vec<crate::Window>,
}

/// Where the lane keeps its deployment log.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseNotes {
    /// The file, relative to the repository root (`deploy/CHANGELOG-web.md`); created when
    /// missing, in a directory that exists.
    #[schemars(length(min = 1, max = 1024))]
    pub file: String,
}

/// A request to reset the source to the target's release fields.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ResetRequest {
    /// A new value for each request (`kubectl promote reset` uses the time).
    #[schemars(length(min = 1, max = 64))]
    pub id: String,
    /// Who asked; recorded in the commit and the history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub requested_by: Option<String>,
    /// When it was asked (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
}

/// Another Promotion in the same namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LaneRef {
    /// Its name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

fn default_fields() -> Vec<String> {
    vec![crate::DEFAULT_FIELD.to_owned()]
}

/// Where both release values files live.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Repository {
    /// Clone URL: `https://host/org/repo.git`, `ssh://git@host/org/repo.git` or
    /// `file:///path/repo.git`. Plain `http://` is accepted only for loopback hosts, so
    /// credentials never cross a network in clear text. No credentials in the URL.
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new("self.startsWith('https://') || self.startsWith('ssh://') || self.startsWith('file://') || self.matches('^http://(localhost|127\\\\.0\\\\.0\\\\.1|\\\\[::1\\\\])(:[0-9]+)?/')").message("repository url must start with https://, ssh:// or file:// (http:// only for localhost)"))]
    #[x_kube(validation = Rule::new("!self.matches('^[a-z]+://[^/@]*:[^/@]*@')").message("repository url must not carry a password; put credentials in the Secret named by credentials.secretName"))]
    pub url: String,

    /// Branch both environments are deployed from.
    #[serde(default = "default_branch")]
    #[schemars(length(min = 1, max = 255))]
    #[x_kube(validation = Rule::new("!self.startsWith('refs/') && !self.contains('..') && !self.startsWith('-')").message("branch must be a branch name such as main, not a ref path"))]
    pub branch: String,

    /// The Secret with Git credentials, in the Promotion's namespace. Keys: `username` and
    /// `password` (or `token`) for HTTPS; `sshPrivateKey`, optional `sshPassphrase` and
    /// `knownHosts` for SSH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Credentials>,

    /// Sign every commit the lane makes with an SSH key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing: Option<crate::Signing>,
}

fn default_branch() -> String {
    crate::DEFAULT_BRANCH.to_owned()
}

/// A reference to a Secret in the Promotion's own namespace.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    /// Name of the Secret; it must be in the Promotion's namespace.
    #[schemars(length(min = 1, max = 253))]
    pub secret_name: String,
}

/// One environment of the lane.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Environment {
    /// Name of the environment (dev, stage, prod).
    #[schemars(length(min = 1, max = 63))]
    pub environment: String,

    /// Path of the environment's release values file, relative to the repository root
    /// (`deploy/env/release-prod/my-app.yaml`).
    #[schemars(length(min = 1, max = 1024))]
    #[x_kube(validation = Rule::new("!self.startsWith('/') && !self.contains('..') && !self.startsWith('.git/') && !self.contains('/.git/')").message("valuesFile must be a relative path inside the repository, with no '..' and nothing under .git/"))]
    pub values_file: String,

    /// Path of the environment's configuration values file (`deploy/env/prod/my-app.yaml`),
    /// compared with the other environment's for parity (`spec.parity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    #[x_kube(validation = Rule::new("!self.startsWith('/') && !self.contains('..') && !self.startsWith('.git/') && !self.contains('/.git/')").message("configFile must be a relative path inside the repository, with no '..' and nothing under .git/"))]
    pub config_file: Option<String>,

    /// The Argo CD Application that deploys this environment, if any. Without one the lane
    /// still promotes in Git but cannot gate on, or verify, the environment's health.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<ApplicationRef>,

    /// Whether this environment's Application is expected to have Argo CD self-heal on.
    /// Defaults: false for the source (so hot-reload sessions are not reverted), true for
    /// the target (strict GitOps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_self_heal: Option<bool>,
}

/// A reference to an Argo CD Application.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationRef {
    /// Name of the Application.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the Application (Argo CD's own namespace, usually `argocd`).
    #[serde(default = "default_argocd_namespace")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: String,
}

fn default_argocd_namespace() -> String {
    "argocd".to_owned()
}

/// What makes a version move.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Trigger {
    /// Only the version in `spec.approval` moves.
    #[default]
    Manual,
    /// Every new source version that passes the gates moves.
    Auto,
}

/// A person's approval of one version.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    /// The approved version; it moves only while it is the source's current version.
    #[schemars(length(min = 1, max = 200))]
    #[x_kube(validation = Rule::new(crate::version::CEL_RULE).message(crate::version::CEL_MESSAGE))]
    pub version: String,
    /// Who approved it; recorded in the commit and the history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub approved_by: Option<String>,
    /// When it was approved (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_at: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    /// The change summary shown with the approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub note: Option<String>,
    /// Promote `version` although it is rejected (it failed verification, or a person
    /// replaced it in the target). Only an approval the operator sees after the rejection
    /// counts, so a version that fails again is not retried by the same approval.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_rejected: bool,
    /// Promote `version` once even while the lane's release windows are closed; who
    /// approved it and the note are recorded in the history as the reason.
    #[serde(default, skip_serializing_if = "is_false")]
    pub override_window: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Conditions the source environment must meet before a version moves.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Gates {
    /// The source Application must be Synced at a revision that contains the version.
    #[serde(default = "yes")]
    pub source_synced: bool,
    /// The source Application must be Healthy.
    #[serde(default = "yes")]
    pub source_healthy: bool,
    /// How long the version must have run healthy in the source before it moves
    /// (a duration such as `10m`, `1h30m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"), length(max = 32))]
    pub soak_time: Option<String>,
    /// Hold promotions while the configuration files differ outside `spec.parity.allow`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub parity: bool,
}

impl Default for Gates {
    fn default() -> Self {
        Self {
            source_synced: true,
            source_healthy: true,
            soak_time: None,
            parity: false,
        }
    }
}

/// How a promotion is verified after its commit.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    /// How long the target may take to be Synced at the promotion's commit and Healthy
    /// (a duration such as `10m`; more than zero).
    #[serde(default = "default_timeout")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"), length(max = 32))]
    #[x_kube(validation = Rule::new("duration(self) > duration('0s')").message("verification.timeout must be more than zero, such as 10m"))]
    pub timeout: String,
    /// An HTTP(S) URL probed once the target is Synced at the promotion's commit and
    /// Healthy: the promotion succeeds after `successes` consecutive 2xx answers, one every
    /// `interval`, within `timeout`; otherwise it fails like an unhealthy Application (and is
    /// rolled back). TLS is verified against the system roots and `caBundle`; redirects to
    /// another host are refused; no credentials in the URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub health_url: Option<String>,
    /// Consecutive 2xx answers from `healthUrl` that verify a promotion (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub successes: Option<u32>,
    /// Time between two probes of `healthUrl` (default `5s`), also the longest one probe may
    /// take (at most 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"), length(max = 32))]
    pub interval: Option<String>,
    /// Text the answer's body must contain for a 2xx to count (the first 64 KiB are read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub expect_body: Option<String>,
    /// Extra certificate authorities for `healthUrl`, from a Secret in the Promotion's
    /// namespace labelled `promote.dev/ca-bundle=true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<CaBundleRef>,
    /// Write the previous version back when verification fails, and remember the failed
    /// version as rejected so it is never promoted automatically again.
    #[serde(default = "yes")]
    pub rollback_on_failure: bool,
}

/// A PEM bundle of certificate authorities in a labelled Secret.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CaBundleRef {
    /// The Secret's name.
    #[schemars(length(min = 1, max = 253))]
    pub secret_name: String,
    /// The key holding the PEM certificates (default `ca.crt`).
    #[serde(default = "default_ca_key")]
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

fn default_ca_key() -> String {
    "ca.crt".to_owned()
}

impl Default for Verification {
    fn default() -> Self {
        Self {
            timeout: default_timeout(),
            health_url: None,
            successes: None,
            interval: None,
            expect_body: None,
            ca_bundle: None,
            rollback_on_failure: true,
        }
    }
}

fn default_timeout() -> String {
    "10m".to_owned()
}

fn yes() -> bool {
    true
}

impl PromotionSpec {
    /// The expected self-heal of the source Application (default false).
    pub fn source_expected_self_heal(&self) -> bool {
        self.source.expected_self_heal.unwrap_or(false)
    }

    /// The expected self-heal of the target Application (default true).
    pub fn target_expected_self_heal(&self) -> bool {
        self.target.expected_self_heal.unwrap_or(true)
    }
}
