//! A namespace per test on the test control plane (`tests/control-plane/up`), with the
//! Application CRD installed.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::json;
use tokio::sync::OnceCell;

static KUBECONFIG: OnceCell<PathBuf> = OnceCell::const_new();
static CRD: OnceCell<()> = OnceCell::const_new();

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Starts (or reuses) the control plane and returns its kubeconfig.
async fn kubeconfig() -> PathBuf {
    KUBECONFIG
        .get_or_init(|| async {
            let up = root().join("tests/control-plane/up");
            let out = tokio::process::Command::new(&up)
                .output()
                .await
                .expect("run tests/control-plane/up");
            assert!(
                out.status.success(),
                "tests/control-plane/up failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let stdout = String::from_utf8_lossy(&out.stdout);
            let path = stdout
                .lines()
                .filter_map(|l| l.strip_prefix("KUBECONFIG="))
                .next_back()
                .expect("up prints KUBECONFIG=");
            PathBuf::from(path)
        })
        .await
        .clone()
}

async fn client() -> Client {
    let kubeconfig = Kubeconfig::read_from(kubeconfig().await).expect("read the kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig");
    Client::try_from(config).expect("client")
}

async fn install_crd(client: &Client) {
    CRD.get_or_init(|| async {
        let path = root().join("tests/support/crds/argocd-application.yaml");
        let text = std::fs::read_to_string(&path).expect("read the Application CRD");
        let crd: CustomResourceDefinition = serde_yaml::from_str(&text).expect("parse the CRD");
        let api: Api<CustomResourceDefinition> = Api::all(client.clone());
        match api.create(&PostParams::default(), &crd).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => panic!("create the Application CRD: {e}"),
        }
        for _ in 0..300 {
            let established = api
                .get("applications.argoproj.io")
                .await
                .ok()
                .and_then(|c| c.status)
                .and_then(|s| s.conditions)
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                });
            if established {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the Application CRD never became Established");
    })
    .await;
}

/// A client and a fresh namespace.
pub async fn namespace() -> (Client, String) {
    let client = client().await;
    install_crd(&client).await;
    let name = format!("argocd-sim-{:08x}", fastrand::u32(..));
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": name}})).expect("namespace");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create the namespace");
    (client, name)
}

/// Deletes the namespace (best effort: the control plane is thrown away after the run).
pub async fn delete_namespace(client: &Client, name: &str) {
    let _ = Api::<Namespace>::all(client.clone())
        .delete(name, &DeleteParams::default())
        .await;
}
