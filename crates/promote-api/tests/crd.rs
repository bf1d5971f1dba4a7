//! The checked-in CRD is what the types generate, and its CEL rules catch real mistakes.

use kube::core::cel::validate_cel;
use promote_api::{Promotion, PromotionSpec};

fn spec() -> serde_json::Value {
    serde_json::json!({
        "repository": {"url": "https://git.example.com/platform/web-core.git", "credentials": {"secretName": "web-core-git"}},
        "source": {"environment": "dev", "valuesFile": "deploy/env/release-dev/synestra-io.yaml",
                   "application": {"name": "web-synestra-io-dev"}},
        "target": {"environment": "prod", "valuesFile": "deploy/env/release-prod/synestra-io.yaml",
                   "application": {"name": "web-synestra-io-prod"}},
    })
}

fn promotion(spec: serde_json::Value) -> Promotion {
    let spec: PromotionSpec = serde_json::from_value(spec).expect("spec deserializes");
    Promotion::new("synestra-io-prod", spec)
}

fn with(mut base: serde_json::Value, pointer: &str, value: serde_json::Value) -> serde_json::Value {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
    base.pointer_mut(parent)
        .and_then(|p| p.as_object_mut())
        .expect("parent is an object")
        .insert(key.to_owned(), value);
    base
}

fn errors(p: &Promotion) -> String {
    match validate_cel(p) {
        Ok(()) => String::new(),
        Err(e) => format!("{e:?}"),
    }
}

/// The chart's copy, which its templates/crds.yaml renders; crdgen writes it with `crds/`.
const CHART_COPY: &str = "charts/promote/files/promotions.promote.dev.yaml";

#[test]
fn checked_in_crd_is_current() {
    let generated = promote_api::crd_yaml().expect("CRD renders");
    let [root_copy, _] = promote_api::crd_paths();
    let root = root_copy
        .parent()
        .and_then(std::path::Path::parent)
        .expect("crds/ is in the repository root");
    for path in [root_copy.clone(), root.join(CHART_COPY)] {
        let on_disk = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{} cannot be read: {e}", path.display()));
        assert!(
            generated == on_disk,
            "{} is stale: run `cargo run -p promote-api --bin crdgen -- --write` and commit it",
            path.display()
        );
    }
    // Helm would install a copy under the chart's crds/ apart from the templates, next to
    // the one templates/crds.yaml renders.
    let helm_crds = root.join("charts/promote/crds");
    assert!(
        !helm_crds.exists(),
        "{} must not exist: the chart renders its CRD from files/",
        helm_crds.display()
    );
}

#[test]
fn defaults_fill_an_minimal_spec() {
    let p = promotion(spec());
    assert_eq!(p.spec.repository.branch, "main");
    assert_eq!(p.spec.fields, ["image.tag"]);
    assert_eq!(p.spec.trigger, promote_api::Trigger::Manual);
    assert!(p.spec.gates.source_synced && p.spec.gates.source_healthy);
    assert_eq!(p.spec.verification.timeout, "10m");
    assert!(!p.spec.source_expected_self_heal());
    assert!(p.spec.target_expected_self_heal());
    assert_eq!(
        p.spec
            .source
            .application
            .as_ref()
            .map(|a| a.namespace.as_str()),
        Some("argocd")
    );
}

#[test]
fn a_valid_promotion_passes_every_rule() {
    assert_eq!(errors(&promotion(spec())), "");
    for pin in [
        "v1.2.3",
        "sha-4f2e1c0",
        "_x",
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "1.30@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ] {
        let p = promotion(with(spec(), "/pin", pin.into()));
        assert_eq!(errors(&p), "", "pin {pin} should be accepted");
    }
    for url in [
        "ssh://git@host:2222/org/repo.git",
        "file:///srv/git/repo.git",
        "http://127.0.0.1:8080/repo.git",
        "http://localhost/repo.git",
    ] {
        let p = promotion(with(spec(), "/repository/url", url.into()));
        assert_eq!(errors(&p), "", "url {url} should be accepted");
    }
}

#[test]
fn same_source_and_target_file_is_rejected() {
    let s = with(
        spec(),
        "/target/valuesFile",
        "deploy/env/release-dev/synestra-io.yaml".into(),
    );
    assert!(errors(&promotion(s)).contains("must differ"));
    let s = with(spec(), "/target/environment", "dev".into());
    assert!(errors(&promotion(s)).contains("must differ"));
}

#[test]
fn bad_versions_are_rejected() {
    for bad in [
        "",
        "-v1",
        ".hidden",
        "v1 2",
        "v1/2",
        "a".repeat(129).as_str(),
        "sha256:abc",
        "sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
        "v1@sha256:00",
    ] {
        let p = promotion(with(spec(), "/pin", bad.into()));
        assert!(
            errors(&p).contains("OCI tag"),
            "pin {bad:?} should be rejected, got {:?}",
            errors(&p)
        );
        let p = promotion(with(
            spec(),
            "/approval",
            serde_json::json!({"version": bad}),
        ));
        assert!(
            errors(&p).contains("OCI tag"),
            "approval {bad:?} should be rejected"
        );
    }
}

#[test]
fn bad_urls_and_paths_are_rejected() {
    for url in [
        "git@github.com:org/repo.git",
        "http://git.example.com/repo.git",
        "ftp://x/y",
        "https://user:secret@host/repo.git",
    ] {
        let p = promotion(with(spec(), "/repository/url", url.into()));
        assert!(
            errors(&p).contains("repository url"),
            "url {url} should be rejected"
        );
    }
    for path in [
        "/etc/passwd",
        "../x.yaml",
        "deploy/../../x.yaml",
        ".git/config",
        "a/.git/config",
    ] {
        let p = promotion(with(spec(), "/target/valuesFile", path.into()));
        assert!(
            errors(&p).contains("relative path"),
            "valuesFile {path} should be rejected"
        );
    }
    let p = promotion(with(spec(), "/repository/branch", "refs/heads/main".into()));
    assert!(errors(&p).contains("branch"));
}

#[test]
fn empty_fields_are_rejected() {
    let p = promotion(with(
        spec(),
        "/fields",
        serde_json::json!(["image.tag", ""]),
    ));
    assert!(errors(&p).contains("non-empty path"));
}

#[test]
fn a_zero_verification_timeout_is_rejected() {
    for zero in ["0s", "0m", "0.0h", "0ms"] {
        let p = promotion(with(
            spec(),
            "/verification",
            serde_json::json!({"timeout": zero}),
        ));
        assert!(
            errors(&p).contains("more than zero"),
            "{zero}: {}",
            errors(&p)
        );
    }
    let p = promotion(with(
        spec(),
        "/verification",
        serde_json::json!({"timeout": "1s"}),
    ));
    assert_eq!(errors(&p), "");
}
