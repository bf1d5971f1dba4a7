//! What `get` and `history` print: tables, JSON and YAML. Pure: no I/O.

use jiff::Timestamp;
use kube::ResourceExt as _;
use promote_api::Promotion;

use super::table::{
    self, NONE, age, drift_cell, duration, lane, phase_cell, policy_cell, short, since, stamp,
    versions,
};

/// How `get` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// The table with more columns: trigger, approval, pin, suspend, age, message.
    Wide,
    /// The objects as JSON (a List when several).
    Json,
    /// The objects as YAML (a List when several).
    Yaml,
}

/// The `get` table; `namespaces` adds a NAMESPACE column first (for `-A`).
pub fn get_table(items: &[Promotion], wide: bool, namespaces: bool, now: Timestamp) -> String {
    let mut headers = vec![
        "NAME",
        "FROM→TO",
        "SOURCE VERSION",
        "TARGET VERSION",
        "PHASE",
        "DRIFTED",
        "POLICY",
    ];
    if namespaces {
        headers.insert(0, "NAMESPACE");
    }
    if wide {
        headers.extend(["TRIGGER", "APPROVED", "PIN", "SUSPENDED", "AGE", "MESSAGE"]);
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|p| {
            let (source, target) = versions(p.status.as_ref());
            let mut row = vec![
                p.name_any(),
                lane(p),
                source.unwrap_or(NONE).to_owned(),
                target.unwrap_or(NONE).to_owned(),
                phase_cell(p),
                drift_cell(p),
                policy_cell(p),
            ];
            if namespaces {
                row.insert(0, p.namespace().unwrap_or_default());
            }
            if wide {
                row.extend(wide_cells(p, now));
            }
            row
        })
        .collect();
    table::render(&headers, &rows)
}

fn wide_cells(p: &Promotion, now: Timestamp) -> [String; 6] {
    let spec = &p.spec;
    [
        format!("{:?}", spec.trigger),
        spec.approval
            .as_ref()
            .map_or(NONE.into(), |a| a.version.clone()),
        spec.pin.clone().unwrap_or_else(|| NONE.into()),
        spec.suspend.to_string(),
        p.metadata
            .creation_timestamp
            .as_ref()
            .map_or(NONE.into(), |t| age(since(now, t))),
        p.status
            .as_ref()
            .and_then(|s| s.message.clone())
            .unwrap_or_default(),
    ]
}

/// The objects as JSON or YAML, without managed fields (as kubectl prints them).
pub fn serialized(items: Vec<Promotion>, single: bool, format: Output) -> Result<String, String> {
    let items: Vec<Promotion> = items
        .into_iter()
        .map(|mut p| {
            p.metadata.managed_fields = None;
            p
        })
        .collect();
    let value = match (single, items.as_slice()) {
        (true, [one]) => serde_json::to_value(one),
        _ => serde_json::to_value(&items).map(|items| {
            serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items, "metadata": {}})
        }),
    }
    .map_err(|e| e.to_string())?;
    match format {
        Output::Yaml => serde_yaml::to_string(&value).map_err(|e| e.to_string()),
        _ => serde_json::to_string_pretty(&value)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string()),
    }
}

/// `status.history`, newest first, with the promotion in flight on top when the history
/// does not hold it yet.
pub fn history_table(p: &Promotion) -> Option<String> {
    let records = super::history::records(p);
    if records.is_empty() {
        return None;
    }
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            let took = match (&r.started_at, &r.finished_at) {
                (Some(start), Some(end)) => duration(since(end.0, start)),
                _ => NONE.into(),
            };
            vec![
                r.started_at.as_ref().map_or(NONE.into(), stamp),
                format!("{:?}", r.kind),
                r.version.clone(),
                r.previous_version.clone().unwrap_or_else(|| NONE.into()),
                format!("{:?}", r.result),
                r.approved_by.clone().unwrap_or_else(|| NONE.into()),
                r.commit.as_deref().map_or(NONE, short).to_owned(),
                took,
                r.message.clone().unwrap_or_default(),
            ]
        })
        .collect();
    Some(table::render(
        &[
            "STARTED",
            "KIND",
            "VERSION",
            "PREVIOUS",
            "RESULT",
            "APPROVED BY",
            "COMMIT",
            "TOOK",
            "MESSAGE",
        ],
        &rows,
    ))
}
