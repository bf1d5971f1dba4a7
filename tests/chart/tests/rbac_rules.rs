//! The RBAC evaluator the proof relies on (`promote_chart_tests::rbac`), on small
//! hand-written roles: RBAC's `*` semantics, subresources, resourceNames, and where a
//! binding applies. No cluster.

use promote_chart_tests::rbac::{Request, documented_unused, grants};
use serde_yaml::Value as Yaml;

fn docs(yaml: &str) -> Vec<Yaml> {
    yaml.split("\n---\n")
        .map(|d| serde_yaml::from_str(d).expect("test YAML"))
        .collect()
}

fn req(verb: &str, group: &str, resource: &str, namespace: &str, name: &str) -> Request {
    let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
    Request {
        verb: verb.into(),
        group: group.into(),
        resource: resource.into(),
        subresource: subresource.into(),
        namespace: namespace.into(),
        name: name.into(),
    }
}

const SA: &str = "
subjects: [{kind: ServiceAccount, name: op, namespace: sys}]";

fn allowed(yaml: &str, r: &Request) -> bool {
    grants(&docs(yaml), "sys", "op")
        .expect("grants")
        .iter()
        .any(|g| g.allows(r))
}

fn cluster_role(rules: &str) -> String {
    format!(
        "kind: ClusterRole\nmetadata: {{name: c}}\nrules: {rules}\n---\nkind: ClusterRoleBinding\nmetadata: {{name: c}}\nroleRef: {{kind: ClusterRole, name: c}}{SA}"
    )
}

fn role(ns: &str, rules: &str) -> String {
    format!(
        "kind: Role\nmetadata: {{name: r, namespace: {ns}}}\nrules: {rules}\n---\nkind: RoleBinding\nmetadata: {{name: r, namespace: {ns}}}\nroleRef: {{kind: Role, name: r}}{SA}"
    )
}

#[test]
fn verbs_groups_and_resources_match_exactly_or_by_star() {
    let exact =
        cluster_role("[{apiGroups: [promote.dev], resources: [promotions], verbs: [list]}]");
    assert!(allowed(
        &exact,
        &req("list", "promote.dev", "promotions", "", "")
    ));
    assert!(!allowed(
        &exact,
        &req("watch", "promote.dev", "promotions", "", "")
    ));
    assert!(!allowed(&exact, &req("list", "", "promotions", "", "")));
    assert!(!allowed(
        &exact,
        &req("list", "promote.dev", "secrets", "", "")
    ));
    let star = cluster_role("[{apiGroups: ['*'], resources: ['*'], verbs: ['*']}]");
    assert!(allowed(&star, &req("delete", "", "secrets", "a", "s")));
    assert!(allowed(
        &star,
        &req("patch", "promote.dev", "promotions/status", "a", "p")
    ));
}

#[test]
fn a_subresource_needs_its_own_grant() {
    let main =
        cluster_role("[{apiGroups: [promote.dev], resources: [promotions], verbs: [patch]}]");
    assert!(!allowed(
        &main,
        &req("patch", "promote.dev", "promotions/status", "a", "p")
    ));
    let status = cluster_role(
        "[{apiGroups: [promote.dev], resources: [promotions/status], verbs: [patch]}]",
    );
    assert!(allowed(
        &status,
        &req("patch", "promote.dev", "promotions/status", "a", "p")
    ));
    assert!(!allowed(
        &status,
        &req("patch", "promote.dev", "promotions", "a", "p")
    ));
    let any_status =
        cluster_role("[{apiGroups: [promote.dev], resources: ['*/status'], verbs: [patch]}]");
    assert!(allowed(
        &any_status,
        &req("patch", "promote.dev", "promotions/status", "a", "p")
    ));
    assert!(!allowed(
        &any_status,
        &req("patch", "promote.dev", "promotions", "a", "p")
    ));
}

#[test]
fn resource_names_limit_a_rule_to_named_requests() {
    let named = role(
        "sys",
        "[{apiGroups: [coordination.k8s.io], resources: [leases], verbs: [get, create], resourceNames: [lease-a]}]",
    );
    assert!(allowed(
        &named,
        &req("get", "coordination.k8s.io", "leases", "sys", "lease-a")
    ));
    assert!(!allowed(
        &named,
        &req("get", "coordination.k8s.io", "leases", "sys", "lease-b")
    ));
    // A create names no object RBAC could match before it exists.
    assert!(!allowed(
        &named,
        &req("create", "coordination.k8s.io", "leases", "sys", "")
    ));
}

#[test]
fn a_role_binding_applies_only_in_its_namespace() {
    let ns = role(
        "lanes",
        "[{apiGroups: [''], resources: [secrets], verbs: [get, list]}]",
    );
    assert!(allowed(&ns, &req("get", "", "secrets", "lanes", "s")));
    assert!(!allowed(&ns, &req("get", "", "secrets", "other", "s")));
    assert!(
        !allowed(&ns, &req("list", "", "secrets", "", "")),
        "a list across namespaces"
    );
    let cluster = cluster_role("[{apiGroups: [''], resources: [secrets], verbs: [list]}]");
    assert!(allowed(&cluster, &req("list", "", "secrets", "", "")));
    assert!(allowed(&cluster, &req("list", "", "secrets", "lanes", "")));
}

#[test]
fn a_role_binding_may_name_a_cluster_role_and_binds_only_its_subjects() {
    let yaml = format!(
        "kind: ClusterRole\nmetadata: {{name: c}}\nrules: [{{apiGroups: [''], resources: [secrets], verbs: [get]}}]\n---\nkind: RoleBinding\nmetadata: {{name: b, namespace: lanes}}\nroleRef: {{kind: ClusterRole, name: c}}{SA}\n---\nkind: ClusterRoleBinding\nmetadata: {{name: other}}\nroleRef: {{kind: ClusterRole, name: c}}\nsubjects: [{{kind: ServiceAccount, name: someone-else, namespace: sys}}]"
    );
    assert!(allowed(&yaml, &req("get", "", "secrets", "lanes", "s")));
    assert!(!allowed(&yaml, &req("get", "", "secrets", "other", "s")));
}

#[test]
fn a_binding_to_a_role_the_chart_lacks_is_an_error() {
    let yaml = format!(
        "kind: ClusterRoleBinding\nmetadata: {{name: b}}\nroleRef: {{kind: ClusterRole, name: missing}}{SA}"
    );
    let err = grants(&docs(&yaml), "sys", "op").expect_err("a dangling roleRef");
    assert!(err.contains("missing"), "{err}");
}

#[test]
fn the_documented_table_is_read_from_its_heading_on() {
    let doc = "# x\n\n| `get` | `a` | `b` | elsewhere |\n\n## Unused\n\nText.\n\n| verb | resource | apiGroup | why |\n|---|---|---|---|\n| `patch` | `events` | `events.k8s.io` | repeats |\n| `create` | `leases` | `\"\"` | first start |\n\nAfter.\n| `get` | `c` | `d` | not in the table |\n";
    let rows = documented_unused(doc, "## Unused").expect("table");
    let rows: Vec<(String, String, String)> = rows.into_iter().collect();
    assert_eq!(
        rows,
        [
            ("create".into(), "leases".into(), String::new()),
            ("patch".into(), "events".into(), "events.k8s.io".into()),
        ]
    );
    assert!(documented_unused(doc, "## Missing").is_err());
}
