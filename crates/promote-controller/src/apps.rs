//! The Applications lanes read, kept from the Application watch: a reconcile reads both of
//! its Applications here instead of two GETs. Only what the pure view
//! (`promote_argocd::Application`) reads is kept, as compact JSON text, and the view is built
//! for the lookup: a view is some twenty small strings, each its own allocation (about 2.2 KB
//! of heap for a typical Application against about 1 KB of text), and the cache holds every
//! Application of every admitted namespace for the operator's lifetime. Until the watch's first
//! list is complete a lookup says so and the reconcile reads from the API server.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use kube::core::{ApiResource, DynamicResourceScope, Resource};
use kube::runtime::watcher::Event;
use promote_argocd::{Application, REFRESH_ANNOTATION};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::debug;

/// An Application as the watch delivers it, with only the parts the view reads: its status's
/// resource tree and sync history (most of a real Application's size) are skipped while the
/// JSON is parsed, never built.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct AppObject {
    /// `metadata`.
    pub metadata: ObjectMeta,
    /// `spec`, whole (sources, sync policy).
    #[serde(default)]
    pub spec: Value,
    /// The parts of `status` the view reads.
    #[serde(default)]
    pub status: AppStatus,
    /// A requested operation not yet picked up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<Value>,
}

/// The parts of an Application's `status` the view reads.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sync: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    health: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    operation_state: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reconciled_at: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    summary: Option<Summary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    conditions: Option<Value>,
}

/// `status.summary`: the images only.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
struct Summary {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    images: Option<Value>,
}

impl Resource for AppObject {
    type DynamicType = ApiResource;
    type Scope = DynamicResourceScope;

    fn group(dt: &ApiResource) -> Cow<'_, str> {
        dt.group.as_str().into()
    }

    fn version(dt: &ApiResource) -> Cow<'_, str> {
        dt.version.as_str().into()
    }

    fn kind(dt: &ApiResource) -> Cow<'_, str> {
        dt.kind.as_str().into()
    }

    fn api_version(dt: &ApiResource) -> Cow<'_, str> {
        dt.api_version.as_str().into()
    }

    fn plural(dt: &ApiResource) -> Cow<'_, str> {
        dt.plural.as_str().into()
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// What the cache knows of one Application.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// The Application as last delivered by the watch.
    Found(Arc<Application>),
    /// The watch has listed every Application and this one is not among them.
    Missing,
    /// The watch has not completed a list yet (or the object could not be read as an
    /// Application): ask the API server.
    Unknown,
}

/// What the view reads of one Application, as compact JSON; it was read as an Application
/// when it was kept.
#[derive(Debug)]
struct Kept(Box<str>);

#[derive(Debug, Default)]
struct State {
    apps: HashMap<(String, String), Kept>,
    /// Objects listed since the watch (re)started, swapped in once the list is complete.
    listing: Option<HashMap<(String, String), Kept>>,
    /// The first list has completed.
    ready: bool,
}

/// The Application views, by namespace and name.
#[derive(Debug, Default)]
pub struct AppCache {
    state: RwLock<State>,
    /// Namespaces whose Applications are kept (the admitted ones); empty keeps all.
    namespaces: Vec<String>,
}

fn key(obj: &AppObject) -> (String, String) {
    (obj.namespace().unwrap_or_default(), obj.name_any())
}

/// What is kept of `obj`, when it can be read as an Application.
fn kept_text(obj: &AppObject) -> Option<Kept> {
    let parsed = serde_json::to_value(obj)
        .map_err(|e| e.to_string())
        .and_then(|mut v| {
            trim(&mut v);
            Application::from_json(&v)
                .map(|_| v.to_string())
                .map_err(|e| e.to_string())
        });
    match parsed {
        Ok(text) => Some(Kept(text.into_boxed_str())),
        Err(error) => {
            debug!(%error, application = %obj.name_any(), "not kept: cannot be read as an Application");
            None
        }
    }
}

/// Drops from an Application's JSON what the view never reads: all of `metadata` but the
/// name, namespace, resourceVersion and the refresh annotation (managed fields, and a
/// `kubectl apply` annotation holding the whole spec again, can be most of an object), and all
/// of `spec` but the sources and the sync policy. The test below requires the view of the
/// trimmed object to equal the view of the whole one.
fn trim(v: &mut Value) {
    fn keep(v: &mut Value, part: &str, keys: &[&str]) {
        if let Some(map) = v.get_mut(part).and_then(Value::as_object_mut) {
            map.retain(|k, _| keys.contains(&k.as_str()));
        }
    }
    keep(
        v,
        "metadata",
        &["name", "namespace", "resourceVersion", "annotations"],
    );
    if let Some(meta) = v.get_mut("metadata") {
        keep(meta, "annotations", &[REFRESH_ANNOTATION]);
    }
    keep(v, "spec", &["source", "sources", "syncPolicy"]);
}

/// The view of what was kept; it read as an Application when it was kept, so this fails only
/// if that changed.
fn view(kept: &Kept) -> Option<Arc<Application>> {
    let value: Value = serde_json::from_str(&kept.0).ok()?;
    Application::from_json(&value).ok().map(Arc::new)
}

impl AppCache {
    /// A cache of the Applications in `namespaces` (all when empty).
    pub fn new(namespaces: Vec<String>) -> Self {
        Self {
            state: RwLock::default(),
            namespaces,
        }
    }

    fn kept(&self, obj: &AppObject) -> Option<Kept> {
        let ns = obj.metadata.namespace.as_deref().unwrap_or_default();
        if self.namespaces.is_empty() || self.namespaces.iter().any(|n| n == ns) {
            kept_text(obj)
        } else {
            None
        }
    }

    /// Applies one watch event.
    pub fn apply(&self, event: &Event<AppObject>) {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        match event {
            Event::Apply(obj) => match self.kept(obj) {
                Some(app) => {
                    state.apps.insert(key(obj), app);
                }
                None => {
                    state.apps.remove(&key(obj));
                }
            },
            Event::Delete(obj) => {
                state.apps.remove(&key(obj));
            }
            Event::Init => state.listing = Some(HashMap::new()),
            Event::InitApply(obj) => {
                if let (Some(listing), Some(app)) = (state.listing.as_mut(), self.kept(obj)) {
                    listing.insert(key(obj), app);
                }
            }
            Event::InitDone => {
                if let Some(listed) = state.listing.take() {
                    state.apps = listed;
                }
                state.ready = true;
            }
        }
    }

    /// The Application `namespace/name`, as far as the watch knows.
    pub fn get(&self, namespace: &str, name: &str) -> Lookup {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        if !state.ready {
            return Lookup::Unknown;
        }
        match state.apps.get(&(namespace.to_owned(), name.to_owned())) {
            Some(kept) => view(kept).map_or(Lookup::Unknown, Lookup::Found),
            None => Lookup::Missing,
        }
    }

    /// How many Applications are kept.
    pub fn len(&self) -> usize {
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .apps
            .len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app(name: &str, rv: &str) -> AppObject {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": "argocd", "resourceVersion": rv},
            "spec": {"source": {"repoURL": "https://git.example.com/r.git", "path": "p"}},
            "status": {"sync": {"status": "Synced", "revision": "abc"}, "health": {"status": "Healthy"}}
        }))
        .expect("object")
    }

    #[test]
    fn the_view_from_the_trimmed_object_is_the_view_from_the_whole_one() {
        let whole = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "web-prod", "namespace": "argocd", "resourceVersion": "9",
                         "annotations": {"argocd.argoproj.io/refresh": "normal",
                                         "kubectl.kubernetes.io/last-applied-configuration": "{}"},
                         "labels": {"team": "web"}, "uid": "u-1", "generation": 4,
                         "managedFields": [{"manager": "argocd-application-controller",
                                            "operation": "Update", "fieldsType": "FieldsV1",
                                            "fieldsV1": {"f:status": {}}}]},
            "spec": {"source": {"repoURL": "https://git.example.com/r.git", "path": "p",
                                "helm": {"parameters": [{"name": "image.tag", "value": "x"}]}},
                     "syncPolicy": {"automated": {"selfHeal": true}},
                     "destination": {"server": "https://kubernetes.default.svc"}},
            "operation": {"sync": {"revision": "def"}},
            "status": {
                "sync": {"status": "OutOfSync", "revision": "abc"},
                "health": {"status": "Progressing"},
                "operationState": {"phase": "Running", "startedAt": "2026-09-21T00:00:00Z"},
                "reconciledAt": "2026-09-21T00:00:05Z",
                "summary": {"images": ["registry.example.com/web/app:sha-1"], "externalURLs": ["x"]},
                "conditions": [{"type": "SyncError", "message": "boom"}],
                "resources": [{"kind": "Deployment", "name": "web", "status": "Synced"}],
                "history": [{"id": 1, "revision": "abc"}]
            }
        });
        let trimmed: AppObject = serde_json::from_value(whole.clone()).expect("object");
        let kept = kept_text(&trimmed).expect("kept");
        let from_trimmed = view(&kept).expect("view");
        let from_whole = Application::from_json(&whole).expect("view");
        assert_eq!(*from_trimmed, from_whole);
        let text = &kept.0;
        assert!(
            !text.contains("resources")
                && !text.contains("history")
                && !text.contains("managedFields")
                && !text.contains("last-applied")
                && !text.contains("destination"),
            "{text}"
        );
    }

    fn rv(lookup: Lookup) -> Option<String> {
        match lookup {
            Lookup::Found(a) => a.resource_version.clone(),
            _ => None,
        }
    }

    #[test]
    fn nothing_is_known_until_the_first_list_completes() {
        let cache = AppCache::default();
        cache.apply(&Event::Init);
        cache.apply(&Event::InitApply(app("web-dev", "1")));
        assert_eq!(cache.get("argocd", "web-dev"), Lookup::Unknown);
        cache.apply(&Event::InitDone);
        assert_eq!(rv(cache.get("argocd", "web-dev")).as_deref(), Some("1"));
        assert_eq!(cache.get("argocd", "web-prod"), Lookup::Missing);
    }

    #[test]
    fn only_admitted_namespaces_are_kept() {
        let cache = AppCache::new(vec!["team-a".into()]);
        cache.apply(&Event::Init);
        cache.apply(&Event::InitApply(app("web-dev", "1")));
        cache.apply(&Event::InitDone);
        cache.apply(&Event::Apply(app("web-prod", "2")));
        assert!(cache.is_empty());
        assert_eq!(cache.get("argocd", "web-dev"), Lookup::Missing);
    }

    #[test]
    fn changes_and_deletions_are_kept_and_a_relist_drops_what_is_gone() {
        let cache = AppCache::default();
        cache.apply(&Event::Init);
        cache.apply(&Event::InitApply(app("web-dev", "1")));
        cache.apply(&Event::InitApply(app("web-prod", "2")));
        cache.apply(&Event::InitDone);
        cache.apply(&Event::Apply(app("web-dev", "3")));
        assert_eq!(rv(cache.get("argocd", "web-dev")).as_deref(), Some("3"));
        cache.apply(&Event::Delete(app("web-dev", "3")));
        assert_eq!(cache.get("argocd", "web-dev"), Lookup::Missing);
        // A restarted watch lists again; until it is done the old view answers.
        cache.apply(&Event::Init);
        cache.apply(&Event::InitApply(app("web-new", "5")));
        assert_eq!(rv(cache.get("argocd", "web-prod")).as_deref(), Some("2"));
        cache.apply(&Event::InitDone);
        assert_eq!(cache.get("argocd", "web-prod"), Lookup::Missing);
        assert_eq!(rv(cache.get("argocd", "web-new")).as_deref(), Some("5"));
        assert_eq!(cache.len(), 1);
    }
}
