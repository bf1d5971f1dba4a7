//! `history NAME`: the lane's promotions, rollbacks and resets, newest first, as a table and
//! then each one's release notes (approval note, the source commits it brought, verification
//! evidence); `-o json|yaml` prints the records themselves.

use promote_api::{Promotion, PromotionRecord};

use super::views::{self, Output};

/// The records, newest first: the last one (while it is not in the history yet), then the
/// history.
pub fn records(p: &Promotion) -> Vec<&PromotionRecord> {
    let Some(status) = p.status.as_ref() else {
        return Vec::new();
    };
    let mut records: Vec<&PromotionRecord> = Vec::new();
    if let Some(last) = &status.last_promotion
        && !status
            .history
            .iter()
            .any(|h| h.version == last.version && h.started_at == last.started_at)
    {
        records.push(last);
    }
    records.extend(&status.history);
    records
}

/// The history as `format` asks: the table and the release notes, or JSON or YAML.
pub fn render(p: &Promotion, format: Option<Output>) -> Result<String, String> {
    let records = records(p);
    match format {
        Some(Output::Json) => serde_json::to_string_pretty(&records)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string()),
        Some(Output::Yaml) => serde_yaml::to_string(&records).map_err(|e| e.to_string()),
        _ if records.is_empty() => Ok(format!(
            "promotion {} has no history yet\n",
            p.metadata.name.as_deref().unwrap_or_default()
        )),
        _ => {
            let mut out = views::history_table(p).unwrap_or_default();
            let notes: Vec<String> = records.iter().filter_map(|r| notes(r)).collect();
            if !notes.is_empty() {
                out.push_str("\nRelease notes:\n");
                out.push_str(&notes.join(""));
            }
            Ok(out)
        }
    }
}

/// One record's notes, when it has any.
fn notes(r: &PromotionRecord) -> Option<String> {
    let mut lines = Vec::new();
    if let Some(by) = &r.approved_by {
        match &r.note {
            Some(note) => lines.push(format!("approved by {by}: {note}")),
            None => lines.push(format!("approved by {by}")),
        }
    }
    if r.window_overridden {
        lines.push(
            "moved while the release windows were closed: the approval said overrideWindow"
                .to_owned(),
        );
    }
    if !r.changes.is_empty() {
        let since = r
            .previous_version
            .as_deref()
            .unwrap_or("the previous version");
        lines.push(format!("changes since {since}:"));
        for c in &r.changes {
            let short = c.commit.get(..12).unwrap_or(&c.commit);
            lines.push(format!("  {short} {} ({})", c.subject, c.author));
        }
        if r.changes_complete == Some(false) {
            lines.push("  (and earlier commits)".to_owned());
        }
    }
    if let Some(v) = &r.verification {
        lines.push(format!(
            "verification: {} answered {} of {} consecutive passing answers ({} probes)",
            v.url, v.consecutive, v.required, v.total
        ));
    }
    if lines.is_empty() {
        return None;
    }
    let mut out = format!("\n{} {:?} {:?}:\n", r.version, r.kind, r.result);
    for line in lines {
        out.push_str(&format!("  {line}\n"));
    }
    Some(out)
}
