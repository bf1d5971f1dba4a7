//! The parts of an Application Promote reads.

use jiff::Timestamp;
use serde_json::Value;

use crate::{ArgoError, Image, normalize_image, patch::REFRESH_ANNOTATION};

/// Argo CD's comparison of Git with the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncStatus {
    /// The cluster matches Git at `sync.revision`.
    Synced,
    /// The cluster differs from Git.
    OutOfSync,
    /// Argo CD has not compared, or could not.
    Unknown,
}

impl SyncStatus {
    fn parse(s: Option<&str>) -> Self {
        match s {
            Some("Synced") => Self::Synced,
            Some("OutOfSync") => Self::OutOfSync,
            _ => Self::Unknown,
        }
    }

    /// The name Argo CD uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Synced => "Synced",
            Self::OutOfSync => "OutOfSync",
            Self::Unknown => "Unknown",
        }
    }
}

/// Argo CD's health assessment of the Application's resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealthStatus {
    /// All resources are healthy.
    Healthy,
    /// A rollout is under way.
    Progressing,
    /// Something failed.
    Degraded,
    /// Paused or scaled to zero.
    Suspended,
    /// Resources are missing from the cluster.
    Missing,
    /// Not assessed.
    Unknown,
}

impl HealthStatus {
    fn parse(s: Option<&str>) -> Self {
        match s {
            Some("Healthy") => Self::Healthy,
            Some("Progressing") => Self::Progressing,
            Some("Degraded") => Self::Degraded,
            Some("Suspended") => Self::Suspended,
            Some("Missing") => Self::Missing,
            _ => Self::Unknown,
        }
    }

    /// The name Argo CD uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "Healthy",
            Self::Progressing => "Progressing",
            Self::Degraded => "Degraded",
            Self::Suspended => "Suspended",
            Self::Missing => "Missing",
            Self::Unknown => "Unknown",
        }
    }
}

/// Phase of an Argo CD operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperationPhase {
    /// Running now.
    Running,
    /// Being terminated.
    Terminating,
    /// Finished and failed.
    Failed,
    /// Finished with an error.
    Error,
    /// Finished successfully.
    Succeeded,
}

impl OperationPhase {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "Running" => Self::Running,
            "Terminating" => Self::Terminating,
            "Failed" => Self::Failed,
            "Error" => Self::Error,
            "Succeeded" => Self::Succeeded,
            _ => return None,
        })
    }

    /// Whether the operation has not finished.
    pub fn is_running(self) -> bool {
        matches!(self, Self::Running | Self::Terminating)
    }

    /// The name Argo CD uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "Running",
            Self::Terminating => "Terminating",
            Self::Failed => "Failed",
            Self::Error => "Error",
            Self::Succeeded => "Succeeded",
        }
    }
}

/// `status.operationState`: the last (or current) operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationState {
    /// Its phase.
    pub phase: OperationPhase,
    /// The revision it synced (`syncResult.revision`, or the first of `revisions`).
    pub revision: Option<String>,
    /// When it started.
    pub started_at: Option<Timestamp>,
    /// When it finished.
    pub finished_at: Option<Timestamp>,
    /// Argo CD's message.
    pub message: Option<String>,
}

/// Auto-sync policy with Argo CD 3.1 semantics: auto-sync is on when `automated` is present
/// and its `enabled` is absent or true; self-heal and prune act only with auto-sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncPolicy {
    /// Argo CD syncs new Git revisions by itself.
    pub auto_sync: bool,
    /// `selfHeal` as written in the spec.
    pub self_heal_configured: bool,
    /// Live drift is reverted: auto-sync on and `selfHeal: true`.
    pub self_heal: bool,
    /// Resources gone from Git are deleted: auto-sync on and `prune: true`.
    pub prune: bool,
}

/// One Helm source of the Application.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HelmSource {
    /// `repoURL`.
    pub repo_url: Option<String>,
    /// `targetRevision` (branch, tag or commit).
    pub target_revision: Option<String>,
    /// `path` of the chart in the repository.
    pub path: Option<String>,
    /// `helm.valueFiles`, relative to `path`.
    pub value_files: Vec<String>,
    /// `helm.parameters` as (name, value): they override every values file.
    pub parameters: Vec<(String, String)>,
    /// `helm.valuesObject`: inline values that override the values files.
    pub values_object: Option<Value>,
}

/// An Argo CD Application as Promote sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Application {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.resourceVersion`, for optimistic concurrency on writes.
    pub resource_version: Option<String>,
    /// `spec.source`, or every entry of `spec.sources`.
    pub sources: Vec<HelmSource>,
    /// `spec.syncPolicy.automated`, interpreted.
    pub sync_policy: SyncPolicy,
    /// `status.sync.status`.
    pub sync_status: SyncStatus,
    /// `status.sync.revision`, or the first of `status.sync.revisions`; for a multi-source
    /// Application use [`Application::revision_for`] instead.
    pub sync_revision: Option<String>,
    /// `status.sync.revisions`: one per entry of `spec.sources`, in order.
    pub sync_revisions: Vec<String>,
    /// `status.health.status`.
    pub health: HealthStatus,
    /// `status.operationState`.
    pub operation_state: Option<OperationState>,
    /// A top-level `.operation` is written and not yet picked up.
    pub operation_requested: bool,
    /// `status.reconciledAt`.
    pub reconciled_at: Option<Timestamp>,
    /// `status.summary.images`, normalised; during a rollout old and new appear together.
    pub images: Vec<Image>,
    /// The refresh annotation is set and Argo CD has not acted on it yet.
    pub refresh_pending: bool,
    /// `status.conditions` as (type, message).
    pub conditions: Vec<(String, String)>,
}

impl Application {
    /// Reads an Application from its JSON form (as returned by the API server).
    pub fn from_json(obj: &Value) -> Result<Self, ArgoError> {
        let meta = obj.get("metadata");
        let name = str_at(meta, "name").unwrap_or_default();
        let namespace = str_at(meta, "namespace").unwrap_or_default();
        let key = format!(
            "{}/{}",
            if namespace.is_empty() {
                "?"
            } else {
                &namespace
            },
            if name.is_empty() { "?" } else { &name }
        );
        let malformed = |reason: &str| ArgoError::Malformed {
            name: key.clone(),
            reason: reason.to_owned(),
        };
        if let Some(kind) = obj.get("kind").and_then(Value::as_str)
            && kind != crate::KIND
        {
            return Err(malformed(&format!("kind is {kind}, not Application")));
        }
        if name.is_empty() {
            return Err(malformed("metadata.name is missing"));
        }
        let spec = obj.get("spec");
        let status = obj.get("status");

        let mut sources = Vec::new();
        if let Some(source) = spec.and_then(|s| s.get("source")) {
            sources.push(helm_source(source).map_err(|r| malformed(&r))?);
        }
        if let Some(list) = spec.and_then(|s| s.get("sources")) {
            let list = list
                .as_array()
                .ok_or_else(|| malformed("spec.sources is not a list"))?;
            for source in list {
                sources.push(helm_source(source).map_err(|r| malformed(&r))?);
            }
        }

        let sync = status.and_then(|s| s.get("sync"));
        let sync_revision = str_at(sync, "revision").or_else(|| {
            sync.and_then(|s| s.get("revisions"))
                .and_then(Value::as_array)
                .and_then(|r| r.first())
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        let sync_revisions = sync
            .and_then(|s| s.get("revisions"))
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let images = status
            .and_then(|s| s.get("summary"))
            .and_then(|s| s.get("images"))
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(Value::as_str)
                    .map(normalize_image)
                    .collect()
            })
            .unwrap_or_default();
        let conditions = status
            .and_then(|s| s.get("conditions"))
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .map(|c| {
                        (
                            str_at(Some(c), "type").unwrap_or_default(),
                            str_at(Some(c), "message").unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();

        Ok(Self {
            resource_version: str_at(meta, "resourceVersion"),
            refresh_pending: meta
                .and_then(|m| m.get("annotations"))
                .and_then(|a| a.get(REFRESH_ANNOTATION))
                .is_some(),
            name,
            namespace,
            sources,
            sync_policy: sync_policy(spec.and_then(|s| s.get("syncPolicy"))),
            sync_status: SyncStatus::parse(
                sync.and_then(|s| s.get("status")).and_then(Value::as_str),
            ),
            sync_revision,
            sync_revisions,
            health: HealthStatus::parse(
                status
                    .and_then(|s| s.get("health"))
                    .and_then(|h| h.get("status"))
                    .and_then(Value::as_str),
            ),
            operation_state: operation_state(status.and_then(|s| s.get("operationState")))
                .map_err(|r| malformed(&r))?,
            operation_requested: obj.get("operation").is_some_and(|o| !o.is_null()),
            reconciled_at: time_at(status, "reconciledAt"),
            images,
            conditions,
        })
    }

    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Whether an operation is requested or has not finished.
    pub fn operation_running(&self) -> bool {
        self.operation_requested
            || self
                .operation_state
                .as_ref()
                .is_some_and(|o| o.phase.is_running())
    }

    /// Health reflects the last sync only when Argo CD reconciled after that sync finished.
    pub fn health_trustworthy(&self) -> bool {
        match (
            self.reconciled_at,
            self.operation_state.as_ref().and_then(|o| o.finished_at),
        ) {
            (Some(reconciled), Some(finished)) => reconciled >= finished,
            (Some(_), None) => !self.operation_running(),
            (None, _) => false,
        }
    }

    /// The revision the Application is Synced at, if it is Synced.
    pub fn synced_revision(&self) -> Option<&str> {
        (self.sync_status == SyncStatus::Synced)
            .then_some(self.sync_revision.as_deref())
            .flatten()
    }

    /// Live versions (tags or digests) of the images whose repository ends with `repository`
    /// (all images when `repository` is None).
    pub fn live_versions(&self, repository: Option<&str>) -> Vec<&str> {
        self.images
            .iter()
            .filter(|i| repository.is_none_or(|r| repo_matches(&i.repository, r)))
            .filter_map(Image::version)
            .collect()
    }

    /// The fields (Promote paths such as `image.tag`) that `helm.parameters` or
    /// `helm.valuesObject` override, so writing them in a values file changes nothing.
    pub fn overridden_fields(&self, fields: &[String]) -> Vec<String> {
        fields
            .iter()
            .filter(|field| {
                let helm_name = helm_parameter_name(field);
                self.sources.iter().any(|s| {
                    s.parameters.iter().any(|(name, _)| *name == helm_name)
                        || s.values_object
                            .as_ref()
                            .is_some_and(|v| lookup(v, field).is_some())
                })
            })
            .cloned()
            .collect()
    }
}

fn repo_matches(image_repo: &str, wanted: &str) -> bool {
    let wanted = normalize_image(wanted).repository;
    image_repo == wanted || image_repo.ends_with(&format!("/{wanted}"))
}

fn str_at(obj: Option<&Value>, key: &str) -> Option<String> {
    obj.and_then(|o| o.get(key))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn time_at(obj: Option<&Value>, key: &str) -> Option<Timestamp> {
    obj.and_then(|o| o.get(key))
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
}

fn helm_source(source: &Value) -> Result<HelmSource, String> {
    let helm = source.get("helm");
    let value_files = match helm.and_then(|h| h.get("valueFiles")) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(_) => return Err("spec.source.helm.valueFiles is not a list".to_owned()),
    };
    let parameters = match helm.and_then(|h| h.get("parameters")) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|p| {
                let name = p.get("name")?.as_str()?.to_owned();
                let value = match p.get("value") {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                Some((name, value))
            })
            .collect(),
        Some(_) => return Err("spec.source.helm.parameters is not a list".to_owned()),
    };
    Ok(HelmSource {
        repo_url: str_at(Some(source), "repoURL"),
        target_revision: str_at(Some(source), "targetRevision"),
        path: str_at(Some(source), "path"),
        value_files,
        parameters,
        values_object: helm
            .and_then(|h| h.get("valuesObject"))
            .filter(|v| !v.is_null())
            .cloned(),
    })
}

fn sync_policy(policy: Option<&Value>) -> SyncPolicy {
    let Some(automated) = policy
        .and_then(|p| p.get("automated"))
        .filter(|a| !a.is_null())
    else {
        return SyncPolicy::default();
    };
    let flag = |key: &str| automated.get(key).and_then(Value::as_bool);
    let auto_sync = flag("enabled").unwrap_or(true);
    let self_heal_configured = flag("selfHeal").unwrap_or(false);
    SyncPolicy {
        auto_sync,
        self_heal_configured,
        self_heal: auto_sync && self_heal_configured,
        prune: auto_sync && flag("prune").unwrap_or(false),
    }
}

fn operation_state(state: Option<&Value>) -> Result<Option<OperationState>, String> {
    let Some(state) = state.filter(|s| !s.is_null()) else {
        return Ok(None);
    };
    let Some(phase) = state.get("phase").and_then(Value::as_str) else {
        return Ok(None);
    };
    let phase = OperationPhase::parse(phase)
        .ok_or_else(|| format!("status.operationState.phase {phase:?} is not an Argo CD phase"))?;
    let result = state.get("syncResult");
    let revision = str_at(result, "revision").or_else(|| {
        result
            .and_then(|r| r.get("revisions"))
            .and_then(Value::as_array)
            .and_then(|r| r.first())
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    Ok(Some(OperationState {
        phase,
        revision,
        started_at: time_at(Some(state), "startedAt"),
        finished_at: time_at(Some(state), "finishedAt"),
        message: str_at(Some(state), "message"),
    }))
}

/// Promote's path syntax (`labels."app.kubernetes.io/version"`, `sidecars[1].tag`) in Helm's
/// `--set` syntax (`labels.app\.kubernetes\.io/version`, `sidecars[1].tag`).
fn helm_parameter_name(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut quoted = false;
    for c in path.chars() {
        match c {
            '"' => quoted = !quoted,
            '.' if quoted => out.push_str("\\."),
            c => out.push(c),
        }
    }
    out
}

/// Looks a Promote path up in a JSON value; `None` when any segment is absent.
fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let mut current = value;
    for segment in segments(path) {
        current = match segment {
            Segment::Key(k) => current.get(k.as_str())?,
            Segment::Index(i) => current.get(i)?,
        };
    }
    Some(current)
}

enum Segment {
    Key(String),
    Index(usize),
}

fn segments(path: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut key = String::new();
    let mut chars = path.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => {
                if !key.is_empty() {
                    out.push(Segment::Key(std::mem::take(&mut key)));
                }
            }
            '[' if !quoted => {
                if !key.is_empty() {
                    out.push(Segment::Key(std::mem::take(&mut key)));
                }
                let digits: String = chars.by_ref().take_while(|c| *c != ']').collect();
                if let Ok(i) = digits.parse() {
                    out.push(Segment::Index(i));
                }
            }
            c => key.push(c),
        }
    }
    if !key.is_empty() {
        out.push(Segment::Key(key));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Shaped like `kubectl get application -o json` from Argo CD 3.1 after an auto-sync.
    fn synced_prod() -> Value {
        json!({
          "apiVersion": "argoproj.io/v1alpha1",
          "kind": "Application",
          "metadata": {"name": "web-synestra-io-prod", "namespace": "argocd", "resourceVersion": "48121",
                       "annotations": {"argocd.argoproj.io/refresh": "normal"}},
          "spec": {
            "project": "web",
            "destination": {"namespace": "web-synestra-io-prod", "server": "https://kubernetes.default.svc"},
            "source": {"repoURL": "https://git.example.com/platform/web-core.git", "targetRevision": "main",
                       "path": "deploy/charts/web-app",
                       "helm": {"valueFiles": ["../../env/prod/synestra-io.yaml", "../../env/release-prod/synestra-io.yaml"]}},
            "syncPolicy": {"automated": {"prune": true, "selfHeal": true}, "syncOptions": ["CreateNamespace=true"]}
          },
          "status": {
            "sync": {"status": "Synced", "revision": "4f2e1c0d9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d",
                     "comparedTo": {"source": {"repoURL": "https://git.example.com/platform/web-core.git"}}},
            "health": {"status": "Healthy", "lastTransitionTime": "2026-11-20T10:02:11Z"},
            "operationState": {
              "operation": {"sync": {"revision": "4f2e1c0d9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"}, "initiatedBy": {"automated": true}},
              "phase": "Succeeded", "message": "successfully synced (all tasks run)",
              "startedAt": "2026-11-20T10:01:58Z", "finishedAt": "2026-11-20T10:02:01Z",
              "syncResult": {"revision": "4f2e1c0d9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d", "resources": []}
            },
            "reconciledAt": "2026-11-20T10:02:15Z",
            "summary": {"images": ["registry.synestra.io/web/synestra-io:sha-4f2e1c0", "docker.io/library/nginx:1.27"]},
            "conditions": [{"type": "SharedResourceWarning", "message": "shared", "lastTransitionTime": "2026-11-20T10:00:00Z"}]
          }
        })
    }

    #[test]
    fn reads_a_synced_application() {
        let app = Application::from_json(&synced_prod()).expect("parses");
        assert_eq!(app.key(), "argocd/web-synestra-io-prod");
        assert_eq!(app.sync_status, SyncStatus::Synced);
        assert_eq!(app.health, HealthStatus::Healthy);
        assert_eq!(
            app.synced_revision(),
            Some("4f2e1c0d9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d")
        );
        assert!(app.sync_policy.auto_sync && app.sync_policy.self_heal && app.sync_policy.prune);
        assert!(app.health_trustworthy());
        assert!(!app.operation_running());
        assert!(app.refresh_pending);
        assert_eq!(app.live_versions(Some("web/synestra-io")), ["sha-4f2e1c0"]);
        assert_eq!(app.live_versions(Some("nginx")), ["1.27"]);
        assert_eq!(app.sources[0].value_files.len(), 2);
        assert_eq!(app.conditions[0].0, "SharedResourceWarning");
        assert_eq!(app.resource_version.as_deref(), Some("48121"));
    }

    #[test]
    fn argo_31_enabled_false_turns_auto_sync_off() {
        let mut v = synced_prod();
        v["spec"]["syncPolicy"]["automated"]["enabled"] = json!(false);
        let p = Application::from_json(&v).expect("parses").sync_policy;
        assert!(!p.auto_sync && !p.self_heal && !p.prune);
        assert!(p.self_heal_configured);

        v["spec"]["syncPolicy"]["automated"] = json!({});
        let p = Application::from_json(&v).expect("parses").sync_policy;
        assert!(p.auto_sync && !p.self_heal && !p.prune);

        v["spec"]["syncPolicy"] = json!({"syncOptions": ["CreateNamespace=true"]});
        assert_eq!(
            Application::from_json(&v).expect("parses").sync_policy,
            SyncPolicy::default()
        );
    }

    #[test]
    fn health_is_untrusted_until_reconciled_after_the_sync() {
        let mut v = synced_prod();
        v["status"]["reconciledAt"] = json!("2026-11-20T10:01:59Z");
        assert!(
            !Application::from_json(&v)
                .expect("parses")
                .health_trustworthy()
        );
        v["status"]["reconciledAt"] = Value::Null;
        assert!(
            !Application::from_json(&v)
                .expect("parses")
                .health_trustworthy()
        );
    }

    #[test]
    fn running_operations_are_seen() {
        let mut v = synced_prod();
        v["status"]["operationState"]["phase"] = json!("Running");
        assert!(
            Application::from_json(&v)
                .expect("parses")
                .operation_running()
        );
        let mut v = synced_prod();
        v["operation"] = json!({"sync": {}});
        assert!(
            Application::from_json(&v)
                .expect("parses")
                .operation_running()
        );
    }

    #[test]
    fn helm_parameters_and_values_object_override_fields() {
        let mut v = synced_prod();
        v["spec"]["source"]["helm"]["parameters"] = json!([
            {"name": "image.tag", "value": "pinned"},
            {"name": "labels.app\\.kubernetes\\.io/version", "value": "x"}
        ]);
        v["spec"]["source"]["helm"]["valuesObject"] =
            json!({"sidecars": [{"tag": "a"}, {"tag": "b"}]});
        let app = Application::from_json(&v).expect("parses");
        let fields: Vec<String> = [
            "image.tag",
            "image.repository",
            "labels.\"app.kubernetes.io/version\"",
            "sidecars[1].tag",
            "sidecars[2].tag",
        ]
        .map(str::to_owned)
        .to_vec();
        assert_eq!(
            app.overridden_fields(&fields),
            [
                "image.tag",
                "labels.\"app.kubernetes.io/version\"",
                "sidecars[1].tag"
            ]
        );
    }

    #[test]
    fn multi_source_applications_are_read() {
        let mut v = synced_prod();
        let source = v["spec"]["source"].take();
        v["spec"].as_object_mut().expect("object").remove("source");
        v["spec"]["sources"] =
            json!([source, {"repoURL": "https://charts.example.com", "chart": "x"}]);
        v["status"]["sync"] = json!({"status": "Synced", "revisions": ["abc", "1.0.0"]});
        let app = Application::from_json(&v).expect("parses");
        assert_eq!(app.sources.len(), 2);
        assert_eq!(app.synced_revision(), Some("abc"));
    }

    #[test]
    fn an_empty_application_reads_as_unknown() {
        let app =
            Application::from_json(&json!({"metadata": {"name": "a", "namespace": "argocd"}}))
                .expect("parses");
        assert_eq!(app.sync_status, SyncStatus::Unknown);
        assert_eq!(app.health, HealthStatus::Unknown);
        assert!(!app.health_trustworthy());
    }

    #[test]
    fn malformed_applications_are_refused_with_their_name() {
        let err = Application::from_json(
            &json!({"kind": "Deployment", "metadata": {"name": "a", "namespace": "n"}}),
        )
        .expect_err("not an Application");
        assert!(err.to_string().contains("n/a"));
        let mut v = synced_prod();
        v["status"]["operationState"]["phase"] = json!("Exploded");
        assert!(Application::from_json(&v).is_err());
        let mut v = synced_prod();
        v["spec"]["sources"] = json!("nope");
        assert!(Application::from_json(&v).is_err());
    }
}
