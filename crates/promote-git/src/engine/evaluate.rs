//! Deciding one request on one tree: validation, the compare-and-swap check, the edited file,
//! and what the commit message says about it.

use std::collections::BTreeMap;

use git2::{Oid, Repository, Signature, Tree};
use promote_values::ValuesErrorKind;

use super::{check_branch, internal};
use crate::GitError;
use crate::auth::RemoteSpec;
use crate::message::Moved;
use crate::path::RepoPath;
use crate::request::{ChangeInfo, CommitId, Identity, PromotionRequest, Side, Source};
use crate::tree;

/// Where files are read from: a tree of the cache, with the size cap on values files.
pub(super) struct Read<'a> {
    pub(super) repo: &'a Repository,
    pub(super) root: &'a Tree<'a>,
    /// The repository, for messages.
    pub(super) name: &'a str,
    pub(super) max: usize,
}

impl Read<'_> {
    pub(super) fn file(&self, path: &RepoPath) -> Result<(Vec<u8>, i32), GitError> {
        tree::read(self.repo, self.root, path, self.name, self.max)
    }
}

/// A request with its paths validated.
pub(super) struct Prepared<'r> {
    pub(super) request: &'r PromotionRequest,
    pub(super) source: Option<RepoPath>,
    pub(super) target: RepoPath,
    pub(super) log: Option<RepoPath>,
}

/// What one request comes to on one tree.
pub(super) enum Eval {
    InSync(Vec<String>),
    Conflict {
        side: Side,
        file: RepoPath,
        field: String,
        expected: String,
        found: String,
    },
    Edit {
        from: Vec<String>,
        to: Vec<String>,
        content: Vec<u8>,
        mode: i32,
    },
}

/// Validates one request of a batch for `remote` and `branch`.
pub(super) fn prepare<'r>(
    request: &'r PromotionRequest,
    remote: &RemoteSpec,
    branch: &str,
) -> Result<Prepared<'r>, GitError> {
    if request.remote.url != remote.url
        || request.branch != branch
        || request.remote.access() != remote.access()
    {
        return Err(internal(
            "a batch mixed repositories, branches or credentials",
        ));
    }
    check_branch(branch)?;
    let target = RepoPath::parse(&request.target.file)?;
    let fields = request.target.fields.len();
    if fields == 0 {
        return Err(GitError::InvalidRequest("no fields to promote".into()));
    }
    if request.source.len() != fields {
        return Err(GitError::InvalidRequest(format!(
            "the source has {} fields or values but the target has {fields}",
            request.source.len()
        )));
    }
    let mut unique = request.target.fields.clone();
    unique.sort();
    unique.dedup();
    if unique.len() != fields {
        return Err(GitError::InvalidRequest(
            "a target field is named twice".into(),
        ));
    }
    if request
        .expect_target
        .as_ref()
        .is_some_and(|e| e.len() != fields)
    {
        return Err(GitError::InvalidRequest(
            "expected target values must match the target fields one to one".into(),
        ));
    }
    let source = match &request.source {
        Source::File { file, expect, .. } => {
            if expect.as_ref().is_some_and(|e| e.len() != fields) {
                return Err(GitError::InvalidRequest(
                    "expected source values must match the source fields one to one".into(),
                ));
            }
            Some(RepoPath::parse(file)?)
        }
        Source::Values { .. } => None,
    };
    if request.promotion.trim().is_empty() {
        return Err(GitError::InvalidRequest("the promotion has no name".into()));
    }
    let log = match &request.log_file {
        None => None,
        Some(file) => {
            let log = RepoPath::parse(file)?;
            if log == target || source.as_ref() == Some(&log) {
                return Err(GitError::InvalidRequest(format!(
                    "the deployment log {log} is a release values file; name another file"
                )));
            }
            Some(log)
        }
    };
    Ok(Prepared {
        request,
        source,
        target,
        log,
    })
}

pub(super) fn get_value(path: &RepoPath, content: &[u8], field: &str) -> Result<String, GitError> {
    promote_values::get(path.as_str(), content, field).map_err(|e| values_error(path, &e))
}

fn values_error(path: &RepoPath, e: &promote_values::ValuesError) -> GitError {
    GitError::InvalidValues {
        path: path.to_string(),
        message: format!("{}: {}", e.path, e.kind),
    }
}

/// A target value as the decision sees it: an empty or null scalar (`tag:`, `tag: ~`,
/// `tag: null`) is a value not set yet, read as the empty string so it can be filled in.
fn get_target_value(path: &RepoPath, content: &[u8], field: &str) -> Result<String, GitError> {
    match promote_values::get(path.as_str(), content, field) {
        Ok(value) => Ok(value),
        Err(e)
            if matches!(
                e.kind,
                ValuesErrorKind::NotAString {
                    reading: "null",
                    ..
                }
            ) =>
        {
            Ok(String::new())
        }
        Err(e) => Err(values_error(path, &e)),
    }
}

fn read_through(
    read: &Read<'_>,
    overlay: &BTreeMap<RepoPath, (Vec<u8>, i32)>,
    path: &RepoPath,
) -> Result<(Vec<u8>, i32), GitError> {
    match overlay.get(path) {
        Some((content, mode)) => Ok((content.clone(), *mode)),
        None => read.file(path),
    }
}

/// Decides one request on one tree: in sync, conflict, or the edited target file.
pub(super) fn evaluate(
    read: &Read<'_>,
    overlay: &BTreeMap<RepoPath, (Vec<u8>, i32)>,
    p: &Prepared<'_>,
    expect_target: Option<&[String]>,
) -> Result<Eval, GitError> {
    let request = p.request;
    let wanted: Vec<String> = match (&request.source, &p.source) {
        (Source::File { fields, expect, .. }, Some(path)) => {
            let (content, _) = read_through(read, overlay, path)?;
            let values: Vec<String> = fields
                .iter()
                .map(|f| get_value(path, &content, f))
                .collect::<Result<_, _>>()?;
            if let Some(expect) = expect
                && let Some(i) = (0..values.len()).find(|&i| values[i] != expect[i])
            {
                return Ok(Eval::Conflict {
                    side: Side::Source,
                    file: path.clone(),
                    field: fields[i].clone(),
                    expected: expect[i].clone(),
                    found: values[i].clone(),
                });
            }
            values
        }
        (Source::Values { values, .. }, _) => values.clone(),
        (Source::File { .. }, None) => return Err(internal("source path missing")),
    };
    let (content, mode) = read_through(read, overlay, &p.target)?;
    let fields = &request.target.fields;
    let current: Vec<String> = fields
        .iter()
        .map(|f| get_target_value(&p.target, &content, f))
        .collect::<Result<_, _>>()?;
    if current == wanted {
        return Ok(Eval::InSync(current));
    }
    if let Some(expect) = expect_target
        && let Some(i) = (0..current.len()).find(|&i| current[i] != expect[i])
    {
        return Ok(Eval::Conflict {
            side: Side::Target,
            file: p.target.clone(),
            field: fields[i].clone(),
            expected: expect[i].clone(),
            found: current[i].clone(),
        });
    }
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(String::as_str)
        .zip(wanted.iter().map(String::as_str))
        .collect();
    let edits = promote_values::set_many(p.target.as_str(), &content, &pairs)
        .map_err(|e| values_error(&p.target, &e))?;
    if !edits.changed {
        return Ok(Eval::InSync(current));
    }
    Ok(Eval::Edit {
        from: current,
        to: wanted,
        content: edits.content,
        mode,
    })
}

/// What the commit message says about one edited request.
pub(super) fn describe(p: &Prepared<'_>, from: &[String], to: &[String]) -> Moved {
    let request = p.request;
    let dir_name = |path: &RepoPath| {
        let c = path.components();
        if c.len() >= 2 {
            c[c.len() - 2].clone()
        } else {
            path.to_string()
        }
    };
    let (source, source_env) = match (&request.source, &p.source) {
        (Source::File { environment, .. }, Some(path)) => (
            path.to_string(),
            environment.clone().unwrap_or_else(|| dir_name(path)),
        ),
        (Source::Values { label, .. }, _) => (label.clone(), label.clone()),
        (Source::File { .. }, None) => (String::new(), String::new()),
    };
    Moved {
        promotion: request.promotion.clone(),
        app: request
            .app
            .clone()
            .unwrap_or_else(|| p.target.stem().to_string()),
        source,
        source_env,
        target: p.target.to_string(),
        target_env: request
            .target
            .environment
            .clone()
            .unwrap_or_else(|| dir_name(&p.target)),
        fields: request
            .target
            .fields
            .iter()
            .zip(from.iter().zip(to))
            .map(|(f, (a, b))| {
                let a = if a.is_empty() { "(unset)" } else { a.as_str() };
                (f.clone(), a.to_owned(), b.clone())
            })
            .collect(),
        approved_by: request.approved_by.clone(),
        note: request.note.clone(),
    }
}

/// A commit signature, with characters that would break the header removed.
pub(super) fn signature(who: &Identity, name: &str) -> Result<Signature<'static>, GitError> {
    let clean = |s: &str| {
        s.chars()
            .filter(|c| !c.is_control() && *c != '<' && *c != '>')
            .collect::<String>()
    };
    Signature::now(clean(&who.name).trim(), clean(&who.email).trim()).map_err(|e| {
        GitError::InvalidRequest(format!(
            "invalid commit identity for {name}: {}",
            e.message()
        ))
    })
}

/// The newest commit (first-parent history from `tip`, at most `depth` commits back) that
/// changed `field` of `file`. The file is parsed only where its blob changed, so the walk costs
/// tree lookups, not YAML parses, across commits that did not touch it.
pub(super) fn last_change(
    read: &Read<'_>,
    tip: Oid,
    file: &RepoPath,
    field: &str,
    depth: usize,
) -> Option<ChangeInfo> {
    let mut found = None;
    walk_changes(read, tip, file, field, depth, |commit, _| {
        found = Some(change_info(commit));
        false
    });
    found
}

/// The commits that changed `field` of `file`, newest first, back to and including the one
/// that changed it away from `since` (at most `limit` of them, `depth` commits searched).
/// `complete` says whether that commit was reached.
pub(super) fn changes_since(
    read: &Read<'_>,
    tip: Oid,
    file: &RepoPath,
    field: &str,
    since: &str,
    depth: usize,
    limit: usize,
) -> (Vec<ChangeInfo>, bool) {
    let mut changes = Vec::new();
    let mut complete = false;
    walk_changes(read, tip, file, field, depth, |commit, before| {
        changes.push(change_info(commit));
        if before == Some(since) {
            complete = true;
            return false;
        }
        changes.len() < limit
    });
    (changes, complete)
}

/// Walks first-parent history from `tip` and calls `visit` with each commit that changed
/// `field` of `file` and the value before it (None when the file or field did not exist), until
/// `visit` returns false or `depth` commits were looked at. The root commit counts as the
/// change that created the file. Returns whether the walk reached the root.
fn walk_changes(
    read: &Read<'_>,
    tip: Oid,
    file: &RepoPath,
    field: &str,
    depth: usize,
    mut visit: impl FnMut(&git2::Commit<'_>, Option<&str>) -> bool,
) -> bool {
    let repo = read.repo;
    let blob_at = |commit: &git2::Commit<'_>| -> Option<Oid> {
        let root = commit.tree().ok()?;
        tree::lookup(repo, &root, file, read.name)
            .ok()
            .flatten()
            .map(|e| e.oid)
    };
    let value_of = |blob: Option<Oid>| -> Option<String> {
        let blob = blob?;
        let (size, _) = repo.odb().ok()?.read_header(blob).ok()?;
        if size > read.max {
            return None;
        }
        let content = repo.find_blob(blob).ok()?;
        promote_values::get(file.as_str(), content.content(), field).ok()
    };
    let Ok(mut commit) = repo.find_commit(tip) else {
        return false;
    };
    let mut blob = blob_at(&commit);
    let mut value = value_of(blob);
    for _ in 0..depth {
        let Ok(parent) = commit.parent(0) else {
            visit(&commit, None);
            return true;
        };
        let parent_blob = blob_at(&parent);
        if parent_blob != blob {
            let before = value_of(parent_blob);
            if before != value && !visit(&commit, before.as_deref()) {
                return false;
            }
            value = before;
        }
        blob = parent_blob;
        commit = parent;
    }
    false
}

fn change_info(commit: &git2::Commit<'_>) -> ChangeInfo {
    ChangeInfo {
        commit: CommitId::from_oid(commit.id()),
        author: String::from_utf8_lossy(commit.author().name_bytes()).into_owned(),
        summary: commit
            .summary()
            .ok()
            .flatten()
            .unwrap_or_default()
            .to_string(),
    }
}
