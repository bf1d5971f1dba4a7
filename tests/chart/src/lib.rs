//! Drives the Helm library (the `helm-python-sdk` wheel, Helm v4) against charts/promote:
//! lint, render and schema validation, offline. scripts/test installs the library and sets
//! `PROMOTE_HELM_PYTHON` to the interpreter that has it. [`rbac`] evaluates the rendered
//! RBAC rules against the requests an identity made, from the control plane's audit log.

pub mod rbac;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde::Deserialize as _;
use serde_json::{Value, json};

/// The environment variable naming a Python interpreter with `helm_python` installed.
pub const HELM_PYTHON_ENV: &str = "PROMOTE_HELM_PYTHON";

/// The chart under test.
pub fn chart_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../charts/promote")
}

/// Runs one request through tests/chart/helm.py and returns its JSON answer.
pub fn helm(op: &str, values: Value) -> Result<Value, String> {
    helm_request(op, json!({"values": values}))
}

/// Runs `op` with the request fields in `fields` (values, and for render the release's
/// name and namespace).
fn helm_request(op: &str, fields: Value) -> Result<Value, String> {
    let python = std::env::var(HELM_PYTHON_ENV).map_err(|_| {
        format!("{HELM_PYTHON_ENV} is not set: run scripts/test, which installs the Helm library")
    })?;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("helm.py");
    let mut request = json!({"op": op, "chart": chart_dir()});
    if let (Some(request), Some(fields)) = (request.as_object_mut(), fields.as_object()) {
        request.extend(fields.clone());
    }
    let mut child = Command::new(&python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(request.to_string().as_bytes())
        .map_err(|e| format!("writing the request: {e}"))?;
    let out = child
        .wait_with_output()
        .map_err(|e| format!("waiting for {python}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "helm.py {op} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("helm.py {op} answer: {e}"))
}

/// Renders the chart with `values` and parses every manifest into YAML documents.
pub fn render(values: Value) -> Result<Vec<serde_yaml::Value>, String> {
    documents(&helm("render", values)?)
}

/// Every rendered manifest but NOTES.txt, parsed into YAML documents.
fn documents(manifests: &Value) -> Result<Vec<serde_yaml::Value>, String> {
    let files = manifests
        .as_object()
        .ok_or("render answer is not an object")?;
    let mut docs = Vec::new();
    for (path, text) in files {
        if path.ends_with("NOTES.txt") {
            continue;
        }
        let text = text.as_str().ok_or("manifest is not a string")?;
        for doc in serde_yaml::Deserializer::from_str(text) {
            let doc = serde_yaml::Value::deserialize(doc).map_err(|e| format!("{path}: {e}"))?;
            if !doc.is_null() {
                docs.push(doc);
            }
        }
    }
    Ok(docs)
}

/// The rendered NOTES.txt.
pub fn notes(values: Value) -> Result<String, String> {
    let manifests = helm("render", values)?;
    manifests
        .get("promote/templates/NOTES.txt")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| "no NOTES.txt rendered".to_owned())
}

/// The one document of `kind`, if any.
pub fn find<'a>(docs: &'a [serde_yaml::Value], kind: &str) -> Option<&'a serde_yaml::Value> {
    docs.iter().find(|d| d["kind"].as_str() == Some(kind))
}

/// Renders the chart as release `name` in `namespace` with `values` and parses every
/// manifest (NOTES.txt left out) into YAML documents, for applying to a cluster.
pub fn render_release(
    values: Value,
    name: &str,
    namespace: &str,
) -> Result<Vec<serde_yaml::Value>, String> {
    let fields = json!({"values": values, "name": name, "namespace": namespace});
    documents(&helm_request("render", fields)?)
}
