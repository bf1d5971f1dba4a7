//! Tables as kubectl prints them, and the cells that several views share. Pure: no I/O.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use promote_api::{Promotion, PromotionStatus};

/// What an absent value prints as.
pub const NONE: &str = "-";

/// Columns left-aligned, three spaces apart, headers upper-case; no trailing spaces.
pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let header: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i].saturating_sub(cell.chars().count()) + 3;
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A duration in kubectl's short form: `42s`, `5m`, `3h`, `2d`.
pub fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// A duration with its parts: `45s`, `2m5s`, `1h3m`.
pub fn duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{}s", s / 60, s % 60),
        _ => format!("{}h{}m", s / 3600, (s % 3600) / 60),
    }
}

/// Seconds from `t` to `now`.
pub fn since(now: Timestamp, t: &Time) -> i64 {
    now.as_second() - t.0.as_second()
}

/// A timestamp as RFC 3339, to the second.
pub fn stamp(t: &Time) -> String {
    t.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The first 7 characters of a commit.
pub fn short(commit: &str) -> &str {
    commit.get(..7).unwrap_or(commit)
}

/// `dev→prod`.
pub fn lane(p: &Promotion) -> String {
    format!(
        "{}→{}",
        p.spec.source.environment, p.spec.target.environment
    )
}

/// The source's and the target's version, as the status reports them.
pub fn versions(status: Option<&PromotionStatus>) -> (Option<&str>, Option<&str>) {
    (
        status.and_then(|s| s.source.as_ref()?.version.as_deref()),
        status.and_then(|s| s.target.as_ref()?.version.as_deref()),
    )
}

/// `No`, or what drifted: `Yes(release,prod-live)`.
pub fn drift_cell(p: &Promotion) -> String {
    let Some(drift) = p.status.as_ref().and_then(|s| s.drift.as_ref()) else {
        return NONE.into();
    };
    if !drift.drifted {
        return "No".into();
    }
    let mut what = Vec::new();
    if drift.release.drifted {
        what.push("release".to_owned());
    }
    for (env, d) in [
        (&p.spec.source.environment, &drift.source),
        (&p.spec.target.environment, &drift.target),
    ] {
        if d.git_vs_live.as_deref() == Some("OutOfSync") {
            what.push(format!("{env}-live"));
        }
        if !d.overridden_fields.is_empty() {
            what.push(format!("{env}-overridden"));
        }
    }
    if what.is_empty() {
        "Yes".into()
    } else {
        format!("Yes({})", what.join(","))
    }
}

/// `Compliant`, or which environments are not: `Mismatch(prod)`, `Unknown(dev)`.
pub fn policy_cell(p: &Promotion) -> String {
    let Some(policy) = p.status.as_ref().and_then(|s| s.policy.as_ref()) else {
        return NONE.into();
    };
    let checks = [
        (&p.spec.source.environment, policy.source.as_ref()),
        (&p.spec.target.environment, policy.target.as_ref()),
    ];
    if checks.iter().all(|(_, c)| c.is_none()) {
        return NONE.into();
    }
    let (mut mismatch, mut unknown) = (Vec::new(), Vec::new());
    for (env, check) in checks {
        match check {
            Some(c) if !c.compliant && c.self_heal.is_none() => unknown.push(env.as_str()),
            Some(c) if !c.compliant => mismatch.push(env.as_str()),
            _ => {}
        }
    }
    let mut parts = Vec::new();
    if !mismatch.is_empty() {
        parts.push(format!("Mismatch({})", mismatch.join(",")));
    }
    if !unknown.is_empty() {
        parts.push(format!("Unknown({})", unknown.join(",")));
    }
    if parts.is_empty() {
        "Compliant".into()
    } else {
        parts.join(",")
    }
}

/// The phase, or `-` before the operator reported one.
pub fn phase_cell(p: &Promotion) -> String {
    p.status
        .as_ref()
        .and_then(|s| s.phase)
        .map_or(NONE.into(), |phase| phase.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_pad_all_but_the_last_column() {
        let rows = vec![
            vec!["web".to_owned(), "dev→prod".to_owned(), "x".to_owned()],
            vec!["api-long".to_owned(), "a→b".to_owned(), String::new()],
        ];
        assert_eq!(
            render(&["NAME", "FROM→TO", "V"], &rows),
            "NAME       FROM→TO    V\nweb        dev→prod   x\napi-long   a→b\n"
        );
    }

    #[test]
    fn ages_and_durations_read_like_kubectl() {
        assert_eq!(age(-3), "0s");
        assert_eq!(age(90), "90s");
        assert_eq!(age(600), "10m");
        assert_eq!(age(3 * 3600), "3h");
        assert_eq!(age(5 * 86_400), "5d");
        assert_eq!(duration(125), "2m5s");
        assert_eq!(duration(3 * 3600 + 120), "3h2m");
        assert_eq!(short("0123456789abcdef"), "0123456");
        assert_eq!(short("abc"), "abc");
    }
}
