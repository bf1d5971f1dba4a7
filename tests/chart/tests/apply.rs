//! The rendered chart applies cleanly to a real API server, which validates every
//! manifest; the Deployment reads back with the args and security context rendered.

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, Scope};
use promote_chart_tests::render_release;
use promote_testsupport::{TestEnv, TestNamespace};
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
        // Most objects go to the release's namespace; RBAC Roles may name another.
        let namespace = doc["metadata"]["namespace"].as_str().unwrap_or(env.ns());
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Namespaced => Api::namespaced_with(client.clone(), namespace, &ar),
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
/// so the cluster-scoped RBAC objects do not collide with other tests), applies it, checks
/// the Deployment read back, deletes the cluster-scoped objects, and returns the rendered
/// documents and the cluster-scoped objects applied.
async fn applies(
    env: &TestEnv,
    values: Value,
    replicas: i32,
) -> (Vec<Value>, Vec<(GroupVersionKind, String)>) {
    let release = env.ns().to_owned();
    let docs: Vec<Value> = render_release(values, &release, env.ns())
        .expect("render")
        .into_iter()
        .map(|d| serde_json::to_value(d).expect("manifest as JSON"))
        .collect();
    let kinds = kinds(&docs);
    for want in [
        "Deployment",
        "ServiceAccount",
        "Service",
        "CustomResourceDefinition",
    ] {
        assert!(kinds.contains(&want), "no {want} rendered: {kinds:?}");
    }

    let (cluster_scoped, applied) = apply_all(env, &docs).await;
    let checked = match applied {
        Ok(()) => check_deployment(env, &docs, replicas).await,
        Err(e) => Err(e),
    };
    delete_cluster_scoped(env, &cluster_scoped).await;
    checked.expect("chart applies");
    (docs, cluster_scoped)
}

fn kinds(docs: &[Value]) -> Vec<&str> {
    docs.iter().filter_map(|d| d["kind"].as_str()).collect()
}

/// The (kind, namespace, name) of every rendered RBAC object, cluster-scoped ones with "".
fn rbac_objects(docs: &[Value]) -> Vec<(String, String, String)> {
    let mut found: Vec<(String, String, String)> = docs
        .iter()
        .filter(|d| d["apiVersion"] == "rbac.authorization.k8s.io/v1")
        .map(|d| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (
                text(&d["kind"]),
                text(&d["metadata"]["namespace"]),
                text(&d["metadata"]["name"]),
            )
        })
        .collect();
    found.sort();
    found
}

/// Reads back each namespaced RBAC object from the namespace it was rendered for.
async fn check_rbac_read_back(env: &TestEnv, docs: &[Value]) {
    use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
    for (kind, namespace, name) in rbac_objects(docs) {
        let found = match kind.as_str() {
            "Role" => Api::<Role>::namespaced(env.client().clone(), &namespace)
                .get_opt(&name)
                .await
                .map(|r| r.is_some()),
            "RoleBinding" => Api::<RoleBinding>::namespaced(env.client().clone(), &namespace)
                .get_opt(&name)
                .await
                .map(|r| r.is_some()),
            _ => continue,
        };
        assert!(
            found.unwrap_or_else(|e| panic!("reading {kind} {namespace}/{name}: {e}")),
            "{kind} {namespace}/{name} was not applied"
        );
    }
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
    let env = TestEnv::start("chart-apply-default")
        .await
        .expect("test environment");
    let (docs, cluster_scoped) = applies(&env, json!({}), 2).await;
    let kinds = kinds(&docs);
    assert!(!kinds.contains(&"ServiceMonitor"), "{kinds:?}");
    let cluster: Vec<&str> = cluster_scoped
        .iter()
        .map(|(g, _)| g.kind.as_str())
        .collect();
    assert_eq!(cluster, ["ClusterRole", "ClusterRoleBinding"]);
    check_rbac_read_back(&env, &docs).await;
}

#[tokio::test]
async fn three_replicas_and_every_option_apply() {
    let env = TestEnv::start("chart-apply-three")
        .await
        .expect("test environment");
    let values = json!({
        "replicaCount": 3,
        "applicationNamespaces": ["argocd", "team-a"],
        "allowFileRepositories": true,
        "watchNamespace": env.ns(),
        "concurrency": 4,
        "leaseDuration": "20s",
        "timeouts": {"gitIO": "90s", "reconcile": "10m"},
        "cache": {"sizeLimit": "5Gi"},
        "metrics": {"serviceMonitor": {"enabled": true, "labels": {"release": "prom"}}}
    });
    let (docs, _) = applies(&env, values, 3).await;
    // Rendered, and left out of the apply (see SKIPPED_KINDS).
    assert!(kinds(&docs).contains(&"ServiceMonitor"));
}

/// Namespaced RBAC: Roles and RoleBindings in the watched namespace and in each
/// application namespace, each applied to and read back from its own namespace.
#[tokio::test]
async fn namespaced_rbac_applies_to_each_namespace() {
    let env = TestEnv::start("chart-apply-ns")
        .await
        .expect("test environment");
    let apps = TestNamespace::create(env.control_plane, env.client().clone(), "chart-apply-apps")
        .await
        .expect("application namespace");
    let values = json!({
        "rbac": {"scope": "namespaced"},
        "applicationNamespaces": [apps.name()],
    });
    let (docs, cluster_scoped) = applies(&env, values, 2).await;
    let (release, app_ns) = (env.ns().to_owned(), apps.name().to_owned());
    let fullname = format!("{release}-operator");
    let applications = format!("{fullname}-applications");
    let leader = format!("{fullname}-leader");
    let want: Vec<(String, String, String)> = [
        ("ClusterRole", "", applications.as_str()),
        ("ClusterRoleBinding", "", applications.as_str()),
        ("Role", app_ns.as_str(), applications.as_str()),
        ("Role", release.as_str(), fullname.as_str()),
        ("Role", release.as_str(), leader.as_str()),
        ("RoleBinding", app_ns.as_str(), applications.as_str()),
        ("RoleBinding", release.as_str(), fullname.as_str()),
        ("RoleBinding", release.as_str(), leader.as_str()),
    ]
    .into_iter()
    .map(|(k, n, m)| (k.to_owned(), n.to_owned(), m.to_owned()))
    .collect();
    let mut want = want;
    want.sort();
    assert_eq!(rbac_objects(&docs), want);
    assert_eq!(cluster_scoped.len(), 2, "{cluster_scoped:?}");
    check_rbac_read_back(&env, &docs).await;
    apps.delete()
        .await
        .expect("delete the application namespace");
}
