//! The CRDs tests need: ours, generated into `crds/`, and a minimal Argo CD Application.

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, ResourceExt};
use tokio::sync::OnceCell;

use crate::Error;

/// The Promotion CRD, relative to the repository root (generated from `promote-api`).
pub const PROMOTION_CRD: &str = "crds/promotions.promote.dev.yaml";
/// The Promotion CRD's name.
pub const PROMOTION_CRD_NAME: &str = "promotions.promote.dev";
/// A minimal Argo CD Application CRD (argoproj.io/v1alpha1, no status subresource).
pub const APPLICATION_CRD: &str = "tests/support/crds/argocd-application.yaml";
/// The Application CRD's name.
pub const APPLICATION_CRD_NAME: &str = "applications.argoproj.io";
/// The field manager test support applies with.
pub const FIELD_MANAGER: &str = "promote-testsupport";

/// How long a CRD may take to become Established.
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(60);

static INSTALLED: OnceCell<()> = OnceCell::const_new();

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Installs the Promotion and Application CRDs (once per process) and waits until
/// both are Established.
pub async fn install_crds(client: &Client) -> Result<(), Error> {
    INSTALLED
        .get_or_try_init(|| async {
            for file in [PROMOTION_CRD, APPLICATION_CRD] {
                apply_crd(client, &repo_root().join(file)).await?;
            }
            Ok(())
        })
        .await
        .map(|_| ())
}

/// Applies the CRD in `path` server-side and waits until it is Established.
pub async fn apply_crd(client: &Client, path: &Path) -> Result<CustomResourceDefinition, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    let crd: CustomResourceDefinition =
        serde_yaml::from_str(&text).map_err(|source| Error::Parse {
            path: path.to_owned(),
            source,
        })?;
    let name = crd.name_any();
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    // Forced: the same CRD may be applied concurrently by other test processes.
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&crd),
    )
    .await
    .map_err(Error::api(format!("apply CRD {name}")))?;
    let established = await_condition(api, &name, conditions::is_crd_established());
    match tokio::time::timeout(ESTABLISH_TIMEOUT, established).await {
        Ok(Ok(Some(crd))) => Ok(crd),
        _ => Err(Error::NotEstablished { name }),
    }
}
