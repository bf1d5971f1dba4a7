//! The rendered chart applies cleanly to a real API server, which validates every
//! manifest; the Deployment reads back with the args and security context rendered.

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, Scope};
use promote_chart_tests::render_release;
use promote_testsupport::TestEnv;
use serde_json::{Value, json};

/// Kinds the chart can render that this test does not apply.
/// - ServiceMonitor: its CRD (Prometheus Operator) is not installed on the test cluster.
///
/// Every other kind the chart renders (core/v1, apps/v1, rbac.authorization.k8s.io/v1,
/// apiextensions.k8s.io/v1) is served by the test control plane; one that is not fails the
/// test by name.
const SKIPPED_KINDS: &[&str] = &["ServiceMonitor"];

/// Kinds applied as a server-side dry run only: the Promotion CRD is cluster-wide and shared
/// by every test on the cluster (`TestEnv::start` installs it from crds/), so the server
/// validates the chart's rendering of it without storing it.
const DRY_RUN_KINDS: &[&str] = &["CustomResourceDefinition"];

const FIELD_MANAGER: &str = "promote-chart-tests";

/// `actual` has every field of `expected` with the same value (the server may add more).
fn contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|av| contains(av, v))),
        (Value::Array(a), Value::Array(e)) => {
            a.len() == e.len() && a.iter().zip(e).all(|(av, ev)| contains(av, ev))
        }
        _ => actual == expected,
    }
}

/// Applies every rendered object; returns the cluster-scoped ones it created
/// (kind, name), to delete afterwards, and the first failure, if any.
async fn apply_all(
    env: &TestEnv,
    docs: &[Value],
) -> (Vec<(GroupVersionKind, String)>, Result<(), String>) {
    let client = env.client().clone();
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let dry_run = PatchParams::apply(FIELD_MANAGER).force().dry_run();
    let mut cluster_scoped = Vec::new();
    for doc in docs {
        let kind = doc["kind"].as_str().unwrap_or_default();
        let name = doc["metadata"]["name"].as_str().unwrap_or_default();
        if SKIPPED_KINDS.contains(&kind) {
            continue;
        }
        let api_version = doc["apiVersion"].as_str().unwrap_or_default();
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (ar, caps) = match discovery::pinned_kind(&client, &gvk).await {
            Ok(found) => found,
            Err(e) => {
                return (
                    cluster_scoped,
                    Err(format!("{api_version} {kind} is not served: {e}")),
                );
            }
        };
        let obj: DynamicObject = match serde_json::from_value(doc.clone()) {
            Ok(obj) => obj,
            Err(e) => return (cluster_scoped, Err(format!("{kind} {name}: {e}"))),
        };
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Namespaced => Api::namespaced_with(client.clone(), env.ns(), &ar),
            Scope::Cluster => Api::all_with(client.clone(), &ar),
        };
        let dry = DRY_RUN_KINDS.contains(&kind);
        let how = if dry { &dry_run } else { &params };
        if let Err(e) = api.patch(name, how, &Patch::Apply(&obj)).await {
            return (cluster_scoped, Err(format!("applying {kind} {name}: {e}")));
        }
        if caps.scope == Scope::Cluster && !dry {
            cluster_scoped.push((gvk, name.to_owned()));
        }
    }
    (cluster_scoped, Ok(()))
}

async fn delete_cluster_scoped(env: &TestEnv, objects: &[(GroupVersionKind, String)]) {
    for (gvk, name) in objects {
        let (ar, _) = discovery::pinned_kind(env.client(), gvk)
            .await
            .expect("discovery");
        let api: Api<DynamicObject> = Api::all_with(env.client().clone(), &ar);
        api.delete(name, &DeleteParams::default())
            .await
            .unwrap_or_else(|e| panic!("deleting {} {name}: {e}", gvk.kind));
    }
}

/// Renders the chart into the test's namespace under a release named after it (unique,
/// so the ClusterRole and ClusterRoleBinding do not collide with other tests), applies
/// it, checks the Deployment read back, and deletes the cluster-scoped objects.
async fn applies(prefix: &str, values: Value, replicas: i32) -> Vec<String> {
    let env = TestEnv::start(prefix).await.expect("test environment");
    let release = env.ns().to_owned();
    let docs: Vec<Value> = render_release(values, &release, env.ns())
        .expect("render")
        .into_iter()
        .map(|d| serde_json::to_value(d).expect("manifest as JSON"))
        .collect();
    let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    for want in [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "ServiceAccount",
        "Service",
        "CustomResourceDefinition",
    ] {
        assert!(kinds.contains(&want), "no {want} rendered: {kinds:?}");
    }

    let (cluster_scoped, applied) = apply_all(&env, &docs).await;
    let checked = match applied {
        Ok(()) => check_deployment(&env, &docs, replicas).await,
        Err(e) => Err(e),
    };
    delete_cluster_scoped(&env, &cluster_scoped).await;
    checked.expect("chart applies");
    assert_eq!(cluster_scoped.len(), 2, "{cluster_scoped:?}");
    kinds.into_iter().map(str::to_owned).collect()
}

async fn check_deployment(env: &TestEnv, docs: &[Value], replicas: i32) -> Result<(), String> {
    let rendered = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .ok_or("no Deployment rendered")?;
    let name = rendered["metadata"]["name"].as_str().ok_or("no name")?;
    let live = env
        .api::<Deployment>()
        .get(name)
        .await
        .map_err(|e| format!("reading Deployment {name}: {e}"))?;
    let live = serde_json::to_value(&live).map_err(|e| e.to_string())?;
    let (want_pod, got_pod) = (
        &rendered["spec"]["template"]["spec"],
        &live["spec"]["template"]["spec"],
    );
    let (want_c, got_c) = (&want_pod["containers"][0], &got_pod["containers"][0]);
    if live["spec"]["replicas"] != json!(replicas) {
        return Err(format!("replicas: {}", live["spec"]["replicas"]));
    }
    if got_c["args"] != want_c["args"] || !want_c["args"].is_array() {
        return Err(format!(
            "args: rendered {} read back {}",
            want_c["args"], got_c["args"]
        ));
    }
    for (what, want, got) in [
        (
            "pod securityContext",
            &want_pod["securityContext"],
            &got_pod["securityContext"],
        ),
        (
            "container securityContext",
            &want_c["securityContext"],
            &got_c["securityContext"],
        ),
    ] {
        if !want.is_object() || !contains(got, want) {
            return Err(format!("{what}: rendered {want} read back {got}"));
        }
    }
    if got_pod["securityContext"]["seccompProfile"]["type"] != "RuntimeDefault"
        || got_c["securityContext"]["readOnlyRootFilesystem"] != json!(true)
    {
        return Err(format!("hardening lost: {got_pod}"));
    }
    Ok(())
}

#[tokio::test]
async fn default_values_apply() {
    let kinds = applies("chart-apply-default", json!({}), 2).await;
    assert!(!kinds.iter().any(|k| k == "ServiceMonitor"), "{kinds:?}");
}

#[tokio::test]
async fn three_replicas_and_every_option_apply() {
    let values = json!({
        "replicaCount": 3,
        "applicationNamespaces": ["argocd", "team-a"],
        "allowFileRepositories": true,
        "concurrency": 4,
        "leaseDuration": "20s",
        "timeouts": {"gitIO": "90s", "reconcile": "10m"},
        "cache": {"sizeLimit": "5Gi"},
        "metrics": {"serviceMonitor": {"enabled": true, "labels": {"release": "prom"}}}
    });
    let kinds = applies("chart-apply-three", values, 3).await;
    // Rendered, and left out of the apply (see SKIPPED_KINDS).
    assert!(kinds.iter().any(|k| k == "ServiceMonitor"), "{kinds:?}");
}
