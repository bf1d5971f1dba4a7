//! Observe: read what Git and Argo CD hold for one lane. Every failure becomes part of the
//! observation, so the decision can report it.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use promote_api::conditions::reasons;
use promote_api::{ApplicationRef, CREDENTIALS_LABEL, Promotion, PromotionResult, RecordKind};
use promote_argocd::Application;
use promote_git::{Credentials, GitError, HeadCheck, RemoteSpec};
use promote_lane::{AppView, ConfigFiles, Failure, GitView, LaneSpec, Observation, Upstream};
use tracing::instrument;

use crate::apps::Lookup;
use crate::context::Context;

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

/// What observe found: the observation, and the repository with its credentials for the
/// write effect (absent when the credentials could not be read).
#[derive(Debug)]
pub struct Observed {
    /// Everything the decision needs.
    pub observation: Observation,
    /// The repository connection.
    pub remote: Option<RemoteSpec>,
}

/// Reads Git and both Applications for `promotion`.
#[instrument(skip_all, fields(promotion = %key))]
pub async fn observe(ctx: &Context, promotion: &Promotion, spec: LaneSpec, key: &str) -> Observed {
    let namespace = promotion.metadata.namespace.clone().unwrap_or_default();
    let (source_app, target_app, upstream) = tokio::join!(
        read_application(ctx, spec.source.application.as_ref()),
        read_application(ctx, spec.target.application.as_ref()),
        read_upstream(ctx, &namespace, spec.after.as_deref()),
    );
    let remote = remote_spec(ctx, &namespace, &spec).await;
    let previous = promotion.status.clone().unwrap_or_default();
    let git = match &remote {
        Ok(remote) => {
            let apps = (&source_app, &target_app);
            read_git(
                ctx,
                remote,
                &spec,
                &previous,
                apps,
                promotion.metadata.generation,
            )
            .await
        }
        Err(f) => Err(f.clone()),
    };
    Observed {
        observation: Observation {
            now: jiff::Timestamp::now(),
            generation: promotion.metadata.generation,
            key: key.to_owned(),
            spec,
            previous,
            git,
            source_app,
            target_app,
            upstream,
        },
        remote: remote.ok(),
    }
}

async fn read_application(ctx: &Context, reference: Option<&ApplicationRef>) -> AppView {
    let Some(reference) = reference else {
        return AppView::NotConfigured;
    };
    let name = format!("{}/{}", reference.namespace, reference.name);
    match ctx.apps.get(&reference.namespace, &reference.name) {
        Lookup::Found(app) => return AppView::Found(Box::new(Application::clone(&app))),
        Lookup::Missing => return AppView::Missing(name),
        Lookup::Unknown => {}
    }
    // The watch has not listed the Applications yet: ask the API server.
    let api: Api<DynamicObject> = Api::namespaced_with(
        ctx.client.clone(),
        &reference.namespace,
        &application_resource(),
    );
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

/// The upstream lane's status (`spec.after`), read from the API server: a lane gated on it
/// must see the verdict the upstream reached, not a cached copy from before it.
async fn read_upstream(ctx: &Context, namespace: &str, name: Option<&str>) -> Upstream {
    let Some(name) = name else {
        return Upstream::NotConfigured;
    };
    let api: Api<Promotion> = Api::namespaced(ctx.client.clone(), namespace);
    match api.get_opt(name).await {
        Ok(Some(p)) => Upstream::Found {
            name: name.to_owned(),
            status: Box::new(p.status.unwrap_or_default()),
        },
        Ok(None) => Upstream::Missing(format!("{namespace}/{name}")),
        Err(e) => Upstream::Error(Failure::transient(
            reasons::API_ERROR,
            format!("cannot read Promotion {namespace}/{name}: {e}"),
        )),
    }
}

/// The repository with the credentials from the lane's Secret (same namespace only).
async fn remote_spec(
    ctx: &Context,
    namespace: &str,
    spec: &LaneSpec,
) -> Result<RemoteSpec, Failure> {
    let remote = RemoteSpec::new(&spec.repository.url).map_err(|e| git_failure(&e))?;
    let remote = crate::signing::with_signing(ctx, namespace, spec, remote).await?;
    let Some(secret_name) = &spec.repository.credentials_secret else {
        return Ok(remote);
    };
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let secret = match secrets.get_opt(secret_name).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return Err(Failure::permanent(
                reasons::CREDENTIALS,
                format!(
                    "Secret {namespace}/{secret_name} named by spec.repository.credentials does not exist"
                ),
            ));
        }
        Err(e) => {
            return Err(Failure::transient(
                reasons::CREDENTIALS,
                format!("cannot read Secret {namespace}/{secret_name}: {e}"),
            ));
        }
    };
    let labelled = promote_api::opted_in(secret.metadata.labels.as_ref(), CREDENTIALS_LABEL);
    if !labelled {
        return Err(Failure::permanent(
            reasons::CREDENTIALS,
            format!(
                "Secret {namespace}/{secret_name} is not marked as git credentials: label it with `kubectl label secret {secret_name} -n {namespace} {CREDENTIALS_LABEL}=true`"
            ),
        ));
    }
    let data = secret.data.unwrap_or_default();
    let read = Credentials::from_secret_data(data.iter().map(|(k, v)| (k.as_str(), &v.0[..])));
    match read {
        Ok(credentials) => Ok(remote.with_secret_credentials(credentials)),
        Err(e) => Err(Failure::permanent(
            reasons::CREDENTIALS,
            format!("Secret {namespace}/{secret_name} {e}"),
        )),
    }
}

async fn read_git(
    ctx: &Context,
    remote: &RemoteSpec,
    spec: &LaneSpec,
    previous: &promote_api::PromotionStatus,
    (source_app, target_app): (&AppView, &AppView),
    generation: Option<i64>,
) -> Result<GitView, Failure> {
    let branch = &spec.repository.branch;
    let tip = ctx.engine.tip(remote, branch).await;
    count_tip(ctx, tip.as_ref().map(|t| t.check));
    let tip = tip.map_err(|e| git_failure(&e))?.commit;
    let engine = &ctx.engine;
    let read = |file: &str, rev: Option<&str>| {
        let file = file.to_owned();
        let rev = rev.map(str::to_owned);
        async move {
            match rev {
                None => {
                    engine
                        .read_fields(remote, branch, &file, &spec.fields)
                        .await
                }
                Some(rev) => {
                    engine
                        .read_fields_at(remote, &rev, &file, &spec.fields)
                        .await
                }
            }
            .map(|v| v.values)
            .map_err(|e| git_failure(&e))
        }
    };
    let source = read(&spec.source.values_file, None).await;
    let target = read(&spec.target.values_file, None).await;
    let url = &spec.repository.url;
    let source_at_synced = match source_app.app().and_then(|a| a.synced_revision_for(url)) {
        Some(rev) if rev == tip.as_str() => source.as_ref().ok().cloned(),
        Some(rev) => read(&spec.source.values_file, Some(rev)).await.ok(),
        None => None,
    };
    let running = previous
        .last_promotion
        .as_ref()
        .filter(|r| r.result == PromotionResult::Running);
    let in_flight = running.and_then(|r| r.commit.clone());
    // A reset writes the source, so the source's Application is the one that must sync.
    let written_app = match running.map(|r| r.kind) {
        Some(RecordKind::Reset) => source_app,
        _ => target_app,
    };
    let in_flight_synced = match (
        in_flight,
        written_app.app().and_then(|a| a.synced_revision_for(url)),
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
    let target_changed_by = changed_by(ctx, remote, spec, previous, &target).await;
    let config = read_config(ctx, remote, spec, previous, generation, &tip.to_string()).await;
    Ok(GitView {
        revision: tip.to_string(),
        source,
        target,
        source_at_synced,
        target_changed_by,
        in_flight_synced,
        config,
    })
}

/// The configuration files for the parity check, unless the last comparison was made at this
/// very tip and generation (then `status.parity` stands as it is).
async fn read_config(
    ctx: &Context,
    remote: &RemoteSpec,
    spec: &LaneSpec,
    previous: &promote_api::PromotionStatus,
    generation: Option<i64>,
    tip: &str,
) -> ConfigFiles {
    let Some(parity) = &spec.parity else {
        return ConfigFiles::NotRead;
    };
    let unchanged = previous
        .parity
        .as_ref()
        .is_some_and(|p| p.message.is_none() && p.revision.as_deref() == Some(tip))
        && previous.observed_generation == generation;
    if unchanged {
        return ConfigFiles::NotRead;
    }
    let read = |file: &str| {
        let file = file.to_owned();
        async move {
            ctx.engine
                .read_file_at(remote, tip, &file)
                .await
                .map_err(|e| git_failure(&e))
        }
    };
    let (source, target) = tokio::join!(read(&parity.source_file), read(&parity.target_file));
    ConfigFiles::Read { source, target }
}

/// Who changed the target's version, when it no longer holds what this lane last promoted
/// (a person's revert or hotfix), so the lane can say so. Only looked up in that case.
async fn changed_by(
    ctx: &Context,
    remote: &RemoteSpec,
    spec: &LaneSpec,
    previous: &promote_api::PromotionStatus,
    target: &Result<Vec<String>, Failure>,
) -> Option<String> {
    let last = previous.last_promotion.as_ref()?;
    let current = target.as_ref().ok()?.first()?;
    if last.result != PromotionResult::Succeeded
        || last.kind != RecordKind::Promotion
        || &last.version == current
    {
        return None;
    }
    let field = spec.fields.first()?;
    let change = ctx
        .engine
        .last_change(
            remote,
            &spec.repository.branch,
            &spec.target.values_file,
            field,
        )
        .await
        .ok()??;
    Some(format!(
        "{} ({}, {:?})",
        change.commit.short(),
        change.author,
        change.summary
    ))
}

/// Counts the network operations a branch-tip read took.
pub(crate) fn count_tip(ctx: &Context, check: Result<HeadCheck, &GitError>) {
    match check {
        Ok(HeadCheck::Shared) => {}
        Ok(HeadCheck::Unchanged) => ctx.metrics.git_operation("ls_remote", "ok"),
        Ok(HeadCheck::Fetched) => {
            ctx.metrics.git_operation("ls_remote", "ok");
            ctx.metrics.git_operation("fetch", "ok");
        }
        Err(e) => ctx.metrics.git_operation("tip", e.category()),
    }
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
