//! The chart lints clean, renders what the operator needs, and its schema refuses bad values.

use promote_chart_tests::{find, helm, notes, render};
use serde_json::{Value, json};
use serde_yaml::Value as Yaml;

fn container(docs: &[Yaml]) -> &Yaml {
    let deploy = find(docs, "Deployment").expect("a Deployment");
    &deploy["spec"]["template"]["spec"]["containers"][0]
}

fn args(docs: &[Yaml]) -> Vec<String> {
    container(docs)["args"]
        .as_sequence()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string arg").to_owned())
        .collect()
}

fn non_default() -> Value {
    json!({
        "replicaCount": 3,
        "applicationNamespaces": ["argocd", "team-a"],
        "allowFileRepositories": true,
        "committerEmail": "promote-bot@example.com",
        "concurrency": 4,
        "leaseDuration": "20s",
        "timeouts": {"gitIO": "90s", "reconcile": "10m"},
        "cache": {"sizeLimit": "5Gi"},
        "metrics": {"serviceMonitor": {"enabled": true, "labels": {"release": "prom"}}}
    })
}

#[test]
fn lint_strict_is_clean() {
    for values in [
        json!({}),
        non_default(),
        json!({"replicaCount": 1}),
        json!({"rbac": {"scope": "namespaced"}}),
    ] {
        let report = helm("lint", values.clone()).expect("lint");
        assert_eq!(
            report["errors"],
            json!([]),
            "lint errors with {values}: {report}"
        );
        let findings: Vec<&Value> = report["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .filter(|m| m["severity"].as_i64().unwrap_or(0) >= 2)
            .collect();
        assert!(
            findings.is_empty(),
            "lint warnings with {values}: {findings:?}"
        );
    }
}

#[test]
fn defaults_render_a_hardened_operator_with_leader_election() {
    let docs = render(json!({})).expect("render");
    let pod = &find(&docs, "Deployment").expect("Deployment")["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], Yaml::Bool(true));
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );

    let c = container(&docs);
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], Yaml::Bool(true));
    assert_eq!(sc["allowPrivilegeEscalation"], Yaml::Bool(false));
    assert_eq!(sc["capabilities"]["drop"][0], "ALL");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert!(c["resources"]["limits"]["memory"].is_string());
    assert!(c["resources"]["requests"]["cpu"].is_string());
    let env: Vec<&str> = c["env"]
        .as_sequence()
        .expect("env")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(env, ["POD_NAME", "POD_NAMESPACE"]);

    assert_eq!(pod["volumes"][0]["emptyDir"]["sizeLimit"], "2Gi");
    assert_eq!(c["volumeMounts"][0]["mountPath"], "/var/cache/promote");

    let args = args(&docs);
    for want in [
        "--log-format=json",
        "--application-namespaces=argocd",
        "--resync=60s",
        "--full-resync=10m",
        "--poll=2s",
        "--concurrency=8",
        "--lease-duration=15s",
        "--git-connect-timeout=10s",
        "--git-timeout=60s",
        "--kube-connect-timeout=10s",
        "--kube-read-timeout=30s",
        "--reconcile-timeout=5m",
        "--stall-timeout=5m",
        "--cache-dir=/var/cache/promote",
        "--metrics-addr=0.0.0.0:8080",
        "--committer-email=promote@localhost",
    ] {
        assert!(args.iter().any(|a| a == want), "missing {want} in {args:?}");
    }
    assert!(
        !args.iter().any(|a| a == "--no-leader-election"),
        "{args:?}"
    );
    assert!(
        !args.iter().any(|a| a == "--allow-file-repositories"),
        "{args:?}"
    );

    let svc = find(&docs, "Service").expect("metrics Service");
    assert_eq!(svc["spec"]["ports"][0]["name"], "metrics");
    assert!(
        find(&docs, "ServiceMonitor").is_none(),
        "ServiceMonitor is off by default"
    );
}

#[test]
fn one_replica_runs_without_leader_election() {
    let docs = render(json!({"replicaCount": 1})).expect("render");
    let args = args(&docs);
    assert!(args.iter().any(|a| a == "--no-leader-election"), "{args:?}");
    assert!(!args.iter().any(|a| a.starts_with("--lease-")), "{args:?}");
}

#[test]
fn non_default_values_reach_the_args_and_the_service_monitor() {
    let docs = render(non_default()).expect("render");
    let deploy = find(&docs, "Deployment").expect("Deployment");
    assert_eq!(deploy["spec"]["replicas"], Yaml::from(3));
    let args = args(&docs);
    for want in [
        "--application-namespaces=argocd,team-a",
        "--allow-file-repositories",
        "--committer-email=promote-bot@example.com",
        "--concurrency=4",
        "--lease-duration=20s",
        "--git-timeout=90s",
        "--reconcile-timeout=10m",
    ] {
        assert!(args.iter().any(|a| a == want), "missing {want} in {args:?}");
    }
    assert!(
        !args.iter().any(|a| a == "--no-leader-election"),
        "{args:?}"
    );
    assert_eq!(
        deploy["spec"]["template"]["spec"]["volumes"][0]["emptyDir"]["sizeLimit"],
        "5Gi"
    );

    let sm = find(&docs, "ServiceMonitor").expect("ServiceMonitor when enabled");
    assert_eq!(sm["metadata"]["labels"]["release"], "prom");
    assert_eq!(sm["spec"]["endpoints"][0]["port"], "metrics");
}

#[test]
fn notes_give_the_next_steps() {
    let text = notes(json!({})).expect("notes");
    for want in [
        "promote.dev/credentials=true",
        "kubectl apply",
        "kubectl promote get -A",
    ] {
        assert!(text.contains(want), "NOTES.txt lacks {want:?}:\n{text}");
    }
}

#[test]
fn schema_accepts_good_values() {
    for values in [
        json!({}),
        non_default(),
        json!({"replicaCount": 1}),
        json!({"rbac": {"scope": "namespaced"}, "watchNamespace": "web"}),
        json!({"crds": {"install": false, "keep": false}}),
    ] {
        let answer = helm("validate", values.clone()).expect("validate");
        assert_eq!(answer["valid"], json!(true), "{values} rejected: {answer}");
    }
}

#[test]
fn schema_rejects_bad_values_with_a_message() {
    let cases = [
        (json!({"replicaCount": -1}), "/replicaCount"),
        (json!({"replicaCount": "two"}), "/replicaCount"),
        (json!({"replicaCunt": 2}), "replicaCunt"),
        (json!({"logFormat": "xml"}), "/logFormat"),
        (
            json!({"applicationNamespaces": "argocd"}),
            "/applicationNamespaces",
        ),
        (
            json!({"allowFileRepositories": "yes"}),
            "/allowFileRepositories",
        ),
        (
            json!({"timeouts": {"reconcile": "five minutes"}}),
            "/timeouts/reconcile",
        ),
        (json!({"concurrency": 0}), "/concurrency"),
        (json!({"crds": {"install": "true"}}), "/crds/install"),
        (json!({"crds": {"keep": 1}}), "/crds/keep"),
        (json!({"crds": {"instal": true}}), "instal"),
        (json!({"rbac": {"scope": "global"}}), "/rbac/scope"),
        (json!({"rbac": {"scope": null}}), "scope"),
        (json!({"watchNamespace": "Team_A"}), "/watchNamespace"),
        (json!({"cache": {"sizeLimit": 2}}), "/cache/sizeLimit"),
        (
            json!({"metrics": {"serviceMonitor": {"enabled": "on"}}}),
            "/metrics/serviceMonitor/enabled",
        ),
    ];
    for (values, names) in cases {
        let answer = helm("validate", values.clone()).expect("validate");
        assert_eq!(answer["valid"], json!(false), "{values} accepted");
        let message = answer["message"].as_str().expect("a message");
        assert!(
            message.contains(names),
            "message for {values} does not name {names}: {message}"
        );
    }
}

/// The CRD as generated into crds/ at the repository root.
fn generated_crd() -> Yaml {
    let path = promote_chart_tests::chart_dir().join("../../crds/promotions.promote.dev.yaml");
    let text = std::fs::read_to_string(&path).expect("crds/ copy");
    serde_yaml::from_str(&text).expect("CRD YAML")
}

#[test]
fn defaults_render_the_generated_crd_kept_on_uninstall() {
    let docs = render(json!({})).expect("render");
    let crd = find(&docs, "CustomResourceDefinition").expect("the CRD is installed by default");
    assert_eq!(
        crd["metadata"]["annotations"]["helm.sh/resource-policy"],
        "keep"
    );
    assert_eq!(
        crd["metadata"]["labels"]["app.kubernetes.io/name"],
        "promote"
    );
    let generated = generated_crd();
    assert_eq!(crd["metadata"]["name"], generated["metadata"]["name"]);
    assert!(
        crd["spec"] == generated["spec"],
        "the rendered CRD's spec differs from crds/promotions.promote.dev.yaml"
    );
}

#[test]
fn crds_install_false_renders_no_crd() {
    let docs = render(json!({"crds": {"install": false}})).expect("render");
    assert!(find(&docs, "CustomResourceDefinition").is_none());
    assert!(
        find(&docs, "Deployment").is_some(),
        "the rest still renders"
    );
}

#[test]
fn crds_keep_false_renders_no_annotation() {
    let docs = render(json!({"crds": {"keep": false}})).expect("render");
    let crd = find(&docs, "CustomResourceDefinition").expect("CRD");
    assert!(
        crd["metadata"]["annotations"]["helm.sh/resource-policy"].is_null(),
        "{:?}",
        crd["metadata"]
    );
}

/// Every rendered document of `kind`, as (namespace, name).
fn named(docs: &[Yaml], kind: &str) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = docs
        .iter()
        .filter(|d| d["kind"].as_str() == Some(kind))
        .map(|d| {
            let text = |v: &Yaml| v.as_str().unwrap_or_default().to_owned();
            (
                text(&d["metadata"]["namespace"]),
                text(&d["metadata"]["name"]),
            )
        })
        .collect();
    found.sort();
    found
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[test]
fn cluster_scope_by_default_watches_every_namespace() {
    let docs = render(json!({})).expect("render");
    assert_eq!(
        named(&docs, "ClusterRole"),
        pairs(&[("", "promote-operator")])
    );
    assert_eq!(
        named(&docs, "ClusterRoleBinding"),
        pairs(&[("", "promote-operator")])
    );
    assert_eq!(
        named(&docs, "Role"),
        pairs(&[("promote", "promote-operator-leader")])
    );
    let args = args(&docs);
    assert!(
        !args.iter().any(|a| a.starts_with("--namespace")),
        "{args:?}"
    );
    let text = notes(json!({})).expect("notes");
    assert!(text.contains("every namespace"), "{text}");
}

#[test]
fn cluster_scope_with_a_watch_namespace_passes_the_flag() {
    let docs = render(json!({"watchNamespace": "team-a"})).expect("render");
    assert!(args(&docs).iter().any(|a| a == "--namespace=team-a"));
    assert_eq!(
        named(&docs, "ClusterRole"),
        pairs(&[("", "promote-operator")])
    );
}

#[test]
fn namespaced_scope_renders_roles_where_the_operator_works() {
    let values =
        json!({"rbac": {"scope": "namespaced"}, "applicationNamespaces": ["argocd", "team-a"]});
    let docs = render(values.clone()).expect("render");
    assert!(args(&docs).iter().any(|a| a == "--namespace=promote"));
    assert_eq!(
        named(&docs, "Role"),
        pairs(&[
            ("argocd", "promote-operator-applications"),
            ("promote", "promote-operator"),
            ("promote", "promote-operator-leader"),
            ("team-a", "promote-operator-applications"),
        ])
    );
    assert_eq!(named(&docs, "RoleBinding"), named(&docs, "Role"));
    // The one cluster-wide grant left: the operator watches Applications everywhere.
    let cluster_roles: Vec<&Yaml> = docs.iter().filter(|d| d["kind"] == "ClusterRole").collect();
    assert_eq!(cluster_roles.len(), 1);
    let rules = cluster_roles[0]["rules"].as_sequence().expect("rules");
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert_eq!(rules[0]["resources"][0], "applications");
    assert_eq!(
        rules[0]["verbs"],
        serde_yaml::from_str::<Yaml>("[list, watch]").expect("yaml")
    );
    let text = notes(values).expect("notes");
    assert!(text.contains("namespace promote"), "{text}");

    let docs =
        render(json!({"rbac": {"scope": "namespaced"}, "watchNamespace": "web"})).expect("render");
    assert!(args(&docs).iter().any(|a| a == "--namespace=web"));
    assert!(named(&docs, "Role").contains(&("web".to_owned(), "promote-operator".to_owned())));
}

#[test]
fn one_replica_renders_no_lease_role() {
    let docs = render(json!({"replicaCount": 1})).expect("render");
    assert!(
        named(&docs, "Role").is_empty(),
        "{:?}",
        named(&docs, "Role")
    );
}
