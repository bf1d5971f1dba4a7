//! `docs/crd-reference.md` is what `crdref` generates from the CRD, and names every field of
//! the schema.

use std::path::PathBuf;

use kube::CustomResourceExt;
use serde_json::Value;

const REGENERATE: &str = "cargo run -p promote-api --bin crdref -- --write";

fn doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/crd-reference.md")
}

fn generated() -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_crdref"))
        .output()
        .expect("run crdref");
    assert!(
        out.status.success(),
        "crdref failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("crdref prints UTF-8")
}

#[test]
fn the_checked_in_reference_is_what_crdref_generates() {
    let checked_in = std::fs::read_to_string(doc_path())
        .unwrap_or_else(|e| panic!("docs/crd-reference.md: {e}; run `{REGENERATE}`"));
    let generated = generated();
    if checked_in != generated {
        let line = checked_in
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| checked_in.lines().count().min(generated.lines().count()));
        panic!(
            "docs/crd-reference.md is stale (first difference at line {}); regenerate it with `{REGENERATE}`",
            line + 1
        );
    }
}

/// Every property path of the schema below `prefix`, arrays as `path[]`.
fn paths(prefix: &str, node: &Value, out: &mut Vec<String>) {
    out.push(prefix.to_owned());
    let (props, prefix) = if node["type"] == "array" {
        (&node["items"]["properties"], format!("{prefix}[]"))
    } else {
        (&node["properties"], prefix.to_owned())
    };
    for (name, child) in props.as_object().into_iter().flatten() {
        paths(&format!("{prefix}.{name}"), child, out);
    }
}

#[test]
fn the_reference_names_every_field_with_its_constraints() {
    let crd = serde_json::to_value(promote_api::Promotion::crd()).expect("CRD as JSON");
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    let mut all = Vec::new();
    paths("spec", &schema["properties"]["spec"], &mut all);
    paths("status", &schema["properties"]["status"], &mut all);
    assert!(all.len() > 80, "the schema walk found only {all:?}");

    let doc = generated();
    let missing: Vec<&String> = all
        .iter()
        .filter(|p| !doc.contains(&format!("| `{p}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "fields missing from the reference: {missing:?}"
    );

    let row = |path: &str| {
        doc.lines()
            .find(|l| l.starts_with(&format!("| `{path}` |")))
            .unwrap_or_else(|| panic!("no row for {path}"))
            .to_owned()
    };
    assert!(row("spec.trigger").contains("one of `Manual`, `Auto`"));
    assert!(row("spec.trigger").contains("`\"Manual\"`"));
    assert!(row("spec.gates.soakTime").contains("pattern `"));
    assert!(row("spec.fields").contains("items ≥ 1"));
    assert!(row("spec.verification.timeout").contains("CEL `duration(self)"));
    assert!(row("spec.repository.url").contains("required"));
    assert!(row("status.phase").contains("`RolledBack`"));
}
