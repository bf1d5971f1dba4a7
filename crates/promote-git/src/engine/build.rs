//! Building one batch's commit in memory on a tip: each request evaluated on the tree as the
//! earlier ones in the batch left it, then one tree and one commit for all edits.

use std::collections::BTreeMap;

use git2::{Oid, Repository};
use tracing::{info, warn};

use super::Engine;
use super::evaluate::{
    Eval, Prepared, Read, changes_since, describe, evaluate, last_change, signature,
};
use super::log;
use crate::GitError;
use crate::auth::RemoteSpec;
use crate::message::{self, Moved};
use crate::path::RepoPath;
use crate::request::{ChangeInfo, CommitId, Committed, Conflict, Identity, Outcome, Source};
use crate::transport;
use crate::tree;

impl Engine {
    /// Evaluates the pending requests on `tip` and writes the commit (not yet pushed).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn build(
        &self,
        repo: &Repository,
        remote: &RemoteSpec,
        tip: Oid,
        prepared: &[(usize, Prepared<'_>)],
        pending: &[usize],
        expectations: &mut [Option<Vec<String>>],
        first_attempt: bool,
    ) -> Result<Built, GitError> {
        let name = remote.url.to_string();
        let local = |e: git2::Error| tree::local(&name, &e);
        let tip_commit = repo.find_commit(tip).map_err(local)?;
        let root = tip_commit.tree().map_err(local)?;
        let mut overlay: BTreeMap<RepoPath, (Vec<u8>, i32)> = BTreeMap::new();
        let mut finished = Vec::new();
        let mut planned: Vec<(usize, Vec<String>, Vec<String>)> = Vec::new();
        let mut moved: Vec<Moved> = Vec::new();
        let config = &self.inner.config;
        let read = Read {
            repo,
            root: &root,
            name: &name,
            max: config.max_values_file,
        };
        for &k in pending {
            let (index, p) = &prepared[k];
            let evaluated = evaluate(&read, &overlay, p, expectations[k].as_deref());
            if first_attempt
                && expectations[k].is_none()
                && let Ok(Eval::Edit { from, .. }) = &evaluated
            {
                // The decision is made on what this first read saw; retries compare with it.
                expectations[k] = Some(from.clone());
            }
            match evaluated {
                Ok(Eval::InSync(values)) => finished.push((
                    *index,
                    Ok(Outcome::InSync {
                        commit: CommitId::from_oid(tip),
                        values,
                    }),
                )),
                Ok(Eval::Conflict {
                    side,
                    file,
                    field,
                    expected,
                    found,
                }) => {
                    let changed_by = last_change(&read, tip, &file, &field, config.history_depth);
                    info!(promotion = %p.request.promotion, ?side, file = %file, field, expected, found, "conflict: value changed since the decision");
                    let conflict = Conflict {
                        side,
                        file: file.to_string(),
                        field,
                        expected,
                        found,
                        tip: CommitId::from_oid(tip),
                        changed_by,
                    };
                    finished.push((*index, Ok(Outcome::Conflict(conflict))));
                }
                Ok(Eval::Edit {
                    from,
                    to,
                    content,
                    mode,
                }) => {
                    let m = describe(p, &from, &to);
                    overlay.insert(p.target.clone(), (content, mode));
                    if let Some(log_path) = &p.log {
                        let changes = source_changes(&read, tip, p, &from, config.history_depth);
                        let at = jiff::Timestamp::now()
                            .round(jiff::Unit::Second)
                            .unwrap_or_default();
                        let entry = log::entry(&m, &changes, &at.to_string());
                        if let Err(e) = log::append(&read, &mut overlay, log_path, &entry) {
                            // The log is part of this request's commit: without it, no commit.
                            overlay.remove(&p.target);
                            finished.push((*index, Err(e)));
                            continue;
                        }
                    }
                    moved.push(m);
                    planned.push((k, from, to));
                }
                Err(e) => finished.push((*index, Err(e))),
            }
        }
        if planned.is_empty() {
            return Ok(Built {
                finished,
                planned,
                commit: None,
            });
        }
        let authors: Vec<Option<&Identity>> = planned
            .iter()
            .map(|(k, ..)| prepared[*k].1.request.author.as_ref())
            .collect();
        let commit = self.commit_edits(repo, remote, &tip_commit, overlay, &moved, &authors)?;
        Ok(Built {
            finished,
            planned,
            commit: Some(commit),
        })
    }

    /// Writes the edited files, the new tree and one commit on `parent` (not pushed), signed
    /// when the remote has a signing key. The author is the requests' author when they all
    /// name the same one, else the committer.
    fn commit_edits(
        &self,
        repo: &Repository,
        remote: &RemoteSpec,
        parent: &git2::Commit<'_>,
        overlay: BTreeMap<RepoPath, (Vec<u8>, i32)>,
        moved: &[Moved],
        authors: &[Option<&Identity>],
    ) -> Result<Oid, GitError> {
        let name = &remote.url.to_string();
        let local = |e: git2::Error| tree::local(name, &e);
        let root = parent.tree().map_err(local)?;
        let mut edits = Vec::with_capacity(overlay.len());
        for (path, (content, mode)) in overlay {
            let oid = repo.blob(&content).map_err(local)?;
            edits.push((path, oid, mode));
        }
        let new_tree_oid = tree::write(repo, &root, &edits, name)?;
        let new_tree = repo.find_tree(new_tree_oid).map_err(local)?;
        let committer = signature(&self.inner.config.committer, name)?;
        let author = match authors.first() {
            Some(Some(a)) if authors.iter().all(|b| *b == Some(*a)) => signature(a, name)?,
            _ => committer.clone(),
        };
        let text = message::render(moved);
        let Some(key) = &remote.signing else {
            return repo
                .commit(None, &author, &committer, &text, &new_tree, &[parent])
                .map_err(local);
        };
        // The signature covers the commit object exactly as it is stored, minus the header.
        let content = repo
            .commit_create_buffer(&author, &committer, &text, &new_tree, &[parent])
            .map_err(local)?;
        let content = content
            .as_str()
            .map_err(|_| internal_text(name, "the commit object is not UTF-8"))?;
        let signature = key
            .sign(content.as_bytes())
            .map_err(|source| GitError::Signing {
                repo: name.clone(),
                source,
            })?;
        repo.commit_signed(content, &signature, Some("gpgsig"))
            .map_err(local)
    }
}

fn internal_text(repo: &str, message: &str) -> GitError {
    GitError::Git {
        repo: repo.to_owned(),
        message: message.to_owned(),
    }
}

/// The commits that changed the promoted version in the source file since the target's
/// version, for the deployment log (none for values that come from no file).
fn source_changes(
    read: &Read<'_>,
    tip: Oid,
    p: &Prepared<'_>,
    from: &[String],
    depth: usize,
) -> Vec<ChangeInfo> {
    let (Some(path), Source::File { fields, .. }) = (&p.source, &p.request.source) else {
        return Vec::new();
    };
    let (Some(field), Some(since)) = (fields.first(), from.first()) else {
        return Vec::new();
    };
    changes_since(read, tip, path, field, since, depth, LOG_CHANGES).0
}

/// Most source commits listed in one deployment log entry.
const LOG_CHANGES: usize = 10;

/// What one build came to: requests settled on this tip, requests in the commit (index into
/// the prepared requests, values before, values after), and the commit if there is one.
pub(super) struct Built {
    pub(super) finished: Vec<(usize, Result<Outcome, GitError>)>,
    pub(super) planned: Vec<(usize, Vec<String>, Vec<String>)>,
    pub(super) commit: Option<Oid>,
}

/// Records a push that landed: the cached branch moves to `commit`, each planned request
/// learns its outcome.
pub(super) fn landed(
    repo: &Repository,
    branch: &str,
    commit: Oid,
    tip: Oid,
    attempt: u32,
    prepared: &[(usize, Prepared<'_>)],
    planned: Vec<(usize, Vec<String>, Vec<String>)>,
) -> Vec<(usize, Result<Outcome, GitError>)> {
    if let Err(e) = repo.reference(
        &transport::tracking_ref(branch),
        commit,
        true,
        "promote: push",
    ) {
        // The next fetch corrects the tracking ref; the push itself landed.
        warn!(error = %e.message(), "could not update the cached branch after pushing");
    }
    info!(commit = %commit, parent = %tip, promotions = planned.len(), attempt, "pushed promotion commit");
    let batch_size = planned.len();
    planned
        .into_iter()
        .map(|(k, from, to)| {
            let committed = Committed {
                commit: CommitId::from_oid(commit),
                parent: CommitId::from_oid(tip),
                from,
                to,
                batch_size,
                attempts: attempt,
            };
            (prepared[k].0, Ok(Outcome::Committed(committed)))
        })
        .collect()
}
