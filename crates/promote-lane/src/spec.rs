//! The validated spec: a `Promotion`'s spec parsed once, durations parsed, defaults applied,
//! fields, paths and versions checked. Every invalid input is one [`SpecError`] naming the
//! field and the fix; nothing a user wrote is replaced by a silent default.

use std::time::Duration;

use promote_api::{ApplicationRef, Approval, PromotionSpec, Trigger};

use crate::duration::parse_duration;
use crate::health::HealthCheck;

/// A lane's spec, valid by construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneSpec {
    /// The repository and branch both release files live on.
    pub repository: RepositorySpec,
    /// The environment versions come from.
    pub source: Side,
    /// The environment versions go to.
    pub target: Side,
    /// The fields that cross, in order; the first is the version. Never empty, no duplicates.
    pub fields: Vec<String>,
    /// Manual (approval) or Auto.
    pub trigger: Trigger,
    /// The approval, with a valid version.
    pub approval: Option<Approval>,
    /// What must hold in the source before a version moves.
    pub gates: GateSpec,
    /// How a promotion is verified in the target.
    pub verification: VerificationSpec,
    /// The version the target is held at, when set (never empty).
    pub pin: Option<String>,
    /// Nothing is committed while set.
    pub suspend: bool,
    /// The lane (in the same namespace) whose verified promotions this one waits for.
    pub after: Option<String>,
    /// A request to reset the source to the target's release fields: its id and who asked.
    pub reset: Option<ResetSpec>,
    /// The deployment log file each commit of the lane adds an entry to.
    pub release_log: Option<String>,
    /// The release windows promotions wait for (never pins, rollbacks or resets).
    pub windows: crate::windows::Windows,
    /// The comparison of the environments' configuration files, when both are named.
    pub parity: Option<crate::parity::ParitySpec>,
}

/// A reset request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetSpec {
    /// The request's id; acted on once.
    pub id: String,
    /// Who asked.
    pub requested_by: Option<String>,
}

/// Where the release files live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositorySpec {
    /// The repository URL as written (the git engine parses it).
    pub url: String,
    /// The branch.
    pub branch: String,
    /// The Secret, in the lane's namespace, holding the credentials.
    pub credentials_secret: Option<String>,
    /// The Secret, in the lane's namespace, holding the key every commit is signed with.
    pub signing_secret: Option<String>,
}

/// One environment of the lane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Side {
    /// The environment's name.
    pub environment: String,
    /// Its release values file, relative to the repository root.
    pub values_file: String,
    /// Its Argo CD Application, when the lane names one.
    pub application: Option<ApplicationRef>,
    /// The self-heal setting the lane expects on that Application.
    pub expected_self_heal: bool,
}

/// The source gates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateSpec {
    /// The source Application must be Synced at a revision holding the version.
    pub source_synced: bool,
    /// The source Application must be Healthy.
    pub source_healthy: bool,
    /// How long the version must have been running healthy in the source.
    pub soak: Option<Written<Duration>>,
}

/// How a promotion is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationSpec {
    /// How long the target has to be Synced at the commit and Healthy.
    pub timeout: Written<Duration>,
    /// Write the previous version back when verification fails.
    pub rollback_on_failure: bool,
    /// The health URL to probe once the target is Synced and Healthy.
    pub health: Option<HealthCheck>,
}

/// A parsed value together with the text the user wrote, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written<T> {
    /// The parsed value.
    pub value: T,
    /// As written in the spec.
    pub text: String,
}

/// Why a spec cannot be acted on: the field, what is wrong with it, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}; {fix}")]
pub struct SpecError {
    /// The field's path in the spec, such as `spec.gates.soakTime`.
    pub field: String,
    /// What kind of problem it is.
    pub kind: SpecErrorKind,
    /// What is wrong, with the offending value.
    pub problem: String,
    /// What to change.
    pub fix: String,
}

/// The kinds of [`SpecError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecErrorKind {
    /// A required value is empty.
    Empty,
    /// A list holds the same value twice.
    Duplicate,
    /// Two values that must differ are the same.
    Same,
    /// Not a duration such as `10m`.
    Duration,
    /// Not a version (OCI tag, digest, or both).
    Version,
    /// Not a field path such as `image.tag`.
    FieldPath,
    /// Not a path inside the repository.
    RepositoryPath,
    /// Valid, but not allowed by this operator's configuration.
    NotAllowed,
    /// Not a five-field cron schedule, or one that never fires.
    Schedule,
    /// Not an IANA time zone.
    TimeZone,
}

/// What this operator lets lanes name, from its flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// Namespaces whose Applications lanes may read and sync (`--application-namespaces`).
    pub application_namespaces: Vec<String>,
    /// Whether `file://` repositories are allowed (`--allow-file-repositories`).
    pub allow_file_repositories: bool,
}

impl Default for Admission {
    /// Applications in `argocd` only, no `file://` repositories.
    fn default() -> Self {
        Self {
            application_namespaces: vec!["argocd".to_owned()],
            allow_file_repositories: false,
        }
    }
}

pub(crate) fn error(field: &str, kind: SpecErrorKind, problem: String, fix: &str) -> SpecError {
    SpecError {
        field: field.to_owned(),
        kind,
        problem,
        fix: fix.to_owned(),
    }
}

impl LaneSpec {
    /// Validates `spec` against the grammar and what `admission` allows; the first problem
    /// found is the error.
    pub fn parse(spec: &PromotionSpec, admission: &Admission) -> Result<Self, SpecError> {
        let repository = repository(spec, admission)?;
        let source = side(
            &spec.source,
            "spec.source",
            spec.source_expected_self_heal(),
        )?;
        let target = side(
            &spec.target,
            "spec.target",
            spec.target_expected_self_heal(),
        )?;
        admit_application(&source, "spec.source", admission)?;
        admit_application(&target, "spec.target", admission)?;
        if source.values_file == target.values_file {
            return Err(error(
                "spec.target.valuesFile",
                SpecErrorKind::Same,
                format!("{:?} is also the source's values file", target.values_file),
                "a lane copies from one file into another: name the target environment's release file",
            ));
        }
        if source.environment == target.environment {
            return Err(error(
                "spec.target.environment",
                SpecErrorKind::Same,
                format!("{:?} is also the source environment", target.environment),
                "name the environment the versions go to",
            ));
        }
        let fields = fields(&spec.fields)?;
        let approval = match &spec.approval {
            Some(a) => {
                version(&a.version, "spec.approval.version")?;
                Some(a.clone())
            }
            None => None,
        };
        let pin = match spec.pin.as_deref() {
            None | Some("") => None,
            Some(p) => Some(version(p, "spec.pin")?),
        };
        let soak = match spec.gates.soak_time.as_deref() {
            None | Some("") => None,
            Some(text) => Some(duration(text, "spec.gates.soakTime")?),
        };
        let timeout = duration(&spec.verification.timeout, "spec.verification.timeout")?;
        if timeout.value.is_zero() {
            return Err(error(
                "spec.verification.timeout",
                SpecErrorKind::Duration,
                format!("{:?} leaves no time to verify", timeout.text),
                "set a positive duration such as 10m",
            ));
        }
        Ok(Self {
            repository,
            source,
            target,
            fields,
            trigger: spec.trigger,
            approval,
            gates: GateSpec {
                source_synced: spec.gates.source_synced,
                source_healthy: spec.gates.source_healthy,
                soak,
            },
            verification: VerificationSpec {
                timeout,
                rollback_on_failure: spec.verification.rollback_on_failure,
                health: crate::health::parse(&spec.verification)?,
            },
            pin,
            suspend: spec.suspend,
            after: after(spec)?,
            release_log: release_log(spec)?,
            parity: crate::parity::parse(spec)?,
            windows: crate::windows::parse(&spec.windows)?,
            reset: match &spec.reset {
                None => None,
                Some(r) if r.id.trim().is_empty() => {
                    return Err(error(
                        "spec.reset.id",
                        SpecErrorKind::Empty,
                        "the reset request has no id".to_owned(),
                        "give each request a new id, or use kubectl promote reset",
                    ));
                }
                Some(r) => Some(ResetSpec {
                    id: r.id.trim().to_owned(),
                    requested_by: r.requested_by.clone(),
                }),
            },
        })
    }

    /// The version (first field) the target is pinned at.
    pub fn pinned(&self) -> Option<&str> {
        self.pin.as_deref()
    }
}

fn release_log(spec: &PromotionSpec) -> Result<Option<String>, SpecError> {
    let Some(notes) = &spec.release_notes else {
        return Ok(None);
    };
    let file = notes.file.trim();
    if file == spec.source.values_file.trim() || file == spec.target.values_file.trim() {
        return Err(error(
            "spec.releaseNotes.file",
            SpecErrorKind::Same,
            format!("{file:?} is a release values file"),
            "name a separate file such as deploy/CHANGELOG.md",
        ));
    }
    if file.is_empty() || file.starts_with('/') || file.split('/').any(|c| c == ".." || c == ".git")
    {
        return Err(error(
            "spec.releaseNotes.file",
            SpecErrorKind::RepositoryPath,
            format!("{file:?} is not a path inside the repository"),
            "give a path relative to the repository root, such as deploy/CHANGELOG.md",
        ));
    }
    Ok(Some(file.to_owned()))
}

fn after(spec: &PromotionSpec) -> Result<Option<String>, SpecError> {
    let Some(lane) = &spec.after else {
        return Ok(None);
    };
    let name = lane.name.trim();
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && !name.starts_with(['-', '.'])
        && !name.ends_with(['-', '.']);
    if !valid {
        return Err(error(
            "spec.after.name",
            SpecErrorKind::NotAllowed,
            format!("{name:?} is not the name of a Promotion"),
            "name the upstream Promotion in this namespace, such as web-stage",
        ));
    }
    Ok(Some(name.to_owned()))
}

fn repository(spec: &PromotionSpec, admission: &Admission) -> Result<RepositorySpec, SpecError> {
    let r = &spec.repository;
    if r.url.starts_with("file://") && !admission.allow_file_repositories {
        return Err(error(
            "spec.repository.url",
            SpecErrorKind::NotAllowed,
            format!("{} is a file on the operator's own disk", r.url),
            "use an https:// or ssh:// URL (file:// repositories need the operator's --allow-file-repositories)",
        ));
    }
    if r.url.trim().is_empty() {
        return Err(error(
            "spec.repository.url",
            SpecErrorKind::Empty,
            "is empty".to_owned(),
            "set the repository's https://, ssh:// or file:// URL",
        ));
    }
    let bad_branch = r.branch.is_empty()
        || r.branch.starts_with("refs/")
        || r.branch.starts_with('-')
        || r.branch.contains("..")
        || r.branch
            .chars()
            .any(|c| c.is_whitespace() || c.is_control());
    if bad_branch {
        return Err(error(
            "spec.repository.branch",
            SpecErrorKind::Empty,
            format!("{:?} is not a branch name", r.branch),
            "name a branch such as main (not a ref path)",
        ));
    }
    Ok(RepositorySpec {
        url: r.url.clone(),
        branch: r.branch.clone(),
        credentials_secret: r.credentials.as_ref().map(|c| c.secret_name.clone()),
        signing_secret: r.signing.as_ref().map(|s| s.secret_name.clone()),
    })
}

/// `expected_self_heal` is the API's default applied (off for the source, on for the target).
fn side(
    env: &promote_api::Environment,
    at: &str,
    expected_self_heal: bool,
) -> Result<Side, SpecError> {
    if env.environment.trim().is_empty() {
        return Err(error(
            &format!("{at}.environment"),
            SpecErrorKind::Empty,
            "is empty".to_owned(),
            "name the environment, such as dev or prod",
        ));
    }
    repository_path(&env.values_file, &format!("{at}.valuesFile"))?;
    if let Some(app) = &env.application
        && (app.name.is_empty() || app.namespace.is_empty())
    {
        return Err(error(
            &format!("{at}.application"),
            SpecErrorKind::Empty,
            "names no Application".to_owned(),
            "set name (and namespace, default argocd) or remove application",
        ));
    }
    Ok(Side {
        environment: env.environment.clone(),
        values_file: env.values_file.clone(),
        application: env.application.clone(),
        expected_self_heal,
    })
}

/// Application namespaces are a tenancy boundary: a lane may only read and sync the
/// Applications of namespaces the operator was told to serve.
fn admit_application(side: &Side, at: &str, admission: &Admission) -> Result<(), SpecError> {
    let Some(app) = &side.application else {
        return Ok(());
    };
    if admission
        .application_namespaces
        .iter()
        .any(|n| n == &app.namespace)
    {
        return Ok(());
    }
    Err(error(
        &format!("{at}.application.namespace"),
        SpecErrorKind::NotAllowed,
        format!(
            "{:?} is not a namespace this operator reads Applications in ({})",
            app.namespace,
            admission.application_namespaces.join(", ")
        ),
        "name an Application in one of those namespaces, or have the operator started with --application-namespaces including it",
    ))
}

/// The git engine confines paths again; checking here names the field.
pub(crate) fn repository_path(path: &str, field: &str) -> Result<(), SpecError> {
    let problem = if path.is_empty() {
        Some("is empty")
    } else if path.starts_with('/') {
        Some("is absolute")
    } else if path.split('/').any(|c| c == "..") {
        Some("leaves the repository through ..")
    } else if path.split('/').any(|c| c == ".git") {
        Some("points into .git")
    } else if path.ends_with('/') || path.split('/').any(str::is_empty) {
        Some("is not a file path")
    } else {
        None
    };
    match problem {
        Some(p) => Err(error(
            field,
            SpecErrorKind::RepositoryPath,
            format!("{path:?} {p}"),
            "give the release values file's path relative to the repository root, such as deploy/env/release-prod/app.yaml",
        )),
        None => Ok(()),
    }
}

fn fields(fields: &[String]) -> Result<Vec<String>, SpecError> {
    if fields.is_empty() {
        return Err(error(
            "spec.fields",
            SpecErrorKind::Empty,
            "lists no field".to_owned(),
            "list the fields to promote, the version first (default [image.tag])",
        ));
    }
    for (i, f) in fields.iter().enumerate() {
        if let Err(e) = promote_values::ValuePath::parse(f) {
            return Err(error(
                &format!("spec.fields[{i}]"),
                SpecErrorKind::FieldPath,
                format!("{f:?} is not a field path: {e}"),
                "write a dotted path such as image.tag, sidecars[1].tag or labels.\"app.kubernetes.io/version\"",
            ));
        }
        if fields[..i].contains(f) {
            return Err(error(
                &format!("spec.fields[{i}]"),
                SpecErrorKind::Duplicate,
                format!("{f:?} is listed twice"),
                "list each field once",
            ));
        }
    }
    Ok(fields.to_vec())
}

fn version(v: &str, field: &str) -> Result<String, SpecError> {
    promote_values::validate_version(v)
        .map(|_| v.to_owned())
        .map_err(|e| {
            error(
                field,
                SpecErrorKind::Version,
                format!("{v:?} is not a version: {e}"),
                promote_api::version::CEL_MESSAGE,
            )
        })
}

fn duration(text: &str, field: &str) -> Result<Written<Duration>, SpecError> {
    match parse_duration(text) {
        Some(value) => Ok(Written {
            value,
            text: text.to_owned(),
        }),
        None => Err(error(
            field,
            SpecErrorKind::Duration,
            format!("{text:?} is not a duration"),
            "write a duration such as 30s, 10m or 1h30m",
        )),
    }
}
