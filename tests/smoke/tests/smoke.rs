//! Proves the test cluster behaves as the operator needs: the Promotion CRD is served
//! with its schema and CEL rules, status goes through server-side apply, watches see
//! changes, optimistic concurrency holds, and kubectl works against it.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event, ObjectReference, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ObjectMeta, Patch, PatchParams, PostParams,
};
use kube::discovery::Discovery;
use kube::runtime::{WatchStreamExt, watcher};
use promote_testsupport::{PROMOTION_CRD, PROMOTION_CRD_NAME, TestEnv, repo_root, wait_until};
use serde_json::{Value, json};

/// Bound on every wait, so a broken cluster fails the test instead of hanging it.
const WAIT: Duration = Duration::from_secs(30);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(100);

fn promotion_resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "promote.dev",
        "v1alpha1",
        "Promotion",
    ))
}

fn promotions(env: &TestEnv) -> Api<DynamicObject> {
    Api::namespaced_with(env.client().clone(), env.ns(), &promotion_resource())
}

/// A Promotion as an app team would write it, with `spec` changed by `edit`.
fn promotion(name: &str, edit: impl FnOnce(&mut Value)) -> DynamicObject {
    let mut spec = json!({
        "repository": {"url": "https://git.example.com/platform/web-core.git", "branch": "main"},
        "source": {
            "environment": "dev",
            "valuesFile": "deploy/env/release-dev/synestra-io.yaml",
            "application": {"name": "web-synestra-io-dev", "namespace": "argocd"}
        },
        "target": {
            "environment": "prod",
            "valuesFile": "deploy/env/release-prod/synestra-io.yaml",
            "application": {"name": "web-synestra-io-prod", "namespace": "argocd"}
        },
        "fields": ["image.tag"],
        "trigger": "Manual"
    });
    edit(&mut spec);
    let mut obj = DynamicObject::new(name, &promotion_resource());
    obj.data = json!({ "spec": spec });
    obj
}

/// The message of the CRD's own validation rule on `spec` (or on `spec.<field>`)
/// whose rule mentions `needle`, read from the generated CRD file.
fn crd_rule_message(field: Option<&str>, needle: &str) -> String {
    let path = repo_root().join(PROMOTION_CRD);
    let text = std::fs::read_to_string(&path).expect("read the generated Promotion CRD");
    let crd: Value = serde_yaml::from_str(&text).expect("parse the Promotion CRD");
    let mut schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    if let Some(field) = field {
        schema = &schema["properties"][field];
    }
    schema["x-kubernetes-validations"]
        .as_array()
        .expect("the CRD has validation rules there")
        .iter()
        .find(|r| r["rule"].as_str().is_some_and(|s| s.contains(needle)))
        .and_then(|r| r["message"].as_str())
        .expect("a rule with that text")
        .to_owned()
}

/// Creates `obj` and returns the server's rejection.
async fn rejection(api: &Api<DynamicObject>, obj: &DynamicObject) -> kube::core::Status {
    match api.create(&PostParams::default(), obj).await {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected the server to reject the Promotion, got {other:?}"),
    }
}

#[tokio::test]
async fn promotion_crd_is_established_and_discoverable() {
    let env = TestEnv::start("smoke-crd").await.expect("test environment");
    let crd = Api::<CustomResourceDefinition>::all(env.client().clone())
        .get(PROMOTION_CRD_NAME)
        .await
        .expect("get the Promotion CRD");
    let conditions = crd
        .status
        .and_then(|s| s.conditions)
        .expect("CRD conditions");
    for wanted in ["NamesAccepted", "Established"] {
        assert!(
            conditions
                .iter()
                .any(|c| c.type_ == wanted && c.status == "True"),
            "{wanted} is not True: {conditions:?}"
        );
    }

    let discovery = Discovery::new(env.client().clone())
        .filter(&["promote.dev", "coordination.k8s.io", ""])
        .run()
        .await
        .expect("API discovery");
    let kinds: Vec<String> = discovery
        .groups()
        .flat_map(|g| g.recommended_resources())
        .map(|(ar, _)| format!("{}/{}", ar.api_version, ar.kind))
        .collect();
    for wanted in [
        "promote.dev/v1alpha1/Promotion",
        "coordination.k8s.io/v1/Lease",
        "v1/Secret",
        "v1/ConfigMap",
        "v1/Event",
        "v1/Namespace",
    ] {
        assert!(
            kinds.iter().any(|k| k == wanted),
            "{wanted} missing from {kinds:?}"
        );
    }
}

#[tokio::test]
async fn valid_promotion_is_accepted_with_defaults() {
    let env = TestEnv::start("smoke-valid")
        .await
        .expect("test environment");
    let api = promotions(&env);
    let created = api
        .create(&PostParams::default(), &promotion("web-prod", |_| {}))
        .await
        .expect("a valid Promotion is accepted");
    assert_eq!(created.metadata.generation, Some(1));
    // Defaults come from the CRD's structural schema, applied by the server.
    assert_eq!(created.data["spec"]["suspend"], json!(false));
}

#[tokio::test]
async fn invalid_promotions_are_rejected_with_the_crds_messages() {
    let env = TestEnv::start("smoke-invalid")
        .await
        .expect("test environment");
    let api = promotions(&env);

    let empty = rejection(&api, &promotion("empty", |s| *s = json!({}))).await;
    assert_eq!(empty.code, 422, "{empty:?}");
    assert!(
        empty.message.contains("spec.repository: Required value"),
        "{}",
        empty.message
    );

    let bad_pin = rejection(
        &api,
        &promotion("bad-pin", |s| s["pin"] = json!("v1 with spaces")),
    )
    .await;
    assert_eq!(bad_pin.code, 422, "{bad_pin:?}");
    let pin_message = crd_rule_message(Some("pin"), "matches");
    assert!(
        bad_pin.message.contains("spec.pin") && bad_pin.message.contains(&pin_message),
        "{}",
        bad_pin.message
    );

    let same_file = rejection(
        &api,
        &promotion("same-file", |s| {
            s["target"]["valuesFile"] = s["source"]["valuesFile"].clone();
        }),
    )
    .await;
    assert_eq!(same_file.code, 422, "{same_file:?}");
    let same_message = crd_rule_message(None, "valuesFile");
    assert!(
        same_file.message.contains(&same_message),
        "{}",
        same_file.message
    );

    let list = api.list(&Default::default()).await.expect("list");
    assert!(list.items.is_empty(), "nothing invalid was stored");
}

#[tokio::test]
async fn status_is_applied_server_side_and_watchers_see_it() {
    let env = TestEnv::start("smoke-status")
        .await
        .expect("test environment");
    let api = promotions(&env);
    api.create(&PostParams::default(), &promotion("web-prod", |_| {}))
        .await
        .expect("create");

    // Watch first, and take the initial list (no status yet), so the change below
    // can only arrive as a watch event.
    let mut phases = watcher(api.clone(), watcher::Config::default())
        .applied_objects()
        .map_ok(|p| p.data["status"]["phase"].as_str().map(str::to_owned))
        .boxed();
    let initial = tokio::time::timeout(WAIT, phases.try_next()).await;
    assert!(
        matches!(initial, Ok(Ok(Some(None)))),
        "the watch lists the Promotion without status first: {initial:?}"
    );

    let status = json!({
        "apiVersion": "promote.dev/v1alpha1",
        "kind": "Promotion",
        "status": {"observedGeneration": 1, "phase": "InSync"}
    });
    let patched = api
        .patch_status(
            "web-prod",
            &PatchParams::apply("promote-operator").force(),
            &Patch::Apply(&status),
        )
        .await
        .expect("server-side apply of status");
    assert_eq!(patched.data["status"]["phase"], json!("InSync"));
    assert_eq!(
        patched.metadata.generation,
        Some(1),
        "status writes do not bump generation"
    );
    let managers = patched.metadata.managed_fields.unwrap_or_default();
    assert!(
        managers
            .iter()
            .any(|m| m.manager.as_deref() == Some("promote-operator")
                && m.subresource.as_deref() == Some("status")
                && m.operation.as_deref() == Some("Apply")),
        "{managers:?}"
    );

    wait_until(
        "the watch sees phase InSync",
        WAIT,
        POLL,
        async || match phases.try_next().await {
            Ok(Some(Some(phase))) if phase == "InSync" => Ok(Some(())),
            Ok(Some(phase)) => Err(format!("phase {phase:?}")),
            Ok(None) => panic!("the watch ended"),
            Err(e) => Err(format!("watch stream: {e}")),
        },
    )
    .await
    .expect("the watch saw the status change");

    // A spec write through the main resource leaves the status alone.
    let spec_patch = json!({"spec": {"suspend": true}});
    let updated = api
        .patch(
            "web-prod",
            &PatchParams::default(),
            &Patch::Merge(&spec_patch),
        )
        .await
        .expect("patch spec");
    assert_eq!(updated.metadata.generation, Some(2));
    assert_eq!(updated.data["status"]["phase"], json!("InSync"));
}

#[tokio::test]
async fn lease_update_with_a_stale_resource_version_conflicts() {
    let env = TestEnv::start("smoke-lease")
        .await
        .expect("test environment");
    let leases: Api<Lease> = env.api();
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": "promote-operator"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}
    }))
    .expect("lease");
    let created = leases
        .create(&PostParams::default(), &lease)
        .await
        .expect("create lease");

    let mut first = created.clone();
    first.spec.get_or_insert_default().holder_identity = Some("b".into());
    leases
        .replace("promote-operator", &PostParams::default(), &first)
        .await
        .expect("update with the current resourceVersion");

    let mut stale = created;
    stale.spec.get_or_insert_default().holder_identity = Some("c".into());
    match leases
        .replace("promote-operator", &PostParams::default(), &stale)
        .await
    {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 409, "{status:?}"),
        other => panic!("expected 409 Conflict, got {other:?}"),
    }
    let current = leases.get("promote-operator").await.expect("get lease");
    assert_eq!(
        current.spec.and_then(|s| s.holder_identity).as_deref(),
        Some("b")
    );

    // The test control plane's audit log records every call, with its namespace.
    if let Some(log) = env.control_plane.audit_log() {
        let what = format!("the conflict is in {}", log.display());
        wait_until(what, WAIT, POLL, async || {
            let text = std::fs::read_to_string(&log)?;
            let hit = text.lines().any(|l| {
                l.contains(env.ns())
                    && l.contains("\"resource\":\"leases\"")
                    && l.contains("\"verb\":\"update\"")
                    && l.contains("\"code\":409")
            });
            Ok::<_, std::io::Error>(hit.then_some(()))
        })
        .await
        .expect("the audit log records the conflict");
    }
}

#[tokio::test]
async fn kubectl_lists_what_the_operator_uses() {
    let env = TestEnv::start("smoke-kubectl")
        .await
        .expect("test environment");
    let pp = PostParams::default();
    let meta = |name: &str| ObjectMeta {
        name: Some(name.into()),
        ..ObjectMeta::default()
    };
    env.api::<ConfigMap>()
        .create(
            &pp,
            &ConfigMap {
                metadata: meta("smoke-cm"),
                ..Default::default()
            },
        )
        .await
        .expect("configmap");
    let secret = env
        .api::<Secret>()
        .create(
            &pp,
            &Secret {
                metadata: meta("smoke-secret"),
                string_data: Some([("token".to_owned(), "s3cr3t".to_owned())].into()),
                ..Default::default()
            },
        )
        .await
        .expect("secret");
    assert_eq!(
        secret
            .data
            .and_then(|d| d.get("token").cloned())
            .map(|b| b.0),
        Some(b"s3cr3t".to_vec()),
        "stringData is merged into data"
    );
    env.api::<Event>()
        .create(
            &pp,
            &Event {
                metadata: meta("smoke-event"),
                involved_object: ObjectReference {
                    kind: Some("Promotion".into()),
                    name: Some("web-prod".into()),
                    namespace: Some(env.ns().into()),
                    ..Default::default()
                },
                reason: Some("Smoke".into()),
                message: Some("kubectl can see this".into()),
                type_: Some("Normal".into()),
                ..Default::default()
            },
        )
        .await
        .expect("event");
    let lease: Lease =
        serde_json::from_value(json!({"metadata": {"name": "smoke-lease"}})).expect("lease");
    env.api::<Lease>().create(&pp, &lease).await.expect("lease");

    let out = match env
        .kubectl()
        .args([
            "get",
            "namespaces,secrets,configmaps,events,leases,customresourcedefinitions",
        ])
        .args(["--output", "name"])
        .output()
        .await
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "skipped: no kubectl at {}",
                env.control_plane.kubectl_path().display()
            );
            return;
        }
        Err(e) => panic!("run kubectl: {e}"),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for wanted in [
        format!("namespace/{}", env.ns()),
        "secret/smoke-secret".to_owned(),
        "configmap/smoke-cm".to_owned(),
        "event/smoke-event".to_owned(),
        "lease.coordination.k8s.io/smoke-lease".to_owned(),
        format!("customresourcedefinition.apiextensions.k8s.io/{PROMOTION_CRD_NAME}"),
    ] {
        assert!(
            stdout.lines().any(|l| l == wanted),
            "{wanted} missing from:\n{stdout}"
        );
    }
}
