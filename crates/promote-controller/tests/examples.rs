//! The manifests in `examples/` (the ones docs/quickstart.md and docs/kind.md apply) are
//! accepted by a real API server with server-side apply, the Promotion is a lane the operator
//! can act on with its default flags, and the files agree with each other and with the sample
//! GitOps repository in `examples/gitops/`.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use promote_api::{CREDENTIALS_LABEL, Promotion};
use promote_lane::{Admission, LaneSpec};
use promote_testsupport::TestEnv;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Every manifest in `examples/` (the sample repository below it is not applied).
fn manifests() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .expect("examples/")
        .map(|e| e.expect("entry of examples/").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread")]
async fn every_example_is_accepted_by_the_api_server_and_the_lane_parses() {
    let env = TestEnv::start("examples").await.expect("test environment");
    let files = manifests();
    assert!(
        files.len() >= 3,
        "too few manifests in examples/: {files:?}"
    );
    for file in &files {
        let out = env
            .kubectl()
            .args([
                "apply",
                "--server-side",
                "--field-manager=promote-examples",
                "-f",
            ])
            .arg(file)
            .output()
            .await
            .expect("run kubectl");
        assert!(
            out.status.success(),
            "the API server refused {}:\n{}{}",
            file.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let promotions = env
        .api::<Promotion>()
        .list(&Default::default())
        .await
        .expect("list");
    assert_eq!(promotions.items.len(), 1, "examples/ holds one Promotion");
    let promotion = &promotions.items[0];
    let spec = &promotion.spec;
    if let Err(e) = LaneSpec::parse(spec, &Admission::default()) {
        panic!("examples/promotion.yaml is not a lane the operator acts on: {e:?}");
    }

    // The credentials Secret is the one the lane names, labelled so the operator uses it.
    let secret_name = &spec
        .repository
        .credentials
        .as_ref()
        .expect("credentials")
        .secret_name;
    let secret = env
        .api::<Secret>()
        .get(secret_name)
        .await
        .expect("the lane's Secret");
    let label = secret
        .metadata
        .labels
        .unwrap_or_default()
        .remove(CREDENTIALS_LABEL);
    assert_eq!(
        label.as_deref(),
        Some("true"),
        "{secret_name} lacks {CREDENTIALS_LABEL}"
    );

    // Both release files exist in the sample repository and hold every field.
    for side in [&spec.source, &spec.target] {
        let path = examples_dir().join("gitops").join(&side.values_file);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            text.contains("tag:"),
            "{} holds no image.tag",
            path.display()
        );
    }

    // The Applications the lane names exist, point at the lane's repository, and have the
    // self-heal the lane expects.
    let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application");
    let apps: Api<DynamicObject> =
        Api::namespaced_with(env.client().clone(), env.ns(), &ApiResource::from_gvk(&gvk));
    for (side, expected) in [
        (&spec.source, spec.source_expected_self_heal()),
        (&spec.target, spec.target_expected_self_heal()),
    ] {
        let name = &side.application.as_ref().expect("an Application").name;
        let app = apps
            .get(name)
            .await
            .unwrap_or_else(|e| panic!("Application {name}: {e}"));
        let app_spec = &app.data["spec"];
        assert_eq!(
            app_spec["source"]["repoURL"].as_str(),
            Some(spec.repository.url.as_str()),
            "{name} deploys another repository"
        );
        assert_eq!(
            app_spec["syncPolicy"]["automated"]["selfHeal"].as_bool(),
            Some(expected),
            "{name}: self-heal is not what the lane expects"
        );
        let value_files: Vec<&str> = app_spec["source"]["helm"]["valueFiles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
            .collect();
        let chart = Path::new(app_spec["source"]["path"].as_str().unwrap_or_default());
        let release = value_files
            .iter()
            .map(|f| normalise(&chart.join(f)))
            .any(|p| p == Path::new(&side.values_file));
        assert!(release, "{name} does not read {}", side.values_file);
    }
}

/// `a/b/../c` as `a/c`, without touching the disk.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
