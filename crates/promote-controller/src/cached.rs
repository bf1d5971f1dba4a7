//! The Promotion as the controller's cache keeps it: metadata and spec parsed, the status as
//! compact JSON text, parsed again only for the reconcile that needs it.
//!
//! A parsed status is mostly small strings, each its own allocation (a lane's conditions,
//! observations, drift and policy): about 6.5 KB of heap for a Promotion whose status is 2.6
//! KB of JSON. The cache holds every Promotion for the operator's lifetime, and a reconcile
//! needs the status of one, so the text is what is kept (docs/benchmarks.md: 10,000 lanes).

use std::borrow::Cow;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use promote_api::{Promotion, PromotionSpec, PromotionStatus};
use serde::{Deserialize, Deserializer};

/// A Promotion with its status kept as text.
#[derive(Debug, Clone, Deserialize)]
pub struct Lean {
    /// `metadata`.
    pub metadata: ObjectMeta,
    /// `spec`.
    pub spec: PromotionSpec,
    /// `status`, checked to be a valid status when it was read.
    #[serde(default)]
    status: Option<StatusText>,
}

/// A status, read as a [`PromotionStatus`] (so an invalid one fails the object's read exactly
/// as before) and kept as its compact JSON.
#[derive(Debug, Clone)]
struct StatusText(Box<str>);

impl<'de> Deserialize<'de> for StatusText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let status = PromotionStatus::deserialize(deserializer)?;
        serde_json::to_string(&status)
            .map(|text| StatusText(text.into_boxed_str()))
            .map_err(serde::de::Error::custom)
    }
}

impl Lean {
    /// The whole Promotion, its status parsed from the kept text.
    pub fn promotion(&self) -> Result<Promotion, serde_json::Error> {
        let status = match &self.status {
            Some(StatusText(text)) => Some(serde_json::from_str(text)?),
            None => None,
        };
        Ok(Promotion {
            metadata: self.metadata.clone(),
            spec: self.spec.clone(),
            status,
        })
    }
}

impl Resource for Lean {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        Promotion::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        Promotion::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        Promotion::version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        Promotion::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use kube::core::DeserializeGuard;
    use serde_json::json;

    use super::*;

    fn object(status: serde_json::Value) -> serde_json::Value {
        json!({
            "apiVersion": "promote.dev/v1alpha1",
            "kind": "Promotion",
            "metadata": {"name": "web", "namespace": "team", "resourceVersion": "7"},
            "spec": {
                "repository": {"url": "https://git.example/web.git"},
                "source": {"environment": "dev", "valuesFile": "release-dev/web.yaml"},
                "target": {"environment": "prod", "valuesFile": "release-prod/web.yaml"}
            },
            "status": status
        })
    }

    #[test]
    fn the_promotion_comes_back_as_it_was_read() {
        let status = json!({
            "phase": "InSync",
            "message": "prod runs v1, the same as dev",
            "observedGeneration": 3,
            "conditions": [{
                "type": "Ready", "status": "True", "reason": "InSync", "message": "in sync",
                "lastTransitionTime": "2026-12-02T10:00:00Z", "observedGeneration": 3
            }],
            "source": {"environment": "dev", "version": "v1", "revision": "abc"}
        });
        let text = object(status).to_string();
        let whole: Promotion = serde_json::from_str(&text).expect("a Promotion");
        let lean: DeserializeGuard<Lean> = serde_json::from_str(&text).expect("read");
        let lean = lean.0.expect("valid");
        assert_eq!(lean.promotion().expect("status parses"), whole);
        assert_eq!(lean.meta().name.as_deref(), Some("web"));
    }

    #[test]
    fn an_invalid_status_makes_the_object_invalid_as_before() {
        let text = object(json!({"phase": 42})).to_string();
        let lean: DeserializeGuard<Lean> = serde_json::from_str(&text).expect("read");
        let invalid = lean.0.expect_err("invalid");
        assert_eq!(invalid.metadata.name.as_deref(), Some("web"));
        let whole: DeserializeGuard<Promotion> = serde_json::from_str(&text).expect("read");
        assert!(whole.0.is_err(), "the whole type refuses it too");
    }

    #[test]
    fn no_status_is_none() {
        let mut value = object(json!(null));
        value.as_object_mut().expect("object").remove("status");
        let lean: DeserializeGuard<Lean> = serde_json::from_value(value).expect("read");
        assert_eq!(lean.0.expect("valid").promotion().expect("ok").status, None);
    }
}
