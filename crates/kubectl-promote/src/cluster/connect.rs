//! Finding the cluster as kubectl does: `--kubeconfig`, else `$KUBECONFIG` (a list of files,
//! merged), else `~/.kube/config`, else the in-cluster service account; `--context` picks a
//! context, and the namespace defaults to the context's.

use std::path::PathBuf;

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use super::error::Failure;

/// Where the cluster is, as kubectl's flags say it.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// The kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// The namespace (default: the context's namespace, else default).
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
}

/// A client, the namespace to work in, and who the kubeconfig says we are.
#[derive(Clone)]
pub struct Connection {
    /// The API client.
    pub client: Client,
    /// The namespace given with `-n`, or the context's.
    pub namespace: String,
    /// The context's own namespace: commands printed as hints omit `-n` for it.
    pub default_namespace: String,
    /// The name of the context's user entry (not a secret: the entry's key in the file).
    pub user: Option<String>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("namespace", &self.namespace)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Where an approver's name came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentitySource {
    /// The API server's own view of the caller (a SelfSubjectReview).
    ApiServer,
    /// The name of the kubeconfig context's user entry.
    Kubeconfig,
}

impl IdentitySource {
    /// How the source is named in messages.
    pub fn describe(self) -> &'static str {
        match self {
            Self::ApiServer => "as the API server knows you",
            Self::Kubeconfig => "the kubeconfig context's user",
        }
    }
}

/// Connects as the flags and the environment say.
pub async fn connect(args: &ClusterArgs) -> Result<Connection, Failure> {
    let options = KubeConfigOptions {
        context: args.context.clone(),
        ..KubeConfigOptions::default()
    };
    let (config, user) = match read_kubeconfig(args)? {
        Some(kubeconfig) => {
            let user = context_user(&kubeconfig, args.context.as_deref());
            let config = Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| Failure::error(format!("kubeconfig: {e}")))?;
            (config, user)
        }
        None => {
            let config = Config::incluster().map_err(|e| {
                Failure::error(format!("no kubeconfig found, and not in a cluster: {e}"))
                    .hint("set KUBECONFIG or pass --kubeconfig")
            })?;
            (config, None)
        }
    };
    let default_namespace = config.default_namespace.clone();
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| default_namespace.clone());
    let client = Client::try_from(config)
        .map_err(|e| Failure::error(format!("cannot build the API client: {e}")))?;
    Ok(Connection {
        client,
        namespace,
        default_namespace,
        user,
    })
}

/// The kubeconfig to use, or `None` for the in-cluster service account (only when nothing
/// names a kubeconfig and the default file does not exist).
fn read_kubeconfig(args: &ClusterArgs) -> Result<Option<Kubeconfig>, Failure> {
    let read = |r: Result<Kubeconfig, _>| r.map_err(|e| Failure::error(format!("kubeconfig: {e}")));
    if let Some(path) = &args.kubeconfig {
        return read(Kubeconfig::read_from(path)).map(Some);
    }
    let from_env = std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty());
    let default_file = std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".kube/config"))
        .is_some_and(|p| p.is_file());
    if !from_env && !default_file && args.context.is_none() {
        return Ok(None);
    }
    read(Kubeconfig::read()).map(Some)
}

/// The user entry named by the chosen context.
fn context_user(kubeconfig: &Kubeconfig, context: Option<&str>) -> Option<String> {
    let name = context.or(kubeconfig.current_context.as_deref())?;
    kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == name)?
        .context
        .as_ref()?
        .user
        .clone()
}

/// Who is calling: the API server's answer when it serves SelfSubjectReview (it knows the
/// identity behind a token or certificate), else the kubeconfig context's user name.
pub async fn identity(conn: &Connection) -> Option<(String, IdentitySource)> {
    let api: Api<SelfSubjectReview> = Api::all(conn.client.clone());
    let reviewed = api
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .ok()
        .and_then(|r| r.status?.user_info?.username)
        .filter(|u| !u.is_empty());
    match reviewed {
        Some(user) => Some((user, IdentitySource::ApiServer)),
        None => conn.user.clone().map(|u| (u, IdentitySource::Kubeconfig)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_is_the_chosen_contexts() {
        let kubeconfig: Kubeconfig = serde_yaml::from_str(
            "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c, user: alice}\n- name: b\n  context: {cluster: c, user: bob}\n- name: n\n  context: {cluster: c}\n",
        )
        .expect("kubeconfig");
        assert_eq!(context_user(&kubeconfig, None).as_deref(), Some("alice"));
        assert_eq!(context_user(&kubeconfig, Some("b")).as_deref(), Some("bob"));
        assert_eq!(context_user(&kubeconfig, Some("n")), None);
        assert_eq!(context_user(&kubeconfig, Some("missing")), None);
    }
}
