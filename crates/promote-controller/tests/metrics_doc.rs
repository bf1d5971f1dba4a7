//! `docs/metrics.md` names every metric the operator exports, and no other `promote_` metric.

use std::collections::BTreeSet;

use promote_controller::metrics::Metrics;

fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/metrics.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The names a query uses for each family of the rendered text: `<name>_total` for a
/// counter, `<name>` for gauges and histograms (whose series add `_bucket`, `_sum`, `_count`).
fn exported(text: &str) -> BTreeSet<(String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(name, kind)| {
            let name = match kind {
                "counter" => format!("{name}_total"),
                _ => name.to_owned(),
            };
            (name, kind.to_owned())
        })
        .collect()
}

/// Every `promote_…` word of the document.
fn named(doc: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = doc;
    while let Some(at) = rest.find("promote_") {
        let word: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        rest = &rest[at + word.len()..];
        names.insert(word);
    }
    names
}

/// A registry whose labelled families have one sample each (they render only from then on).
fn touched() -> Metrics {
    let metrics = Metrics::default();
    metrics.reconcile_error("kube");
    metrics.promotion_finished("Succeeded");
    metrics.phase_reached("healthy", 1.0);
    metrics.git_operation("push", "committed");
    metrics
}

#[test]
fn labelled_families_appear_with_their_first_sample_as_the_document_says() {
    let fresh = exported(&Metrics::default().render());
    let all = exported(&touched().render());
    assert!(!fresh.is_empty(), "a fresh registry renders nothing");
    assert!(fresh.is_subset(&all), "{fresh:?} not in {all:?}");
    let doc = doc();
    for (name, _) in &all {
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}` |")))
            .unwrap_or_else(|| panic!("docs/metrics.md has no row for {name}"));
        let said = row.contains("(appears with its first sample)");
        let late = !fresh.iter().any(|(n, _)| n == name);
        assert_eq!(
            said,
            late,
            "{name}: a fresh operator {} it, and its row must {} say \"(appears with its first sample)\"",
            if late { "does not export" } else { "exports" },
            if late { "" } else { "not" },
        );
    }
}

#[test]
fn the_document_names_every_exported_metric_and_no_other() {
    // Labelled families render only once they have a sample: touch each first.
    let text = touched().render();
    let families = exported(&text);
    let doc = doc();

    let missing: Vec<_> = families
        .iter()
        .filter(|(name, kind)| {
            !doc.lines().any(|l| {
                l.starts_with(&format!("| `{name}`")) && l.contains(&format!("| {kind} |"))
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "docs/metrics.md has no table row `| `name`… | type |` for {missing:?}; the operator exports:\n{text}"
    );

    let known: BTreeSet<String> = families
        .iter()
        .flat_map(|(name, kind)| {
            let mut names = vec![name.clone()];
            if kind == "histogram" {
                names.extend(["_bucket", "_sum", "_count"].map(|s| format!("{name}{s}")));
            }
            names
        })
        .collect();
    let unknown: Vec<_> = named(&doc)
        .into_iter()
        .filter(|n| !known.contains(n))
        .collect();
    assert!(
        unknown.is_empty(),
        "docs/metrics.md names metrics the operator does not export: {unknown:?}; it exports {known:?}"
    );
}
