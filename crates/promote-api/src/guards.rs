//! Guard rails: dev–prod parity, release windows and signed commits, in the spec and on the
//! status.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How the environments' configuration files (`source.configFile`, `target.configFile`) are
/// compared: every key path that differs is reported unless a glob here allows it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Parity {
    /// Key paths whose differences are expected, as globs: `ingress.hosts` (that key and
    /// everything under it), `env.*` (one key or list index), `resources.**` (any depth).
    /// The dev run command is commonly different in hot mode: allow it with `command` or
    /// `args`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    #[x_kube(validation = Rule::new("self.all(g, size(g) > 0 && size(g) <= 256)").message("each allow entry must be a non-empty key path glob such as env.* or resources.**"))]
    pub allow: Vec<String>,
    /// Also allow the built-in list (hosts, domains, env, credential references, resources,
    /// replicas and autoscaling); set false to compare those too.
    #[serde(default = "yes")]
    pub default_allow: bool,
}

impl Default for Parity {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            default_allow: true,
        }
    }
}

fn yes() -> bool {
    true
}

/// A release window, in the shape of Argo CD sync windows: it is open for `duration` from
/// every time `schedule` fires, in `timeZone`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Window {
    /// Allow: with any Allow window, promotions move only while one is open. Deny: no
    /// promotion moves while it is open. Rollbacks and pins are never held back.
    pub kind: WindowKind,
    /// When the window opens: a cron expression with five fields (minute hour day-of-month
    /// month day-of-week), such as `0 9 * * 1-4` (09:00 Monday to Thursday).
    #[schemars(length(min = 1, max = 128))]
    pub schedule: String,
    /// How long it stays open each time (a duration such as `8h`, `30m`).
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"), length(max = 32))]
    pub duration: String,
    /// The IANA time zone the schedule is read in (default `UTC`), such as `Europe/Berlin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub time_zone: Option<String>,
}

/// Whether a window lets promotions through or holds them.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowKind {
    /// Promotions move only inside an Allow window (when any is listed).
    Allow,
    /// Promotions do not move inside a Deny window.
    Deny,
}

impl WindowKind {
    /// The kind's name as it appears in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "Allow",
            Self::Deny => "Deny",
        }
    }
}

/// The SSH key every commit of the lane is signed with.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Signing {
    /// A Secret in the Promotion's namespace, labelled `promote.dev/credentials=true`, whose
    /// key `signingKey` holds an OpenSSH private key (and `signingPassphrase` its passphrase,
    /// when it has one). Commits carry an SSH signature that `git verify-commit` accepts with
    /// `gpg.format=ssh` and an allowed-signers file holding the public key.
    #[schemars(length(min = 1, max = 253))]
    pub secret_name: String,
}

/// Most parity differences listed on the status.
pub const PARITY_DIFFERENCES_LIMIT: usize = 50;

/// How the environments' configuration files compare.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ParityStatus {
    /// No difference outside the allow list.
    pub compliant: bool,
    /// The branch tip both files were read at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Differences outside the allow list, in document order (at most 50).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub differences: Vec<ParityDifference>,
    /// How many differences there are outside the allow list (may exceed the list above).
    #[serde(default)]
    pub total: u32,
    /// How many differences the allow list accepts.
    #[serde(default)]
    pub allowed: u32,
    /// Why the files could not be compared, when they could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One key path where the configuration files differ.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ParityDifference {
    /// The key path, such as `service.port` or `args[0]`.
    pub path: String,
    /// How it differs.
    pub kind: DifferenceKind,
    /// The source's value (YAML, one line, shortened), absent when only in the target or when
    /// hidden.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The target's value, absent when only in the source or when hidden.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The values are not shown: the key looks like a secret or a Secret reference.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
}

/// How a key path differs between the configuration files.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DifferenceKind {
    /// Only the source (dev) has it.
    OnlyInSource,
    /// Only the target (prod) has it.
    OnlyInTarget,
    /// Both have it, with different values or types.
    Different,
}

/// Whether a promotion may move now, by the lane's release windows.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WindowStatus {
    /// Promotions may move now.
    pub open: bool,
    /// The window that decides, in words (`Deny 0 18 * * 5 for 64h (Europe/Berlin)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// When promotions may move next, while closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_open: Option<Time>,
    /// When the open window closes, while open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closes_at: Option<Time>,
}
