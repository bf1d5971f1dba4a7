//! What `describe` prints: versions, drift, policy, release windows, the last promotion,
//! conditions, and what to do next. Pure: no I/O.

use std::fmt::Write as _;

use jiff::Timestamp;
use kube::ResourceExt as _;
use promote_api::conditions::types;
use promote_api::{DifferenceKind, EnvironmentStatus, Phase, Promotion, PromotionRecord, Trigger};

use super::table::{self, NONE, age, since, stamp};

/// How commands are spelled in hints: `-n` only when the namespace is not the default.
#[derive(Debug, Clone)]
pub struct Hints {
    /// The namespace of the object.
    pub namespace: String,
    /// The context's namespace.
    pub default_namespace: String,
}

impl Hints {
    /// `kubectl promote VERB NAME ARGS [-n NS]`.
    pub fn command(&self, verb: &str, name: &str, args: &[&str]) -> String {
        let mut cmd = format!("kubectl promote {verb} {name}");
        for a in args {
            cmd.push(' ');
            cmd.push_str(a);
        }
        if self.namespace != self.default_namespace {
            let _ = write!(cmd, " -n {}", self.namespace);
        }
        cmd
    }
}

/// The whole description.
pub fn describe(p: &Promotion, now: Timestamp, hints: &Hints) -> String {
    let spec = &p.spec;
    let status = p.status.clone().unwrap_or_default();
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "Name:         {}", p.name_any());
    let _ = writeln!(w, "Namespace:    {}", p.namespace().unwrap_or_default());
    let _ = writeln!(
        w,
        "Lane:         {} ({})",
        table::lane(p),
        spec.fields.join(", ")
    );
    let _ = writeln!(
        w,
        "Repository:   {} ({})",
        spec.repository.url, spec.repository.branch
    );
    let _ = writeln!(w, "Trigger:      {:?}", spec.trigger);
    let _ = writeln!(w, "Pin:          {}", spec.pin.as_deref().unwrap_or(NONE));
    let _ = writeln!(w, "Suspended:    {}", spec.suspend);
    let _ = writeln!(w, "Phase:        {}", table::phase_cell(p));
    let _ = writeln!(
        w,
        "Message:      {}",
        status.message.as_deref().unwrap_or(NONE)
    );

    let _ = writeln!(w, "Versions:");
    for (role, env, observed) in [
        ("source", &spec.source.environment, status.source.as_ref()),
        ("target", &spec.target.environment, status.target.as_ref()),
    ] {
        let _ = writeln!(w, "  {env} ({role}): {}", environment(observed));
    }
    if spec.fields.len() > 1 {
        fields(w, p);
    }
    drift(w, p);
    policy(w, p);
    parity(w, p);
    windows(w, p);
    approval(w, p);
    if !status.rejected_versions.is_empty() {
        let _ = writeln!(w, "Rejected:     {}", status.rejected_versions.join(", "));
    }
    let _ = writeln!(w, "Last promotion:");
    match &status.last_promotion {
        Some(r) => record(w, r),
        None => {
            let _ = writeln!(w, "  none");
        }
    }
    let _ = writeln!(w, "Conditions:");
    if status.conditions.is_empty() {
        let _ = writeln!(w, "  none");
    } else {
        let rows: Vec<Vec<String>> = status
            .conditions
            .iter()
            .map(|c| {
                vec![
                    c.type_.clone(),
                    c.status.clone(),
                    c.reason.clone(),
                    age(since(now, &c.last_transition_time)),
                    c.message.clone(),
                ]
            })
            .collect();
        let text = table::render(&["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"], &rows);
        for line in text.lines() {
            let _ = writeln!(w, "  {line}");
        }
    }
    let _ = writeln!(w, "Next:");
    for step in next_steps(p, hints) {
        let _ = writeln!(w, "  {step}");
    }
    out
}

fn environment(e: Option<&EnvironmentStatus>) -> String {
    let Some(e) = e else {
        return "not observed yet".into();
    };
    let mut parts = vec![e.version.clone().unwrap_or_else(|| NONE.into())];
    if let Some(rev) = &e.revision {
        parts.push(format!("at {}", table::short(rev)));
    }
    if e.sync.is_some() || e.health.is_some() {
        parts.push(format!(
            "Argo CD {}/{}",
            e.sync.as_deref().unwrap_or("Unknown"),
            e.health.as_deref().unwrap_or("Unknown")
        ));
    }
    if !e.live_images.is_empty() {
        parts.push(format!("live {}", e.live_images.join(",")));
    }
    parts.join(", ")
}

fn fields(w: &mut String, p: &Promotion) {
    let status = p.status.clone().unwrap_or_default();
    let value = |e: Option<&EnvironmentStatus>, path: &str| {
        e.and_then(|e| e.fields.iter().find(|f| f.path == path))
            .and_then(|f| f.value.clone())
            .unwrap_or_else(|| NONE.into())
    };
    let _ = writeln!(w, "Fields:");
    for path in &p.spec.fields {
        let _ = writeln!(
            w,
            "  {path}: {} {}, {} {}",
            p.spec.source.environment,
            value(status.source.as_ref(), path),
            p.spec.target.environment,
            value(status.target.as_ref(), path)
        );
    }
}

fn drift(w: &mut String, p: &Promotion) {
    let _ = writeln!(w, "Drift:        {}", table::drift_cell(p));
    let Some(d) = p.status.as_ref().and_then(|s| s.drift.as_ref()) else {
        return;
    };
    if let Some(m) = &d.release.message {
        let _ = writeln!(w, "  release: {m}");
    }
    for (env, e) in [
        (&p.spec.source.environment, &d.source),
        (&p.spec.target.environment, &d.target),
    ] {
        let mut line = format!(
            "  {env}: git vs live {}",
            e.git_vs_live.as_deref().unwrap_or("Unknown")
        );
        if let Some(r) = &e.reason {
            let _ = write!(line, " ({r})");
        }
        if !e.overridden_fields.is_empty() {
            let _ = write!(
                line,
                "; overridden by helm.parameters: {}",
                e.overridden_fields.join(", ")
            );
        }
        let _ = writeln!(w, "{line}");
    }
}

fn policy(w: &mut String, p: &Promotion) {
    let _ = writeln!(w, "Policy:       {}", table::policy_cell(p));
    let Some(policy) = p.status.as_ref().and_then(|s| s.policy.as_ref()) else {
        return;
    };
    let on = |b: bool| if b { "on" } else { "off" };
    for (env, check) in [
        (&p.spec.source.environment, &policy.source),
        (&p.spec.target.environment, &policy.target),
    ] {
        let Some(c) = check else { continue };
        let mut line = format!(
            "  {env}: self-heal {}, expected {}",
            c.self_heal.map_or("unknown", on),
            on(c.expected_self_heal)
        );
        if let Some(app) = &c.application {
            let _ = write!(line, " ({app})");
        }
        if let Some(m) = c.message.as_ref().filter(|_| !c.compliant) {
            let _ = write!(line, ": {m}");
        }
        let _ = writeln!(w, "{line}");
    }
}

/// Most parity differences listed; `kubectl get -o yaml` shows them all.
const PARITY_LINES: usize = 10;

/// How the configuration files compare, with the first differences.
fn parity(w: &mut String, p: &Promotion) {
    if p.spec.source.config_file.is_none() && p.spec.target.config_file.is_none() {
        return;
    }
    let Some(parity) = p.status.as_ref().and_then(|s| s.parity.as_ref()) else {
        let _ = writeln!(w, "Parity:       not compared yet");
        return;
    };
    let (src, dst) = (&p.spec.source.environment, &p.spec.target.environment);
    let head = match (&parity.message, parity.compliant) {
        (Some(m), _) => format!("unknown: {m}"),
        (None, true) => format!("compliant ({} allowed differences)", parity.allowed),
        (None, false) => format!(
            "{} differences outside spec.parity.allow ({} allowed)",
            parity.total, parity.allowed
        ),
    };
    let _ = writeln!(w, "Parity:       {head}");
    let shown = |v: &Option<String>| v.clone().unwrap_or_default();
    for d in parity.differences.iter().take(PARITY_LINES) {
        let what = match (d.kind, d.hidden) {
            (_, true) => "differs (values hidden)".to_owned(),
            (DifferenceKind::OnlyInSource, false) => format!("only in {src}: {}", shown(&d.source)),
            (DifferenceKind::OnlyInTarget, false) => format!("only in {dst}: {}", shown(&d.target)),
            (DifferenceKind::Different, false) => {
                format!("{src} {}, {dst} {}", shown(&d.source), shown(&d.target))
            }
        };
        let _ = writeln!(w, "  {}: {what}", d.path);
    }
    let more = (parity.total as usize).saturating_sub(PARITY_LINES.min(parity.differences.len()));
    if more > 0 {
        let _ = writeln!(w, "  ... and {more} more (status.parity.differences)");
    }
}

/// The release windows and whether a promotion may move now.
fn windows(w: &mut String, p: &Promotion) {
    if p.spec.windows.is_empty() {
        return;
    }
    let state = p.status.as_ref().and_then(|s| s.window.as_ref());
    let line = match state {
        None => "not evaluated yet".to_owned(),
        Some(s) => {
            let mut line = if s.open { "open" } else { "closed" }.to_owned();
            match (s.open, &s.closes_at, &s.next_open) {
                (true, Some(t), _) => {
                    let _ = write!(line, " until {}", stamp(t));
                }
                (false, _, Some(t)) => {
                    let _ = write!(line, ", opens at {}", stamp(t));
                }
                (false, _, None) => line.push_str(", does not open within a year"),
                _ => {}
            }
            if let Some(by) = &s.window {
                let _ = write!(line, " ({by})");
            }
            line
        }
    };
    let _ = writeln!(w, "Windows:      {line}");
    for window in &p.spec.windows {
        let _ = writeln!(
            w,
            "  {} {} for {} ({})",
            window.kind.as_str(),
            window.schedule,
            window.duration,
            window.time_zone.as_deref().unwrap_or("UTC")
        );
    }
}

fn approval(w: &mut String, p: &Promotion) {
    let Some(a) = &p.spec.approval else {
        let _ = writeln!(w, "Approval:     none");
        return;
    };
    let mut line = format!("Approval:     {}", a.version);
    if let Some(by) = &a.approved_by {
        let _ = write!(line, " by {by}");
    }
    if let Some(at) = &a.approved_at {
        let _ = write!(line, " at {}", stamp(at));
    }
    let seen = p.status.as_ref().and_then(|s| s.approval.as_ref());
    if let Some(seen) = seen.filter(|s| s.version == a.version) {
        let _ = write!(
            line,
            " (seen by the operator at {})",
            stamp(&seen.observed_at)
        );
    }
    if a.override_window {
        line.push_str(", overriding closed release windows once");
    }
    let _ = writeln!(w, "{line}");
    if let Some(note) = &a.note {
        let _ = writeln!(w, "  note: {note}");
    }
}

fn record(w: &mut String, r: &PromotionRecord) {
    let mut line = format!(
        "  {:?} {} (from {}): {:?}",
        r.kind,
        r.version,
        r.previous_version.as_deref().unwrap_or(NONE),
        r.result
    );
    if let Some(c) = &r.commit {
        let _ = write!(line, ", commit {}", table::short(c));
    }
    if let Some(by) = &r.approved_by {
        let _ = write!(line, ", approved by {by}");
    }
    if r.window_overridden {
        line.push_str(", moved while the release windows were closed (overrideWindow)");
    }
    let _ = writeln!(w, "{line}");
    let times: Vec<String> = [
        ("started", &r.started_at),
        ("committed", &r.committed_at),
        ("synced", &r.synced_at),
        ("healthy", &r.healthy_at),
        ("finished", &r.finished_at),
    ]
    .into_iter()
    .filter_map(|(what, t)| t.as_ref().map(|t| format!("{what} {}", stamp(t))))
    .collect();
    if !times.is_empty() {
        let _ = writeln!(w, "  {}", times.join(", "));
    }
    if let Some(m) = &r.message {
        let _ = writeln!(w, "  {m}");
    }
}

fn conflicted(status: &promote_api::PromotionStatus) -> bool {
    status
        .last_promotion
        .as_ref()
        .is_some_and(|r| r.result == promote_api::PromotionResult::Conflict)
}

/// What a person can do now, most useful first, each with the command to run.
pub fn next_steps(p: &Promotion, hints: &Hints) -> Vec<String> {
    let name = p.name_any();
    let spec = &p.spec;
    let cmd = |verb: &str, args: &[&str]| hints.command(verb, &name, args);
    let Some(status) = p.status.as_ref().filter(|s| s.phase.is_some()) else {
        return vec![
            "wait: the operator has not reported on this Promotion yet (is it running?)".into(),
        ];
    };
    let mut steps = Vec::new();
    if let Some(stalled) = status
        .conditions
        .iter()
        .find(|c| c.type_ == types::STALLED && c.status == "True")
    {
        steps.push(format!("fix the spec: {}", stalled.message));
    }
    if spec.suspend {
        steps.push(format!("resume the lane: {}", cmd("resume", &[])));
        return steps;
    }
    let (source, target) = table::versions(Some(status));
    if let Some(pin) = &spec.pin {
        steps.push(format!(
            "{} is pinned at {pin}; to follow {} again: {}",
            spec.target.environment,
            spec.source.environment,
            cmd("unpin", &[])
        ));
        return steps;
    }
    let phase = status.phase.unwrap_or(Phase::InSync);
    match (phase, source) {
        (Phase::Promoting | Phase::Syncing | Phase::Verifying, _) => {
            steps.push("wait: a promotion is in flight".into());
        }
        (_, Some(v)) if status.rejected_versions.iter().any(|r| r == v) && source != target => {
            steps.push(format!(
                "{v} is rejected: ship a new version, or force it: {}",
                cmd("pin", &[v])
            ));
        }
        // After a conflict the lane waits for a new approval of the same version.
        (Phase::AwaitingApproval | Phase::Failed, Some(v))
            if spec.trigger == Trigger::Manual
                && source != target
                && (phase == Phase::AwaitingApproval || conflicted(status)) =>
        {
            steps.push(format!("approve {v}: {}", cmd("approve", &[v])));
        }
        (Phase::Gated, _) => steps.push(format!(
            "wait: {}",
            status
                .message
                .as_deref()
                .unwrap_or("a gate holds the version")
        )),
        (Phase::Failed, _) => steps.push(format!(
            "look into the failure: {}",
            status.message.as_deref().unwrap_or("see the conditions")
        )),
        _ => {}
    }
    let policy = status.policy.iter().flat_map(|p| [&p.source, &p.target]);
    for check in policy.flatten().filter(|c| !c.compliant) {
        if let Some(m) = &check.message {
            steps.push(format!("fix the self-heal policy: {m}"));
        }
    }
    if steps.is_empty() {
        steps.push("nothing: the lane is where its spec says".into());
    }
    steps
}

#[cfg(test)]
mod tests {
    use promote_api::{PromotionSpec, PromotionStatus};
    use serde_json::json;

    use super::*;

    fn lane(spec: serde_json::Value, status: Option<serde_json::Value>) -> Promotion {
        let mut base = json!({
            "repository": {"url": "https://git.example/r.git"},
            "source": {"environment": "dev", "valuesFile": "dev.yaml"},
            "target": {"environment": "prod", "valuesFile": "prod.yaml"},
        });
        if let (Some(b), Some(extra)) = (base.as_object_mut(), spec.as_object()) {
            b.extend(extra.clone());
        }
        let spec: PromotionSpec = serde_json::from_value(base).expect("spec");
        let mut p = Promotion::new("web", spec);
        p.status = status.map(|s| serde_json::from_value::<PromotionStatus>(s).expect("status"));
        p
    }

    fn versions(phase: &str, source: &str, target: &str) -> serde_json::Value {
        json!({"phase": phase, "message": "m", "source": {"version": source}, "target": {"version": target}})
    }

    #[test]
    fn parity_shows_each_difference_and_never_a_hidden_value() {
        let files = json!({
            "source": {"environment": "dev", "valuesFile": "dev.yaml", "configFile": "dev-config.yaml"},
            "target": {"environment": "prod", "valuesFile": "prod.yaml", "configFile": "prod-config.yaml"},
        });
        let p = lane(
            files.clone(),
            Some(json!({"parity": {
            "compliant": false, "total": 12, "allowed": 3,
            "differences": [
                {"path": "service.port", "kind": "Different", "source": "3000", "target": "80"},
                {"path": "auth", "kind": "OnlyInSource", "source": "{token: (hidden)}"},
                {"path": "db.password", "kind": "Different", "hidden": true},
            ]}})),
        );
        let hints = Hints {
            namespace: "apps".into(),
            default_namespace: "apps".into(),
        };
        let out = describe(&p, Timestamp::UNIX_EPOCH, &hints);
        assert!(out.contains("Parity:       12 differences outside spec.parity.allow (3 allowed)\n  service.port: dev 3000, prod 80\n  auth: only in dev: {token: (hidden)}\n  db.password: differs (values hidden)\n  ... and 9 more (status.parity.differences)\n"), "{out}");
        let compliant = lane(
            files,
            Some(json!({"parity": {"compliant": true, "allowed": 2}})),
        );
        let out = describe(&compliant, Timestamp::UNIX_EPOCH, &hints);
        assert!(
            out.contains("Parity:       compliant (2 allowed differences)\n"),
            "{out}"
        );
        let none = lane(json!({}), None);
        assert!(!describe(&none, Timestamp::UNIX_EPOCH, &hints).contains("Parity:"));
    }

    #[test]
    fn next_steps_name_the_command_to_run() {
        let hints = Hints {
            namespace: "apps".into(),
            default_namespace: "apps".into(),
        };
        let other = Hints {
            namespace: "apps".into(),
            default_namespace: "default".into(),
        };
        let awaiting = versions("AwaitingApproval", "v2", "v1");
        let cases = [
            (
                json!({}),
                None,
                &hints,
                "wait: the operator has not reported",
            ),
            (
                json!({}),
                Some(awaiting.clone()),
                &hints,
                "approve v2: kubectl promote approve web v2",
            ),
            (
                json!({}),
                Some(awaiting.clone()),
                &other,
                "approve v2: kubectl promote approve web v2 -n apps",
            ),
            (
                json!({"suspend": true}),
                Some(awaiting.clone()),
                &hints,
                "resume the lane: kubectl promote resume web",
            ),
            (
                json!({"pin": "v0"}),
                Some(awaiting),
                &hints,
                "prod is pinned at v0; to follow dev again: kubectl promote unpin web",
            ),
            (
                json!({}),
                Some(versions("Verifying", "v2", "v2")),
                &hints,
                "wait: a promotion is in flight",
            ),
            (
                json!({}),
                Some(versions("Gated", "v2", "v1")),
                &hints,
                "wait: m",
            ),
            (
                json!({}),
                Some(versions("Failed", "v2", "v1")),
                &hints,
                "look into the failure: m",
            ),
            (
                json!({}),
                Some(
                    json!({"phase": "Failed", "message": "m", "source": {"version": "v2"}, "target": {"version": "v1"},
                            "lastPromotion": {"version": "v2", "result": "Conflict"}}),
                ),
                &hints,
                "approve v2: kubectl promote approve web v2",
            ),
            (
                json!({}),
                Some(versions("InSync", "v2", "v2")),
                &hints,
                "nothing: the lane is where its spec says",
            ),
            (
                json!({}),
                Some(
                    json!({"phase": "Gated", "source": {"version": "v2"}, "target": {"version": "v1"}, "rejectedVersions": ["v2"]}),
                ),
                &hints,
                "v2 is rejected: ship a new version, or force it: kubectl promote pin web v2",
            ),
        ];
        for (spec, status, hints, expected) in cases {
            let steps = next_steps(&lane(spec, status), hints);
            assert!(steps[0].starts_with(expected), "{steps:?} vs {expected}");
        }
    }
}
