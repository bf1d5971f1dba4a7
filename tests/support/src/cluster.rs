//! Finding the cluster, or starting the test control plane.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use tokio::sync::OnceCell;

use crate::Error;
use crate::crds::repo_root;

static CONTROL_PLANE: OnceCell<ControlPlane> = OnceCell::const_new();

/// How long a test's client waits to connect to the API server.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long a test's client waits for an answer; longer than any watch the tests open.
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(295);

/// The cluster tests run against: the one `KUBECONFIG` names, or the test control
/// plane started by `tests/control-plane/up`.
#[derive(Debug)]
pub struct ControlPlane {
    kubeconfig: OsString,
    kubectl: PathBuf,
    reachable: OnceCell<()>,
}

impl ControlPlane {
    /// The cluster for this test process, found or started on first use.
    ///
    /// With `KUBECONFIG` set, that cluster is used as it is; `PROMOTE_KUBECTL` may name
    /// the kubectl to use with it. Otherwise `tests/control-plane/up` runs (it builds
    /// the control plane when needed, reuses a running one, and locks against
    /// concurrent callers); stop it with `tests/control-plane/down`.
    pub async fn get() -> Result<&'static ControlPlane, Error> {
        CONTROL_PLANE
            .get_or_try_init(|| async {
                match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
                    Some(kubeconfig) => Ok(ControlPlane::new(
                        kubeconfig,
                        std::env::var_os("PROMOTE_KUBECTL")
                            .map(PathBuf::from)
                            .unwrap_or_else(|| "kubectl".into()),
                    )),
                    None => up().await,
                }
            })
            .await
    }

    fn new(kubeconfig: OsString, kubectl: PathBuf) -> Self {
        Self {
            kubeconfig,
            kubectl,
            reachable: OnceCell::new(),
        }
    }

    /// The `KUBECONFIG` value for this cluster (one path, or a list as the variable allows).
    pub fn kubeconfig(&self) -> &OsStr {
        &self.kubeconfig
    }

    /// Client configuration from the kubeconfig's current context.
    pub async fn config(&self) -> Result<Config, Error> {
        let kubeconfig = self.read_kubeconfig()?;
        let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|e| self.kubeconfig_error(e))?;
        // kube sets no read timeout: a request the server never answers would hang a test
        // (and its cleanup) for good. Watches ask the server to end them sooner (290 s).
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        config.read_timeout = Some(READ_TIMEOUT);
        config.write_timeout = Some(READ_TIMEOUT);
        Ok(config)
    }

    /// A new client. Make one per test: a client lives on the tokio runtime that made it.
    pub async fn client(&self) -> Result<Client, Error> {
        let config = self.config().await?;
        let server = config.cluster_url.to_string();
        let client = Client::try_from(config).map_err(|e| self.kubeconfig_error(e))?;
        self.reachable
            .get_or_try_init(|| async {
                client
                    .apiserver_version()
                    .await
                    .map(|_| ())
                    .map_err(|source| Error::Unreachable { server, source })
            })
            .await?;
        Ok(client)
    }

    /// `kubectl` with `KUBECONFIG` set for this cluster (Debian's kubectl matching the
    /// test control plane, or the one on `PATH` for another cluster).
    pub fn kubectl(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.kubectl);
        cmd.env("KUBECONFIG", &self.kubeconfig)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// The path of the kubectl binary.
    pub fn kubectl_path(&self) -> &Path {
        &self.kubectl
    }

    /// The audit log of every request the test control plane served, if this is it.
    pub fn audit_log(&self) -> Option<PathBuf> {
        let log = Path::new(&self.kubeconfig)
            .parent()?
            .parent()?
            .join("audit.log");
        log.is_file().then_some(log)
    }

    fn read_kubeconfig(&self) -> Result<Kubeconfig, Error> {
        let mut merged: Option<Kubeconfig> = None;
        for path in std::env::split_paths(&self.kubeconfig) {
            let next = Kubeconfig::read_from(&path).map_err(|e| self.kubeconfig_error(e))?;
            merged = Some(match merged {
                None => next,
                Some(m) => m.merge(next).map_err(|e| self.kubeconfig_error(e))?,
            });
        }
        merged.ok_or_else(|| self.kubeconfig_error("empty KUBECONFIG"))
    }

    fn kubeconfig_error(&self, e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
        Error::Kubeconfig {
            kubeconfig: self.kubeconfig.to_string_lossy().into_owned(),
            source: e.into(),
        }
    }
}

/// Runs `tests/control-plane/up` and reads the `KUBECTL=` and `KUBECONFIG=` lines it prints.
async fn up() -> Result<ControlPlane, Error> {
    let path = repo_root().join("tests/control-plane/up");
    let out = tokio::process::Command::new(&path)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|source| Error::Spawn {
            path: path.clone(),
            source,
        })?;
    if !out.status.success() {
        return Err(Error::Up {
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let value = |key: &str| {
        stdout
            .lines()
            .filter_map(|l| l.strip_prefix(key))
            .next_back()
            .map(str::to_owned)
    };
    let kubeconfig = value("KUBECONFIG=").ok_or(Error::NoKubeconfig)?;
    let kubectl = value("KUBECTL=").unwrap_or_else(|| "kubectl".to_owned());
    Ok(ControlPlane::new(kubeconfig.into(), kubectl.into()))
}
