//! The write effect: one commit through the git engine, or a commit of ours recognised.

use promote_api::Promotion;
use promote_git::{
    Identity, Outcome, PromotionRequest, Recognition, RemoteSpec, Source, TRAILER_PROMOTION,
    TRAILER_VERSION, Target, TrailerQuery,
};
use promote_lane::{EffectOutcome, Failure, WriteFrom, WriteRequest, WriteResult};
use tracing::instrument;

use crate::context::Context;
use crate::observe::git_failure;

/// Most commits read when looking for one of ours after a restart.
const RECOGNITION_DEPTH: usize = 200;

/// Writes the values as one commit, or recognises a commit of ours that already did.
#[instrument(skip_all, fields(promotion = %key, version = %request.version))]
pub(crate) async fn write(
    ctx: &Context,
    promotion: &Promotion,
    key: &str,
    remote: &RemoteSpec,
    request: &WriteRequest,
) -> WriteResult {
    let spec = &promotion.spec;
    let branch = &spec.repository.branch;
    let fields: Vec<&str> = spec.fields.iter().map(String::as_str).collect();
    let source = match &request.from {
        WriteFrom::SourceFile { file, environment } => Source::file(file, &fields)
            .environment(environment)
            .expect(request.values.clone()),
        WriteFrom::Values { label } => Source::Values {
            label: (*label).to_owned(),
            values: request.values.clone(),
        },
    };
    let mut git_request = PromotionRequest::new(
        remote.clone(),
        branch.clone(),
        key,
        source,
        Target::new(&request.file, &fields).environment(&request.environment),
    )
    .expect_target(request.expected.clone())
    .author(Identity::new(
        ctx.settings.identity.clone(),
        ctx.settings.committer_email.clone(),
    ));
    if let Some(who) = &request.approved_by {
        git_request = git_request.approved_by(who.clone());
    }
    if let Some(note) = &request.note {
        git_request = git_request.note(note.clone());
    }
    if let Some(file) = &request.log_file {
        git_request = git_request.log_file(file.clone());
    }
    match ctx.engine.promote(git_request).await {
        Ok(Outcome::Committed(c)) => {
            ctx.metrics.git_operation("push", "committed");
            ctx.metrics
                .push_retries(u64::from(c.attempts.saturating_sub(1)));
            WriteResult::Committed {
                commit: c.commit.to_string(),
            }
        }
        Ok(Outcome::InSync { .. }) => {
            ctx.metrics.git_operation("push", "in_sync");
            recognise(ctx, remote, branch, key, request).await
        }
        Ok(Outcome::Conflict(c)) => {
            ctx.metrics.git_operation("push", "conflict");
            let by = c
                .changed_by
                .as_ref()
                .map(|b| format!(" by {} ({}, {})", b.commit.short(), b.author, b.summary))
                .unwrap_or_default();
            WriteResult::Conflict {
                message: format!(
                    "{} {} is {} but the decision was made on {}; changed{by}",
                    c.file, c.field, c.found, c.expected
                ),
            }
        }
        Err(e) => {
            ctx.metrics.git_operation("push", e.category());
            let failure = crate::signing::signing_failure(&e).unwrap_or_else(|| git_failure(&e));
            WriteResult::Failed(failure)
        }
    }
}

/// The file already holds the values: a commit of ours wrote them (a push whose outcome was
/// never reported), or someone else did. Looked for among the commits since the decision's
/// base, so the answer is certain or said to be unknown; a record from before bases were
/// kept is looked for among the newest commits.
async fn recognise(
    ctx: &Context,
    remote: &RemoteSpec,
    branch: &str,
    key: &str,
    request: &WriteRequest,
) -> WriteResult {
    let query = TrailerQuery::new()
        .with(TRAILER_PROMOTION, key)
        .with(TRAILER_VERSION, &request.version);
    let engine = &ctx.engine;
    let Some(base) = &request.base_revision else {
        let found = engine
            .find_commit(remote, branch, &query, RECOGNITION_DEPTH)
            .await;
        return match found {
            Ok(Some(found)) => WriteResult::Committed {
                commit: found.commit.to_string(),
            },
            Ok(None) => WriteResult::AlreadyThere,
            Err(e) => WriteResult::Failed(git_failure(&e)),
        };
    };
    let found = engine
        .find_commit_since(remote, branch, base, &query, RECOGNITION_DEPTH)
        .await;
    match found {
        Ok(Recognition::Found(found)) => WriteResult::Committed {
            commit: found.commit.to_string(),
        },
        Ok(Recognition::Absent) => WriteResult::AlreadyThere,
        Ok(Recognition::Undecided(why)) => WriteResult::Undecided(Failure::permanent(
            promote_api::conditions::reasons::GIT_ERROR,
            why,
        )),
        Err(e) => WriteResult::Failed(git_failure(&e)),
    }
}

/// A write the plan asked for while the repository could not be reached: the decision only
/// writes after reading Git, so this means the observation and the plan disagree.
pub(crate) fn no_remote() -> WriteResult {
    WriteResult::Failed(Failure::transient(
        promote_api::conditions::reasons::GIT_ERROR,
        "no repository connection for this reconcile; trying again",
    ))
}

/// The commits that changed the source's version since `since`, for the release notes; a
/// failure to read them is logged and leaves the notes empty.
pub(super) async fn list_changes(
    ctx: &Context,
    remote: &RemoteSpec,
    commit: &str,
    file: &str,
    field: &str,
    since: &str,
) -> EffectOutcome {
    let limit = promote_api::CHANGES_LIMIT;
    match ctx
        .engine
        .changes_since(remote, commit, file, field, since, limit)
        .await
    {
        Ok(log) => EffectOutcome::Listed {
            changes: log
                .changes
                .into_iter()
                .map(|c| promote_api::SourceChange {
                    commit: c.commit.to_string(),
                    author: clip(&c.author),
                    subject: clip(&c.summary),
                })
                .collect(),
            complete: log.complete,
        },
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the release notes");
            EffectOutcome::Listed {
                changes: Vec::new(),
                complete: false,
            }
        }
    }
}

/// At most 256 bytes, cut on a character boundary.
fn clip(s: &str) -> String {
    let mut cut = s.len().min(256);
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s[..cut].to_owned()
}
