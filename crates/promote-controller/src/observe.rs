//! Observe: read what Git and Argo CD hold for one lane. Every failure becomes part of the
//! observation, so the decision can report it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use promote_api::conditions::reasons;
use promote_api::{ApplicationRef, Promotion};
use promote_argocd::Application;
use promote_git::{
    CommitId, Credentials, Engine, GitError, HostKeyPolicy, RemoteSpec, Secret as GitSecret,
    SshKeySource,
};
use tracing::instrument;

use crate::context::Context;
use crate::model::{AppView, Failure, GitView, Observation};

/// The Argo CD Application resource, for dynamic API calls.
pub fn application_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(
            promote_argocd::GROUP,
            promote_argocd::VERSION,
            promote_argocd::KIND,
        ),
        promote_argocd::PLURAL,
    )
}

/// Branch tips seen on remotes, shared by the lanes of one repository for a short while so a
/// burst of reconciles costs one remote-head check.
#[derive(Debug, Default)]
pub struct Heads {
    seen: Mutex<HashMap<(String, String), (Instant, CommitId)>>,
}

impl Heads {
    /// The branch tip, fetched into the cache when the remote moved since the last look.
    pub async fn tip(
        &self,
        ctx: &Context,
        remote: &RemoteSpec,
        branch: &str,
        ttl: Duration,
    ) -> Result<CommitId, GitError> {
        let key = (remote.url.to_string(), branch.to_owned());
        if let Some((at, tip)) = self.lock().get(&key).cloned()
            && at.elapsed() < ttl
        {
            return Ok(tip);
        }
        let engine = &ctx.engine;
        let remote_head = engine.remote_head(remote, branch).await;
        ctx.metrics.git_operation(
            "ls_remote",
            if remote_head.is_ok() { "ok" } else { "error" },
        );
        let Some(remote_head) = remote_head? else {
            return Err(GitError::NotFound {
                repo: remote.url.to_string(),
                what: format!("branch {branch}"),
            });
        };
        let cached = {
            let (engine, remote, branch) = (engine.clone(), remote.clone(), branch.to_owned());
            tokio::task::spawn_blocking(move || engine.cached_head_blocking(&remote, &branch))
                .await
                .map_err(|e| GitError::InvalidRequest(format!("cache task failed: {e}")))??
        };
        let tip = if cached.as_ref() == Some(&remote_head) {
            remote_head
        } else {
            let fetched = engine.refresh(remote, branch).await;
            ctx.metrics
                .git_operation("fetch", if fetched.is_ok() { "ok" } else { "error" });
            fetched?
        };
        self.lock().insert(key, (Instant::now(), tip.clone()));
        Ok(tip)
    }

    /// Forgets a branch tip, after this process moved it.
    pub fn forget(&self, remote: &RemoteSpec, branch: &str) {
        self.lock()
            .remove(&(remote.url.to_string(), branch.to_owned()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), (Instant, CommitId)>> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Reads Git and both Applications for `promotion`.
#[instrument(skip_all, fields(promotion = %key))]
pub async fn observe(
    promotion: &Promotion,
    key: &str,
    ctx: &Context,
) -> (Observation, Option<RemoteSpec>) {
    let spec = &promotion.spec;
    let namespace = promotion.metadata.namespace.clone().unwrap_or_default();
    let (source_app, target_app) = tokio::join!(
        read_application(ctx, spec.source.application.as_ref()),
        read_application(ctx, spec.target.application.as_ref()),
    );
    let remote = remote_spec(ctx, &namespace, promotion).await;
    let git = match &remote {
        Ok(remote) => read_git(ctx, remote, promotion, &source_app, &target_app).await,
        Err(f) => Err(f.clone()),
    };
    let observation = Observation {
        now: jiff::Timestamp::now(),
        generation: promotion.metadata.generation,
        key: key.to_owned(),
        spec: spec.clone(),
        previous: promotion.status.clone().unwrap_or_default(),
        git,
        source_app,
        target_app,
    };
    (observation, remote.ok())
}

async fn read_application(ctx: &Context, reference: Option<&ApplicationRef>) -> AppView {
    let Some(reference) = reference else {
        return AppView::NotConfigured;
    };
    let api: Api<DynamicObject> = Api::namespaced_with(
        ctx.client.clone(),
        &reference.namespace,
        &application_resource(),
    );
    let name = format!("{}/{}", reference.namespace, reference.name);
    match api.get_opt(&reference.name).await {
        Ok(Some(obj)) => match serde_json::to_value(&obj)
            .map_err(|e| e.to_string())
            .and_then(|v| Application::from_json(&v).map_err(|e| e.to_string()))
        {
            Ok(app) => AppView::Found(Box::new(app)),
            Err(message) => {
                AppView::Error(Failure::transient(reasons::APPLICATION_NOT_FOUND, message))
            }
        },
        Ok(None) => AppView::Missing(name),
        Err(e) => AppView::Error(Failure::transient(
            reasons::APPLICATION_NOT_FOUND,
            format!("cannot read Application {name}: {e}"),
        )),
    }
}

/// The repository with the credentials from the lane's Secret (same namespace only).
async fn remote_spec(
    ctx: &Context,
    namespace: &str,
    promotion: &Promotion,
) -> Result<RemoteSpec, Failure> {
    let repository = &promotion.spec.repository;
    let remote = RemoteSpec::new(&repository.url).map_err(|e| git_failure(&e))?;
    let Some(credentials) = &repository.credentials else {
        return Ok(remote);
    };
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let secret = match secrets.get_opt(&credentials.secret_name).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return Err(Failure::permanent(
                reasons::CREDENTIALS,
                format!(
                    "Secret {namespace}/{} named by spec.repository.credentials does not exist",
                    credentials.secret_name
                ),
            ));
        }
        Err(e) => {
            return Err(Failure::transient(
                reasons::CREDENTIALS,
                format!(
                    "cannot read Secret {namespace}/{}: {e}",
                    credentials.secret_name
                ),
            ));
        }
    };
    let data = secret.data.unwrap_or_default();
    let text = |key: &str| {
        data.get(key)
            .map(|v| {
                String::from_utf8_lossy(&v.0)
                    .trim_end_matches(['\r', '\n'])
                    .to_owned()
            })
            .filter(|v| !v.is_empty())
    };
    let creds = if let Some(key) = text("sshPrivateKey") {
        Credentials::SshKey {
            username: text("username"),
            key: SshKeySource::Memory(GitSecret::new(format!("{key}\n"))),
            passphrase: text("sshPassphrase").map(GitSecret::new),
        }
    } else if let Some(token) = text("token") {
        Credentials::Token {
            username: text("username"),
            token: GitSecret::new(token),
        }
    } else if let (Some(username), Some(password)) = (text("username"), text("password")) {
        Credentials::Basic {
            username,
            password: GitSecret::new(password),
        }
    } else {
        return Err(Failure::permanent(
            reasons::CREDENTIALS,
            format!(
                "Secret {namespace}/{} has none of: token, username + password, sshPrivateKey",
                credentials.secret_name
            ),
        ));
    };
    let mut remote = remote.with_credentials(creds);
    if let Some(known_hosts) = text("knownHosts") {
        remote = remote.with_host_keys(HostKeyPolicy::from_known_hosts(&known_hosts));
    }
    Ok(remote)
}

async fn read_git(
    ctx: &Context,
    remote: &RemoteSpec,
    promotion: &Promotion,
    source_app: &AppView,
    target_app: &AppView,
) -> Result<GitView, Failure> {
    let spec = &promotion.spec;
    let branch = &spec.repository.branch;
    let tip = ctx
        .heads
        .tip(ctx, remote, branch, ctx.settings.head_ttl)
        .await
        .map_err(|e| git_failure(&e))?;
    let engine: &Engine = &ctx.engine;
    let read = |file: String, rev: Option<String>| {
        let fields = spec.fields.clone();
        async move {
            match rev {
                None => engine.read_fields(remote, branch, &file, &fields).await,
                Some(rev) => engine.read_fields_at(remote, &rev, &file, &fields).await,
            }
            .map(|v| v.values)
            .map_err(|e| git_failure(&e))
        }
    };
    let source = read(spec.source.values_file.clone(), None).await;
    let target = read(spec.target.values_file.clone(), None).await;
    let source_at_synced = match source_app.app().and_then(|a| a.synced_revision()) {
        Some(rev) if rev == tip.as_str() => source.as_ref().ok().cloned(),
        Some(rev) => read(spec.source.values_file.clone(), Some(rev.to_owned()))
            .await
            .ok(),
        None => None,
    };
    let in_flight = promotion
        .status
        .as_ref()
        .and_then(|s| s.last_promotion.as_ref())
        .filter(|r| r.result == promote_api::PromotionResult::Running)
        .and_then(|r| r.commit.clone());
    let in_flight_synced = match (
        in_flight,
        target_app.app().and_then(|a| a.synced_revision()),
    ) {
        (Some(commit), Some(synced)) if commit == synced => Some(true),
        (Some(commit), Some(synced)) => Some(
            engine
                .contains(remote, synced, &commit)
                .await
                .unwrap_or(false),
        ),
        (Some(_), None) => Some(false),
        (None, _) => None,
    };
    Ok(GitView {
        revision: tip.to_string(),
        source,
        target,
        source_at_synced,
        in_flight_synced,
    })
}

/// A git error as a failure the status can show.
pub fn git_failure(e: &GitError) -> Failure {
    let reason = match e {
        GitError::Auth { .. } | GitError::HostKey { .. } => reasons::CREDENTIALS,
        GitError::InvalidValues { .. } => reasons::VALUES_ERROR,
        GitError::InvalidPath { .. } | GitError::InvalidRequest(_) => reasons::INVALID_SPEC,
        _ => reasons::GIT_ERROR,
    };
    Failure {
        message: e.to_string(),
        reason,
        retryable: e.is_retryable(),
    }
}
