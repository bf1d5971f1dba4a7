//! The parts of an Application's spec the simulator acts on, read from its JSON.

use serde_json::Value;

use crate::error::{Error, Result};

/// Argo CD's default `spec.revisionHistoryLimit`.
const DEFAULT_HISTORY_LIMIT: usize = 10;

/// The Helm source the simulator renders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Source {
    pub repo_url: String,
    pub target_revision: String,
    /// Chart directory inside the repository, without leading or trailing `/`.
    pub path: String,
    pub value_files: Vec<String>,
    pub ignore_missing_value_files: bool,
    /// `helm.values` (a YAML string) and `helm.valuesObject` (rendered as JSON, which is YAML).
    pub inline_values: Vec<String>,
    /// `helm.parameters` as (name, value), in order; later ones win.
    pub parameters: Vec<(String, String)>,
}

/// What the simulator reads from an Application's spec.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct AppSpec {
    pub source: Source,
    /// The app uses `spec.sources` (multi-source): Argo CD then reports `revisions`, not `revision`.
    pub multi_source: bool,
    /// `spec.source`, or `spec.sources`, as written (echoed in `comparedTo` and history).
    pub source_json: Value,
    pub destination: Value,
    pub auto_sync: bool,
    pub self_heal: bool,
    pub history_limit: usize,
}

impl AppSpec {
    /// Reads `spec` of an Application. Only what cannot be simulated is an error.
    pub(crate) fn parse(spec: &Value) -> Result<Self> {
        let (source, multi_source, source_json) = match (spec.get("source"), spec.get("sources")) {
            (Some(s), _) if s.is_object() => (s, false, s.clone()),
            (_, Some(Value::Array(list))) if !list.is_empty() => {
                (&list[0], true, Value::Array(list.clone()))
            }
            _ => {
                return Err(Error::InvalidSpec(
                    "spec.source or spec.sources[0] is required".into(),
                ));
            }
        };
        let automated = spec
            .pointer("/syncPolicy/automated")
            .filter(|a| a.is_object());
        let flag = |name: &str| automated.and_then(|a| a.get(name)).and_then(Value::as_bool);
        // Argo CD 3.1: `automated.enabled: false` keeps the block but turns auto-sync off.
        let auto_sync = automated.is_some() && flag("enabled").unwrap_or(true);
        let self_heal = auto_sync && flag("selfHeal").unwrap_or(false);
        let history_limit = spec
            .get("revisionHistoryLimit")
            .and_then(Value::as_u64)
            .map_or(DEFAULT_HISTORY_LIMIT, |n| {
                usize::try_from(n).unwrap_or(usize::MAX)
            });
        Ok(Self {
            source: parse_source(source)?,
            multi_source,
            source_json,
            destination: spec.get("destination").cloned().unwrap_or(Value::Null),
            auto_sync,
            self_heal,
            history_limit,
        })
    }
}

fn parse_source(source: &Value) -> Result<Source> {
    let text = |name: &str| source.get(name).and_then(Value::as_str).unwrap_or_default();
    let repo_url = text("repoURL").trim().to_owned();
    if repo_url.is_empty() {
        return Err(Error::InvalidSpec("source.repoURL is empty".into()));
    }
    if source.get("chart").is_some_and(|c| !c.is_null()) {
        return Err(Error::InvalidSpec(
            "Helm repository charts (source.chart) are not simulated; use a chart path in Git"
                .into(),
        ));
    }
    let helm = source.get("helm");
    let strings = |name: &str| -> Vec<String> {
        helm.and_then(|h| h.get(name))
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut inline_values = Vec::new();
    if let Some(values) = helm.and_then(|h| h.get("values")).and_then(Value::as_str) {
        inline_values.push(values.to_owned());
    }
    if let Some(object) = helm
        .and_then(|h| h.get("valuesObject"))
        .filter(|v| v.is_object())
    {
        inline_values.push(object.to_string());
    }
    let parameters = helm
        .and_then(|h| h.get("parameters"))
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|p| {
                    let name = p.get("name")?.as_str()?.to_owned();
                    let value = match p.get("value") {
                        Some(Value::String(s)) => s.clone(),
                        Some(Value::Null) | None => String::new(),
                        Some(other) => other.to_string(),
                    };
                    Some((name, value))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Source {
        repo_url,
        target_revision: text("targetRevision").trim().to_owned(),
        path: normalize_path(text("path")),
        value_files: strings("valueFiles"),
        ignore_missing_value_files: helm
            .and_then(|h| h.get("ignoreMissingValueFiles"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        inline_values,
        parameters,
    })
}

/// A chart path without `./`, leading or trailing `/`; the repository root is "".
fn normalize_path(path: &str) -> String {
    path.split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// What a written `.operation` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OperationRequest {
    /// `sync.revision` (or `sync.revisions[0]`); `None` syncs to the target revision's tip.
    pub revision: Option<String>,
}

impl OperationRequest {
    pub(crate) fn parse(operation: &Value) -> Self {
        let sync = operation.get("sync");
        let revision = sync
            .and_then(|s| s.get("revision"))
            .and_then(Value::as_str)
            .or_else(|| {
                sync.and_then(|s| s.pointer("/revisions/0"))
                    .and_then(Value::as_str)
            })
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned);
        Self { revision }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(policy: Value) -> Value {
        json!({
            "source": {
                "repoURL": "http://127.0.0.1:1/web-core.git",
                "targetRevision": "main",
                "path": "deploy/charts/web-app/",
                "helm": {
                    "valueFiles": ["../../env/release-dev/app.yaml"],
                    "parameters": [{"name": "image.tag", "value": "sha-1"}, {"name": "replicas", "value": 2}],
                },
            },
            "destination": {"namespace": "web-app-dev"},
            "syncPolicy": policy,
        })
    }

    #[test]
    fn reads_the_helm_source() {
        let s = AppSpec::parse(&spec(json!({}))).expect("parses");
        assert_eq!(s.source.path, "deploy/charts/web-app");
        assert_eq!(s.source.value_files, ["../../env/release-dev/app.yaml"]);
        assert_eq!(
            s.source.parameters,
            [
                ("image.tag".to_owned(), "sha-1".to_owned()),
                ("replicas".to_owned(), "2".to_owned())
            ]
        );
        assert!(!s.multi_source);
        assert_eq!(s.history_limit, 10);
    }

    #[test]
    fn auto_sync_follows_argo_cd_3_1() {
        let cases = [
            (json!({}), false, false),
            (json!({"automated": {}}), true, false),
            (json!({"automated": {"selfHeal": true}}), true, true),
            (
                json!({"automated": {"enabled": true, "selfHeal": false}}),
                true,
                false,
            ),
            (
                json!({"automated": {"enabled": false, "selfHeal": true}}),
                false,
                false,
            ),
            (json!({"automated": null}), false, false),
        ];
        for (policy, auto, heal) in cases {
            let s = AppSpec::parse(&spec(policy.clone())).expect("parses");
            assert_eq!((s.auto_sync, s.self_heal), (auto, heal), "{policy}");
        }
    }

    #[test]
    fn the_first_of_several_sources_is_used() {
        let v = json!({"sources": [{"repoURL": "file:///a.git", "path": "chart"}, {"repoURL": "file:///b.git"}]});
        let s = AppSpec::parse(&v).expect("parses");
        assert!(s.multi_source);
        assert_eq!(s.source.repo_url, "file:///a.git");
        assert!(AppSpec::parse(&json!({"sources": []})).is_err());
        assert!(AppSpec::parse(&json!({})).is_err());
    }

    #[test]
    fn operation_revision_is_optional() {
        assert_eq!(OperationRequest::parse(&json!({"sync": {}})).revision, None);
        assert_eq!(
            OperationRequest::parse(&json!({"sync": {"revision": "abc"}}))
                .revision
                .as_deref(),
            Some("abc")
        );
        assert_eq!(
            OperationRequest::parse(&json!({"sync": {"revisions": ["def"]}}))
                .revision
                .as_deref(),
            Some("def")
        );
    }
}
