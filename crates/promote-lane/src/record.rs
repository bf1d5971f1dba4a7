//! Promotion records: how one ends, the bounded history, and the words messages use.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use promote_api::{HISTORY_LIMIT, PromotionRecord, PromotionResult, RecordKind};

/// Most versions remembered as rejected.
pub(crate) const REJECTED_LIMIT: usize = 50;

/// History records that keep their release notes and probe attempts; older ones keep the
/// counts only.
pub(crate) const DETAILED_RECORDS: usize = 5;

/// Ends the record with `result` at `now`.
pub(crate) fn finish(
    record: &mut PromotionRecord,
    result: PromotionResult,
    now: Timestamp,
    message: &str,
) {
    record.result = result;
    record.finished_at = Some(Time(now));
    record.message = Some(message.to_owned());
}

/// Puts the record first in the history (replacing an earlier copy), keeping the newest few.
pub(crate) fn push_history(history: &mut Vec<PromotionRecord>, record: &PromotionRecord) {
    history.retain(|h| !(h.version == record.version && h.started_at == record.started_at));
    history.insert(0, record.clone());
    history.truncate(HISTORY_LIMIT);
    // The bulky parts only for the newest few: a status stays small for every lane.
    for older in history.iter_mut().skip(DETAILED_RECORDS) {
        older.changes.clear();
        if let Some(v) = older.verification.as_mut() {
            v.attempts.clear();
        }
    }
}

/// "promotion" or "rollback", for messages.
pub(crate) fn kind_word(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Promotion => "promotion",
        RecordKind::Rollback => "rollback",
        RecordKind::Reset => "reset",
    }
}

/// The first 12 characters of a commit id.
pub fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// Time from `since` to `now`; a `since` in the future (clock skew between nodes) counts as
/// no time at all, never as time elapsed.
pub(crate) fn elapsed(now: Timestamp, since: Timestamp) -> std::time::Duration {
    if since >= now {
        return std::time::Duration::ZERO;
    }
    now.duration_since(since).unsigned_abs()
}
