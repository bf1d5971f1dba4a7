//! Building Application objects for tests, shaped like the seeds' `argocd/apps/web-*.yaml`.

use kube::Client;
use kube::api::{DynamicObject, PostParams};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::snapshot::AppRef;

/// Builds an Argo CD Application with one Helm source in Git.
#[derive(Clone, Debug)]
pub struct ApplicationBuilder {
    name: String,
    source: Value,
    multi_source: bool,
    automated: Option<Value>,
    destination: Value,
}

impl ApplicationBuilder {
    /// An Application `name` rendering the chart at `path` of `repo_url`, branch `main`,
    /// without auto-sync.
    pub fn new(
        name: impl Into<String>,
        repo_url: impl Into<String>,
        path: impl Into<String>,
    ) -> Self {
        let name = name.into();
        Self {
            source: json!({
                "repoURL": repo_url.into(),
                "targetRevision": "main",
                "path": path.into(),
                "helm": {},
            }),
            destination: json!({"server": "https://kubernetes.default.svc", "namespace": name}),
            name,
            multi_source: false,
            automated: None,
        }
    }

    /// Sets `targetRevision` (a branch, tag, `HEAD` or commit id).
    pub fn target_revision(mut self, revision: impl Into<String>) -> Self {
        self.source["targetRevision"] = json!(revision.into());
        self
    }

    /// Adds a `helm.valueFiles` entry (relative to the chart path; `../` allowed).
    pub fn value_file(mut self, file: impl Into<String>) -> Self {
        let files = self.source["helm"]
            .as_object_mut()
            .map(|h| h.entry("valueFiles").or_insert_with(|| json!([])));
        if let Some(Value::Array(files)) = files {
            files.push(json!(file.into()));
        }
        self
    }

    /// Adds a `helm.parameters` entry, which wins over the values files.
    pub fn parameter(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let params = self.source["helm"]
            .as_object_mut()
            .map(|h| h.entry("parameters").or_insert_with(|| json!([])));
        if let Some(Value::Array(params)) = params {
            params.push(json!({"name": name.into(), "value": value.into()}));
        }
        self
    }

    /// Turns auto-sync on (`automated: {prune: true, selfHeal}`).
    pub fn auto_sync(mut self, self_heal: bool) -> Self {
        self.automated = Some(json!({"prune": true, "selfHeal": self_heal}));
        self
    }

    /// Argo CD 3.1's way to pause auto-sync: `automated: {enabled: false, ...}` stays in the spec.
    pub fn auto_sync_disabled(mut self) -> Self {
        self.automated = Some(json!({"enabled": false, "prune": true, "selfHeal": true}));
        self
    }

    /// Writes the source as `spec.sources[0]` instead of `spec.source`.
    pub fn multi_source(mut self) -> Self {
        self.multi_source = true;
        self
    }

    /// The Application as JSON, in `namespace`.
    pub fn to_json(&self, namespace: &str) -> Value {
        let mut spec = json!({
            "project": "default",
            "destination": self.destination,
            "syncPolicy": {"syncOptions": ["CreateNamespace=true"]},
        });
        if self.multi_source {
            spec["sources"] = json!([self.source]);
        } else {
            spec["source"] = self.source.clone();
        }
        if let Some(automated) = &self.automated {
            spec["syncPolicy"]["automated"] = automated.clone();
        }
        json!({
            "apiVersion": format!("{}/{}", crate::GROUP, crate::VERSION),
            "kind": crate::KIND,
            "metadata": {"name": self.name, "namespace": namespace},
            "spec": spec,
        })
    }

    /// Creates the Application in `namespace`.
    pub async fn create(&self, client: &Client, namespace: &str) -> Result<AppRef> {
        let object: DynamicObject = serde_json::from_value(self.to_json(namespace))
            .map_err(|e| Error::InvalidSpec(format!("Application {}: {e}", self.name)))?;
        crate::applications(client.clone(), namespace)
            .create(&PostParams::default(), &object)
            .await
            .map_err(|e| {
                Error::kube(format!("creating Application {namespace}/{}", self.name), e)
            })?;
        Ok(AppRef::new(namespace, &self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::AppSpec;

    #[test]
    fn builds_what_the_simulator_reads() {
        let v = ApplicationBuilder::new("web-dev", "file:///r.git", "deploy/charts/web-app")
            .value_file("../../env/release-dev/web.yaml")
            .parameter("image.tag", "sha-9")
            .auto_sync(false)
            .to_json("argocd");
        let spec = AppSpec::parse(&v["spec"]).expect("parses");
        assert!(spec.auto_sync && !spec.self_heal);
        assert_eq!(spec.source.value_files, ["../../env/release-dev/web.yaml"]);
        assert_eq!(
            spec.source.parameters,
            [("image.tag".to_owned(), "sha-9".to_owned())]
        );

        let v = ApplicationBuilder::new("web-dev", "file:///r.git", "chart")
            .auto_sync_disabled()
            .multi_source()
            .to_json("argocd");
        let spec = AppSpec::parse(&v["spec"]).expect("parses");
        assert!(!spec.auto_sync && spec.multi_source);
    }
}
