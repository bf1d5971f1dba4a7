//! Dev–prod parity: the environments' configuration files compared key path by key path,
//! every difference outside the allow list reported on `status.parity` and the
//! `ParityCompliant` condition, and (with `gates.parity`) promotions held while they differ.

mod compare;
mod glob;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use promote_api::conditions::{self, reasons, types};
use promote_api::{
    DifferenceKind, PARITY_DIFFERENCES_LIMIT, ParityDifference, ParityStatus, PromotionSpec,
};

pub use glob::Glob;

use crate::observation::{ConfigFiles, Observation};
use crate::spec::{LaneSpec, SpecError, SpecErrorKind, error, repository_path};

/// Differences the runbooks allow between dev and prod: domains, env vars, credentials, and
/// sizing. The run command is not here: a dev in hot mode (`next dev` against `next start`)
/// is allowed by listing `command` (or `args`) in `spec.parity.allow`, on purpose.
pub const DEFAULT_ALLOW: [&str; 20] = [
    "**.host",
    "**.hosts",
    "**.domain",
    "**.domains",
    "**.url",
    "ingress.tls",
    "**.env",
    "**.envFrom",
    "**.extraEnv",
    "**.existingSecret",
    "**.secretName",
    "**.secretRef",
    "**.secretKeyRef",
    "**.imagePullSecrets",
    "**.credentials",
    "**.resources",
    "**.replicaCount",
    "**.replicas",
    "**.autoscaling",
    "**.podDisruptionBudget",
];

/// Differences named in a condition or gate message; the status lists up to 50.
const MESSAGE_DIFFERENCES: usize = 3;

/// The parity check of a lane, valid by construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParitySpec {
    /// The source's configuration file.
    pub source_file: String,
    /// The target's configuration file.
    pub target_file: String,
    /// What may differ: the user's globs, then the built-in ones unless turned off.
    pub allow: Vec<Glob>,
    /// Promotions wait while the files differ (`gates.parity`).
    pub gate: bool,
}

/// Reads the parity part of `spec`: none unless both configuration files are named.
pub(crate) fn parse(spec: &PromotionSpec) -> Result<Option<ParitySpec>, SpecError> {
    let wanted = spec.parity.is_some() || spec.gates.parity;
    let (source, target) = match (&spec.source.config_file, &spec.target.config_file) {
        (None, None) if !wanted => return Ok(None),
        (Some(s), Some(t)) => (s.trim(), t.trim()),
        (source, _) => {
            let (field, env) = match source {
                None => ("spec.source.configFile", "source"),
                Some(_) => ("spec.target.configFile", "target"),
            };
            return Err(error(
                field,
                SpecErrorKind::Empty,
                format!("is not set, so the {env} configuration cannot be compared"),
                "name both environments' configuration files (such as deploy/env/dev/web.yaml and deploy/env/prod/web.yaml), or remove spec.parity and gates.parity",
            ));
        }
    };
    repository_path(source, "spec.source.configFile")?;
    repository_path(target, "spec.target.configFile")?;
    if source == target {
        return Err(error(
            "spec.target.configFile",
            SpecErrorKind::Same,
            format!("{target:?} is also the source's configuration file"),
            "name the target environment's own configuration file",
        ));
    }
    for (file, field) in [
        (source, "spec.source.configFile"),
        (target, "spec.target.configFile"),
    ] {
        let release = [&spec.source.values_file, &spec.target.values_file];
        if release.iter().any(|r| r.trim() == file) {
            return Err(error(
                field,
                SpecErrorKind::Same,
                format!("{file:?} is a release values file"),
                "name the environment's configuration file (hosts, resources, env), not the release file",
            ));
        }
    }
    let parity = spec.parity.clone().unwrap_or_default();
    let mut allow = Vec::new();
    for (i, text) in parity.allow.iter().enumerate() {
        let glob = Glob::parse(text).map_err(|problem| {
            error(
                &format!("spec.parity.allow[{i}]"),
                SpecErrorKind::FieldPath,
                format!("{text:?} {problem}"),
                "write a key path glob such as ingress.hosts, env.*, resources.** or env[name=NODE_ENV]",
            )
        })?;
        allow.push(glob);
    }
    if parity.default_allow {
        allow.extend(DEFAULT_ALLOW.iter().filter_map(|g| Glob::parse(g).ok()));
    }
    Ok(Some(ParitySpec {
        source_file: source.to_owned(),
        target_file: target.to_owned(),
        allow,
        gate: spec.gates.parity,
    }))
}

/// `status.parity`: compared afresh when the files were read, otherwise as last reported.
pub(crate) fn parity_view(obs: &Observation) -> Option<ParityStatus> {
    let spec = obs.spec.parity.as_ref()?;
    let previous = || obs.previous.parity.clone();
    let Ok(git) = obs.git.as_ref() else {
        return previous();
    };
    let ConfigFiles::Read { source, target } = &git.config else {
        return previous().or_else(|| {
            Some(unreadable(
                &git.revision,
                "the configuration files have not been read yet".to_owned(),
            ))
        });
    };
    let (src_env, dst_env) = (&obs.spec.source.environment, &obs.spec.target.environment);
    let docs = load(source, src_env, &spec.source_file)
        .and_then(|s| load(target, dst_env, &spec.target_file).map(|t| (s, t)));
    let (s, t) = match docs {
        Ok(docs) => docs,
        Err(message) => return Some(unreadable(&git.revision, message)),
    };
    let (mut allowed, mut total) = (0u32, 0u32);
    let mut differences = Vec::new();
    for found in compare::differences(&s, &t) {
        if spec.allow.iter().any(|g| g.allows(&found.path)) {
            allowed += 1;
            continue;
        }
        total += 1;
        if differences.len() < PARITY_DIFFERENCES_LIMIT {
            differences.push(ParityDifference {
                path: found.path.to_string(),
                kind: found.kind,
                source: found.source,
                target: found.target,
                hidden: found.hidden,
            });
        }
    }
    Some(ParityStatus {
        compliant: total == 0,
        revision: Some(git.revision.clone()),
        differences,
        total,
        allowed,
        message: None,
    })
}

fn load<'a>(
    read: &'a Result<String, crate::Failure>,
    env: &str,
    file: &str,
) -> Result<saphyr::Yaml<'a>, String> {
    let text = read
        .as_ref()
        .map_err(|f| format!("cannot read {env}'s configFile {file}: {}", f.message))?;
    compare::load(text).map_err(|e| format!("{env}'s configFile {file} is not valid: {e}"))
}

fn unreadable(revision: &str, message: String) -> ParityStatus {
    ParityStatus {
        compliant: false,
        revision: Some(revision.to_owned()),
        message: Some(message),
        ..ParityStatus::default()
    }
}

/// One sentence on the comparison, naming the first differences.
pub(crate) fn summary(spec: &LaneSpec, parity: &ParityStatus) -> String {
    let (src, dst) = (&spec.source.environment, &spec.target.environment);
    if let Some(message) = &parity.message {
        return message.clone();
    }
    if parity.compliant {
        return format!(
            "{src} and {dst} configuration match outside the allow list ({} allowed differences)",
            parity.allowed
        );
    }
    let listed: Vec<String> = parity
        .differences
        .iter()
        .take(MESSAGE_DIFFERENCES)
        .map(|d| describe(d, src, dst))
        .collect();
    let mut out = format!(
        "{} differences outside spec.parity.allow: {}",
        parity.total,
        listed.join("; ")
    );
    let more = (parity.total as usize).saturating_sub(listed.len());
    if more > 0 {
        out.push_str(&format!("; and {more} more (status.parity.differences)"));
    }
    if parity.differences.iter().any(|d| run_command(&d.path)) {
        out.push_str(
            ". A run command that differs on purpose (dev in hot mode) can be allowed: add command (or args) to spec.parity.allow",
        );
    }
    out
}

fn describe(d: &ParityDifference, src: &str, dst: &str) -> String {
    let show = |v: &Option<String>| v.as_deref().unwrap_or("?").to_owned();
    let what = match (d.kind, d.hidden) {
        (DifferenceKind::OnlyInSource, true) => format!("only in {src}, value hidden"),
        (DifferenceKind::OnlyInTarget, true) => format!("only in {dst}, value hidden"),
        (DifferenceKind::Different, true) => "values differ, hidden".to_owned(),
        (DifferenceKind::OnlyInSource, false) => format!("only in {src}: {}", show(&d.source)),
        (DifferenceKind::OnlyInTarget, false) => format!("only in {dst}: {}", show(&d.target)),
        (DifferenceKind::Different, false) => {
            format!("{src} {}, {dst} {}", show(&d.source), show(&d.target))
        }
    };
    format!("{} ({what})", d.path)
}

/// Whether a difference's path is a container's run command.
fn run_command(path: &str) -> bool {
    let last_key = path
        .rsplit('.')
        .next()
        .map(|k| k.split('[').next().unwrap_or(k));
    matches!(last_key, Some("command" | "args"))
        || path.contains(".command[")
        || path.starts_with("command[")
        || path.starts_with("args[")
}

/// `ParityCompliant`, when the lane compares configuration files.
pub(crate) fn parity_condition(
    spec: &LaneSpec,
    parity: Option<&ParityStatus>,
    generation: Option<i64>,
    now: &Time,
) -> Option<Condition> {
    let p = parity?;
    let message = summary(spec, p);
    Some(if p.message.is_some() {
        conditions::unknown(
            types::PARITY_COMPLIANT,
            reasons::CONFIG_FILE_ERROR,
            message,
            generation,
            now,
        )
    } else if p.compliant {
        conditions::new(
            types::PARITY_COMPLIANT,
            true,
            reasons::COMPLIANT,
            message,
            generation,
            now,
        )
    } else {
        conditions::new(
            types::PARITY_COMPLIANT,
            false,
            reasons::PARITY_DIFFERENCES,
            message,
            generation,
            now,
        )
    })
}

/// Why `gates.parity` holds a version, if it does.
pub(crate) fn gate(spec: &LaneSpec, parity: Option<&ParityStatus>) -> Option<String> {
    let check = spec.parity.as_ref().filter(|p| p.gate)?;
    match parity {
        Some(p) if p.compliant => None,
        Some(p) => Some(format!("gate: parity: {}", summary(spec, p))),
        None => Some(format!(
            "gate: parity: {} and {} have not been compared yet",
            check.source_file, check.target_file
        )),
    }
}
