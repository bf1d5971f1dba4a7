//! RBAC as the API server would evaluate it, over the chart's rendered Roles, ClusterRoles
//! and their bindings, and the requests one identity made, read from the test control
//! plane's audit log. The control plane does not enforce RBAC; this is how a test proves
//! that the chart grants what the operator uses, and uses what the chart grants.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use serde_json::Value;
use serde_yaml::Value as Yaml;

/// One resource request, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Request {
    /// The RBAC verb: get, list, watch, create, update, patch, delete, deletecollection.
    pub verb: String,
    /// The API group; "" for the core group.
    pub group: String,
    /// The resource, such as `promotions`.
    pub resource: String,
    /// The subresource, such as `status`; "" for none.
    pub subresource: String,
    /// The namespace; "" for a cluster-scoped request (or one across all namespaces).
    pub namespace: String,
    /// The object's name; "" when the request names none (list, watch, create).
    pub name: String,
}

impl Request {
    /// `resource` or `resource/subresource`, as RBAC rules spell it.
    pub fn resource_path(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            self.verb,
            resource_in_group(&self.resource_path(), &self.group)
        )?;
        match (self.namespace.as_str(), self.name.as_str()) {
            ("", "") => write!(f, " (all namespaces, or cluster-scoped)"),
            ("", name) => write!(f, " {name} (cluster-scoped)"),
            (ns, "") => write!(f, " in namespace {ns}"),
            (ns, name) => write!(f, " {name} in namespace {ns}"),
        }
    }
}

fn resource_in_group(resource: &str, group: &str) -> String {
    if group.is_empty() {
        resource.to_owned()
    } else {
        format!("{resource}.{group}")
    }
}

/// One verb on one resource of one group, granted by one rule of one role, where its
/// binding applies.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    /// The role, as `ClusterRole name` or `Role namespace/name`.
    pub role: String,
    /// The binding's namespace; `None` for a ClusterRoleBinding (every namespace).
    pub namespace: Option<String>,
    /// An API group, or `*`.
    pub group: String,
    /// A resource (`resource` or `resource/subresource`), `*` or `*/subresource`.
    pub resource: String,
    /// A verb, or `*`.
    pub verb: String,
    /// The names the rule is limited to; empty for any.
    pub resource_names: Vec<String>,
}

impl Grant {
    /// Whether this grant allows `req`, with RBAC's semantics: `*` matches any group,
    /// resource or verb, `*/sub` any resource's subresource `sub`, a rule with
    /// resourceNames only requests naming one of them, and a RoleBinding only requests in
    /// its namespace.
    pub fn allows(&self, req: &Request) -> bool {
        let scope = self
            .namespace
            .as_deref()
            .is_none_or(|ns| ns == req.namespace);
        let group = self.group == "*" || self.group == req.group;
        let resource = self.resource == "*"
            || self.resource == req.resource_path()
            || (!req.subresource.is_empty() && self.resource == format!("*/{}", req.subresource));
        let verb = self.verb == "*" || self.verb == req.verb;
        let name = self.resource_names.is_empty()
            || (!req.name.is_empty() && self.resource_names.contains(&req.name));
        scope && group && resource && verb && name
    }

    /// The (verb, resource, group) this grant is listed under in docs/rbac.md.
    pub fn key(&self) -> (String, String, String) {
        (self.verb.clone(), self.resource.clone(), self.group.clone())
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            self.verb,
            resource_in_group(&self.resource, &self.group)
        )?;
        if !self.resource_names.is_empty() {
            write!(f, " named {}", self.resource_names.join(","))?;
        }
        match &self.namespace {
            Some(ns) => write!(f, " in namespace {ns} ({})", self.role),
            None => write!(f, " in every namespace ({})", self.role),
        }
    }
}

fn strings(v: &Yaml) -> Vec<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(Yaml::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn text(v: &Yaml) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// Every grant the rendered documents give the ServiceAccount `namespace/name`: the rules
/// of each role a binding names for it, one [`Grant`] per group, resource and verb.
pub fn grants(docs: &[Yaml], namespace: &str, name: &str) -> Result<Vec<Grant>, String> {
    let mut out = BTreeSet::new();
    for binding in docs.iter().filter(|d| {
        matches!(
            d["kind"].as_str(),
            Some("RoleBinding" | "ClusterRoleBinding")
        )
    }) {
        let binds_us = binding["subjects"].as_sequence().is_some_and(|subjects| {
            subjects.iter().any(|s| {
                s["kind"] == "ServiceAccount" && s["name"] == name && s["namespace"] == namespace
            })
        });
        if !binds_us {
            continue;
        }
        let scope = match binding["kind"].as_str() {
            Some("RoleBinding") => Some(text(&binding["metadata"]["namespace"])),
            _ => None,
        };
        let (ref_kind, ref_name) = (
            text(&binding["roleRef"]["kind"]),
            text(&binding["roleRef"]["name"]),
        );
        // A RoleBinding names a Role in its own namespace, or a ClusterRole.
        let role = docs
            .iter()
            .find(|d| {
                d["kind"].as_str() == Some(ref_kind.as_str())
                    && d["metadata"]["name"].as_str() == Some(ref_name.as_str())
                    && (ref_kind == "ClusterRole"
                        || d["metadata"]["namespace"].as_str() == scope.as_deref())
            })
            .ok_or_else(|| {
                format!(
                    "{} {} names {ref_kind} {ref_name}, which the chart does not render",
                    text(&binding["kind"]),
                    text(&binding["metadata"]["name"])
                )
            })?;
        let label = match ref_kind.as_str() {
            "Role" => format!("Role {}/{ref_name}", text(&role["metadata"]["namespace"])),
            _ => format!("ClusterRole {ref_name}"),
        };
        for rule in role["rules"].as_sequence().into_iter().flatten() {
            let names = strings(&rule["resourceNames"]);
            for group in strings(&rule["apiGroups"]) {
                for resource in strings(&rule["resources"]) {
                    for verb in strings(&rule["verbs"]) {
                        out.insert(Grant {
                            role: label.clone(),
                            namespace: scope.clone(),
                            group: group.clone(),
                            resource: resource.clone(),
                            verb,
                            resource_names: names.clone(),
                        });
                    }
                }
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// What one identity asked of the API server: its resource requests, and the paths of its
/// non-resource requests (discovery, version).
#[derive(Debug, Default)]
pub struct Audited {
    /// Resource requests, each once.
    pub requests: BTreeSet<Request>,
    /// Non-resource request paths, without the query.
    pub paths: BTreeSet<String>,
}

/// Reads the audit log (one JSON event a line) and returns what `user` asked for: the
/// impersonated user when the request impersonated one, else the authenticated user.
pub fn audited(log: &Path, user: &str) -> Result<Audited, String> {
    let text = std::fs::read_to_string(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut out = Audited::default();
    for line in text.lines().filter(|l| l.contains(user)) {
        let event: Value =
            serde_json::from_str(line).map_err(|e| format!("audit event {line:?}: {e}"))?;
        let who = event["impersonatedUser"]["username"]
            .as_str()
            .or_else(|| event["user"]["username"].as_str());
        if who != Some(user) {
            continue;
        }
        let field = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let obj = &event["objectRef"];
        if obj.is_object() {
            out.requests.insert(Request {
                verb: field(&event["verb"]),
                group: field(&obj["apiGroup"]),
                resource: field(&obj["resource"]),
                subresource: field(&obj["subresource"]),
                namespace: field(&obj["namespace"]),
                name: field(&obj["name"]),
            });
        } else {
            let uri = field(&event["requestURI"]);
            let path = uri.split('?').next().unwrap_or_default().to_owned();
            out.paths.insert(path);
        }
    }
    Ok(out)
}

/// Whether a non-resource path is one every authenticated identity may read under the
/// API server's default ClusterRoles (system:discovery, system:public-info-viewer).
pub fn default_non_resource(path: &str) -> bool {
    const EXACT: &[&str] = &[
        "/api",
        "/apis",
        "/healthz",
        "/livez",
        "/readyz",
        "/version",
        "/version/",
        "/openapi/v2",
        "/openapi/v3",
    ];
    EXACT.contains(&path)
        || ["/api/", "/apis/", "/openapi/v3/"]
            .iter()
            .any(|prefix| path.starts_with(prefix))
}

/// The grants docs/rbac.md lists as needed but not always used by the proof's flow: the
/// rows of the table under `heading`, as (verb, resource, group) from the first three
/// cells, each in backticks (`""` for the core group).
pub fn documented_unused(
    doc: &str,
    heading: &str,
) -> Result<BTreeSet<(String, String, String)>, String> {
    let start = doc
        .find(heading)
        .ok_or_else(|| format!("docs/rbac.md has no heading {heading:?}"))?;
    let mut out = BTreeSet::new();
    let body = &doc[start + heading.len()..];
    for line in body.lines().skip_while(|l| !l.starts_with('|')) {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let code = |c: &str| {
            c.strip_prefix('`')
                .and_then(|c| c.strip_suffix('`'))
                .map(str::to_owned)
        };
        let (Some(verb), Some(resource), Some(group)) = (
            cells.first().and_then(|c| code(c)),
            cells.get(1).and_then(|c| code(c)),
            cells.get(2).and_then(|c| code(c)),
        ) else {
            continue; // the header and its separator
        };
        let group = if group == "\"\"" {
            String::new()
        } else {
            group
        };
        out.insert((verb, resource, group));
    }
    Ok(out)
}
