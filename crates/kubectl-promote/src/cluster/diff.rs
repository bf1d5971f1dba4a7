//! `diff NAME`: what promoting the lane now would change in the target's release file, as a
//! unified diff, worked out by the git engine on the newest branch tip without writing.

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use promote_api::{CREDENTIALS_LABEL, Promotion};
use promote_git::{
    Credentials, Engine, EngineConfig, GitError, PreviewChange, PromotionRequest, RemoteSpec,
    Source, Target,
};
use promote_lane::{Admission, LaneSpec};
use similar::TextDiff;

use super::connect::Connection;
use super::error::{EXIT_RETRY, Failure};

/// The diff, or a line saying there is nothing to change.
pub async fn diff(conn: &Connection, p: &Promotion) -> Result<String, Failure> {
    let name = p.metadata.name.as_deref().unwrap_or_default();
    let spec = lane_spec(p)?;
    let remote = remote(conn, &spec).await?;
    let engine = Engine::new(EngineConfig::new(crate::local::default_cache_dir()))
        .map_err(|e| git_failure(&e))?;
    let (source, what) = match &spec.pin {
        // A pinned lane holds the target at the pin, whatever the source says.
        Some(pin) => {
            let values = pinned_values(&engine, &remote, &spec, p, pin).await?;
            (
                Source::Values {
                    label: "pin".to_owned(),
                    values,
                },
                format!("the pin {pin}"),
            )
        }
        None => (
            Source::file(&spec.source.values_file, &fields(&spec))
                .environment(&spec.source.environment),
            format!("{} ({})", spec.source.environment, spec.source.values_file),
        ),
    };
    let request = PromotionRequest::new(
        remote,
        &spec.repository.branch,
        format!("{}/{name}", conn.namespace),
        source,
        Target::new(&spec.target.values_file, &fields(&spec)).environment(&spec.target.environment),
    );
    let preview = engine.preview(request).await.map_err(|e| git_failure(&e))?;
    let short = &preview.tip.as_str()[..preview.tip.as_str().len().min(12)];
    let target = &spec.target.environment;
    Ok(match preview.change {
        PreviewChange::InSync(values) => format!(
            "promotion {name}: {target} already holds {} at {short}; a promotion would change nothing\n",
            values.join(", ")
        ),
        PreviewChange::Edit {
            from,
            to,
            before,
            after,
        } => {
            let (before, after) = (
                String::from_utf8_lossy(&before),
                String::from_utf8_lossy(&after),
            );
            let file = &preview.file;
            let body = TextDiff::from_lines(before.as_ref(), after.as_ref())
                .unified_diff()
                .context_radius(3)
                .header(&format!("a/{file}"), &format!("b/{file}"))
                .to_string();
            format!(
                "# promotion {name}: {target} {} -> {} from {what}, on {} at {short}\n{body}",
                from.join(","),
                to.join(","),
                spec.repository.branch,
            )
        }
        PreviewChange::Conflict {
            file,
            field,
            expected,
            found,
            ..
        } => {
            return Err(Failure::error(format!(
                "promotion {name}: {file} {field} is {found}, not {expected}"
            )));
        }
    })
}

/// The values a pin writes, as the operator chooses them: those recorded when the pinned
/// version was last promoted, else the target's with the version replaced.
async fn pinned_values(
    engine: &Engine,
    remote: &RemoteSpec,
    spec: &LaneSpec,
    p: &Promotion,
    pin: &str,
) -> Result<Vec<String>, Failure> {
    let n = spec.fields.len();
    let status = p.status.clone().unwrap_or_default();
    let recorded = status
        .last_promotion
        .iter()
        .chain(status.history.iter())
        .find(|r| r.version == pin && r.values.len() == n && r.values[0] == pin)
        .map(|r| r.values.clone());
    if let Some(values) = recorded {
        return Ok(values);
    }
    let mut values = if n == 1 {
        vec![String::new()]
    } else {
        engine
            .read_fields(
                remote,
                &spec.repository.branch,
                &spec.target.values_file,
                &spec.fields,
            )
            .await
            .map_err(|e| git_failure(&e))?
            .values
    };
    values[0] = pin.to_owned();
    Ok(values)
}

fn fields(spec: &LaneSpec) -> Vec<&str> {
    spec.fields.iter().map(String::as_str).collect()
}

/// The spec as the operator reads it (same defaults, same checks). Which Application
/// namespaces the operator serves is its own setting, so any is accepted here.
fn lane_spec(p: &Promotion) -> Result<LaneSpec, Failure> {
    let apps = [&p.spec.source.application, &p.spec.target.application];
    let admission = Admission {
        application_namespaces: apps
            .into_iter()
            .flatten()
            .map(|a| a.namespace.clone())
            .collect(),
        allow_file_repositories: true,
    };
    LaneSpec::parse(&p.spec, &admission).map_err(|e| {
        Failure::error(format!("the spec is invalid: {}: {}", e.field, e.problem)).hint(e.fix)
    })
}

/// The repository with the lane's credentials, read from its Secret the way the operator
/// reads them (the Secret must carry the credentials label).
async fn remote(conn: &Connection, spec: &LaneSpec) -> Result<RemoteSpec, Failure> {
    let remote = RemoteSpec::new(&spec.repository.url).map_err(|e| git_failure(&e))?;
    let Some(secret_name) = &spec.repository.credentials_secret else {
        return Ok(remote);
    };
    let ns = &conn.namespace;
    let secret = Api::<Secret>::namespaced(conn.client.clone(), ns)
        .get(secret_name)
        .await
        .map_err(|e| {
            let mut f = Failure::kube(&format!("get secret {secret_name}"), None, Some(ns), e);
            f.message = format!("cannot read the lane's credentials: {}", f.message);
            f
        })?;
    let labelled = promote_api::opted_in(secret.metadata.labels.as_ref(), CREDENTIALS_LABEL);
    if !labelled {
        return Err(Failure::error(format!(
            "Secret {ns}/{secret_name} is not marked as git credentials, so the operator does not use it either"
        ))
        .hint(format!(
            "kubectl label secret {secret_name} -n {ns} {CREDENTIALS_LABEL}=true"
        )));
    }
    let data = secret.data.unwrap_or_default();
    let credentials =
        Credentials::from_secret_data(data.iter().map(|(k, v)| (k.as_str(), &v.0[..])))
            .map_err(|e| Failure::error(format!("Secret {ns}/{secret_name} {e}")))?;
    Ok(remote.with_secret_credentials(credentials))
}

fn git_failure(e: &GitError) -> Failure {
    let f = Failure {
        code: if e.is_retryable() { EXIT_RETRY } else { 1 },
        message: e.to_string(),
        hint: None,
    };
    match crate::local::hint(e) {
        Some(h) => f.hint(h),
        None => f,
    }
}
