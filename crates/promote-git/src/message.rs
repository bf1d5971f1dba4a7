//! Commit messages that say what moved, and the trailers that let Promote find its own commits.
//!
//! The `TRAILER_*` constants are the only definition of the trailer names: the operator and
//! the CLI use them from this crate rather than spelling the names again.

/// Trailer naming the lane (`namespace/name`); it starts each promotion's trailer group.
pub const TRAILER_PROMOTION: &str = "Promotion";
/// Trailer with the promoted version (the first field's new value).
pub const TRAILER_VERSION: &str = "Promote-Version";
/// Trailer with the target's previous version.
pub const TRAILER_PREVIOUS: &str = "Promote-Previous";
/// Trailer with the source values file (or the label of given values, such as `pin`).
pub const TRAILER_SOURCE: &str = "Promote-Source";
/// Trailer with the target values file.
pub const TRAILER_TARGET: &str = "Promote-Target";
/// Trailer with who approved the promotion; automatic promotions have none.
pub const TRAILER_APPROVED_BY: &str = "Promote-Approved-By";

/// What one promotion moved, as the message describes it.
#[derive(Debug, Clone)]
pub(crate) struct Moved {
    pub promotion: String,
    pub app: String,
    pub source: String,
    pub source_env: String,
    pub target: String,
    pub target_env: String,
    /// (target field, from, to)
    pub fields: Vec<(String, String, String)>,
    pub approved_by: Option<String>,
    pub note: Option<String>,
}

/// One line, no control characters: trailer values and subjects must not break the format.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// Free text for the body. A line starting with `---` would make git treat the rest as a patch
/// and hide the trailers, so such lines are indented.
fn body_text(s: &str) -> String {
    s.trim()
        .lines()
        .map(|l| {
            if l.starts_with("---") {
                format!(" {l}")
            } else {
                l.trim_end().to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Renders the message for the promotions that share one commit.
pub(crate) fn render(moved: &[Moved]) -> String {
    let mut out = String::new();
    let envs = |m: &Moved| format!("{} -> {}", one_line(&m.source_env), one_line(&m.target_env));
    match moved {
        [m] => {
            let (from, to) = m
                .fields
                .first()
                .map(|(_, f, t)| (f.as_str(), t.as_str()))
                .unwrap_or_default();
            out.push_str(&format!(
                "promote {}: {} -> {} ({})\n",
                one_line(&m.app),
                one_line(from),
                one_line(to),
                envs(m)
            ));
        }
        many => {
            let pairs: std::collections::BTreeSet<String> = many.iter().map(envs).collect();
            let scope = if pairs.len() == 1 {
                format!(
                    " ({})",
                    pairs.iter().next().map(String::as_str).unwrap_or("")
                )
            } else {
                String::new()
            };
            out.push_str(&format!("promote {} apps{scope}\n", many.len()));
        }
    }
    for m in moved {
        out.push_str(&format!(
            "\n{} from {} to {}:\n",
            one_line(&m.app),
            one_line(&m.source_env),
            one_line(&m.target_env)
        ));
        for (field, from, to) in &m.fields {
            out.push_str(&format!(
                "  {}: {} -> {}\n",
                one_line(field),
                one_line(from),
                one_line(to)
            ));
        }
        out.push_str(&format!(
            "  source: {}\n  target: {}\n",
            one_line(&m.source),
            one_line(&m.target)
        ));
        match &m.approved_by {
            Some(who) => out.push_str(&format!("  approved by: {}\n", one_line(who))),
            None => out.push_str("  approved by: nobody (automatic promotion)\n"),
        }
        if let Some(note) = m.note.as_deref().filter(|n| !n.trim().is_empty()) {
            out.push_str(&format!("\n{}\n", body_text(note)));
        }
    }
    out.push('\n');
    for m in moved {
        let (from, to) = m
            .fields
            .first()
            .map(|(_, f, t)| (f.as_str(), t.as_str()))
            .unwrap_or_default();
        out.push_str(&format!(
            "{TRAILER_PROMOTION}: {}\n",
            one_line(&m.promotion)
        ));
        out.push_str(&format!("{TRAILER_VERSION}: {}\n", one_line(to)));
        out.push_str(&format!("{TRAILER_PREVIOUS}: {}\n", one_line(from)));
        out.push_str(&format!("{TRAILER_SOURCE}: {}\n", one_line(&m.source)));
        out.push_str(&format!("{TRAILER_TARGET}: {}\n", one_line(&m.target)));
        if let Some(who) = &m.approved_by {
            out.push_str(&format!("{TRAILER_APPROVED_BY}: {}\n", one_line(who)));
        }
    }
    out
}

/// The message's trailers split into groups, one per promotion: a group starts at each
/// `Promotion:` trailer (trailers before the first one form their own group).
pub fn trailer_groups(message: &str) -> Vec<Vec<(String, String)>> {
    let Ok(trailers) = git2::message_trailers_strs(message) else {
        return Vec::new();
    };
    let mut groups: Vec<Vec<(String, String)>> = Vec::new();
    for (key, value) in trailers.iter() {
        if key.eq_ignore_ascii_case(TRAILER_PROMOTION) || groups.is_empty() {
            groups.push(Vec::new());
        }
        if let Some(g) = groups.last_mut() {
            g.push((key.to_string(), value.trim().to_string()));
        }
    }
    groups
}

/// Trailers that must all appear in one promotion's group of a commit message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrailerQuery {
    pairs: Vec<(String, String)>,
}

impl TrailerQuery {
    /// An empty query (matches any message with trailers).
    pub fn new() -> Self {
        Self::default()
    }

    /// Requires `key: value` (key compared case-insensitively, value exactly).
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.pairs.push((key.into(), one_line(&value.into())));
        self
    }

    /// The group of `message` that matches, if any.
    pub fn find_in(&self, message: &str) -> Option<Vec<(String, String)>> {
        trailer_groups(message).into_iter().find(|group| {
            self.pairs.iter().all(|(k, v)| {
                group
                    .iter()
                    .any(|(gk, gv)| gk.eq_ignore_ascii_case(k) && gv == v)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moved(promotion: &str, app: &str, from: &str, to: &str) -> Moved {
        Moved {
            promotion: promotion.into(),
            app: app.into(),
            source: format!("deploy/env/release-dev/{app}.yaml"),
            source_env: "dev".into(),
            target: format!("deploy/env/release-prod/{app}.yaml"),
            target_env: "prod".into(),
            fields: vec![("image.tag".into(), from.into(), to.into())],
            approved_by: Some("oncall-lead".into()),
            note: None,
        }
    }

    #[test]
    fn single_promotion_message_reads_well_and_parses() {
        let msg = render(&[moved(
            "web/synestra-io-prod",
            "synestra-io",
            "sha-1111",
            "sha-4f2e1c0",
        )]);
        assert!(
            msg.starts_with("promote synestra-io: sha-1111 -> sha-4f2e1c0 (dev -> prod)\n"),
            "{msg}"
        );
        assert!(msg.contains("approved by: oncall-lead"));
        let found = TrailerQuery::new()
            .with(TRAILER_PROMOTION, "web/synestra-io-prod")
            .with(TRAILER_VERSION, "sha-4f2e1c0")
            .find_in(&msg)
            .expect("trailers found");
        assert!(found.contains(&(TRAILER_PREVIOUS.to_string(), "sha-1111".to_string())));
        assert!(
            TrailerQuery::new()
                .with(TRAILER_VERSION, "sha-9")
                .find_in(&msg)
                .is_none()
        );
    }

    #[test]
    fn trailer_names_are_the_ones_written() {
        // Pushed commits carry these names; renaming one would stop them from being found.
        let msg = render(&[moved("web/a", "a", "1", "2")]);
        let groups = trailer_groups(&msg);
        let keys: Vec<&str> = groups[0].iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "Promotion",
                "Promote-Version",
                "Promote-Previous",
                "Promote-Source",
                "Promote-Target",
                "Promote-Approved-By",
            ]
        );
        assert_eq!(
            keys,
            [
                TRAILER_PROMOTION,
                TRAILER_VERSION,
                TRAILER_PREVIOUS,
                TRAILER_SOURCE,
                TRAILER_TARGET,
                TRAILER_APPROVED_BY,
            ]
        );
    }

    #[test]
    fn batched_trailers_stay_grouped() {
        let msg = render(&[moved("web/a", "a", "1", "2"), moved("web/b", "b", "3", "4")]);
        assert!(msg.starts_with("promote 2 apps (dev -> prod)\n"), "{msg}");
        assert_eq!(trailer_groups(&msg).len(), 2);
        assert!(
            TrailerQuery::new()
                .with(TRAILER_PROMOTION, "web/b")
                .with(TRAILER_VERSION, "4")
                .find_in(&msg)
                .is_some()
        );
        // Values from different promotions must not combine into a false match.
        assert!(
            TrailerQuery::new()
                .with(TRAILER_PROMOTION, "web/a")
                .with(TRAILER_VERSION, "4")
                .find_in(&msg)
                .is_none()
        );
    }

    #[test]
    fn injected_newlines_and_patch_markers_cannot_forge_or_hide_trailers() {
        let mut m = moved("web/a", "a\nPromotion: web/evil", "1", "2");
        m.note = Some("see ticket\n---\nPromotion: web/evil".into());
        m.approved_by = Some("x\nPromote-Version: 9".into());
        let msg = render(&[m]);
        assert!(
            TrailerQuery::new()
                .with(TRAILER_PROMOTION, "web/a")
                .with(TRAILER_VERSION, "2")
                .find_in(&msg)
                .is_some()
        );
        assert!(
            TrailerQuery::new()
                .with(TRAILER_PROMOTION, "web/evil")
                .find_in(&msg)
                .is_none()
        );
        assert!(
            TrailerQuery::new()
                .with(TRAILER_VERSION, "9")
                .find_in(&msg)
                .is_none()
        );
    }
}
