//! The walk through one Promotion: applied, a CI release, a drift finding while the release
//! waits for approval, the approval, the promotion with its phases, the commit, then a policy
//! finding.

use anyhow::{Context as _, Result, bail};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use promote_api::{Phase, PromotionStatus, conditions};
use serde_json::json;
use tokio::process::Command;

use crate::lab::{DEV_RELEASE, IMAGE, Lab, PROD_RELEASE, PROMOTION, plugin, release_file};
use crate::narrate::{Narrator, shell_line};
use crate::phases::PhaseWatch;

/// The version CI releases to dev during the demo.
const NEXT: &str = "sha-2";
/// The live image of the hot-reload session on dev.
const HOT_IMAGE: &str = "okteto-dev";

/// Every step after the world is up.
pub async fn walk(n: &mut Narrator, lab: &Lab) -> Result<()> {
    apply_promotion(n, lab).await?;
    let ci = release(n, lab).await?;
    drift(n, lab).await?;
    let mut phases = PhaseWatch::start(lab.promotions()).await?;
    approve(n, lab).await?;
    promote(n, lab, &mut phases).await?;
    commit(n, lab, &ci).await?;
    policy(n, lab).await
}

/// The lane as a user writes it: dev's release file to prod's, approved by hand.
fn manifest(lab: &Lab) -> String {
    let (url, ns) = (&lab.url, lab.ns());
    format!(
        "apiVersion: promote.dev/v1alpha1
kind: Promotion
metadata:
  name: {PROMOTION}
spec:
  repository:
    url: {url}
    branch: main
    credentials: {{secretName: web-core-git}}
  source:
    environment: dev
    valuesFile: {DEV_RELEASE}
    application: {{name: web-dev, namespace: {ns}}}
    expectedSelfHeal: false
  target:
    environment: prod
    valuesFile: {PROD_RELEASE}
    application: {{name: web-prod, namespace: {ns}}}
    expectedSelfHeal: true
  fields: [image.tag]
  trigger: Manual
"
    )
}

async fn get_promotions(n: &Narrator, lab: &Lab) -> Result<String> {
    n.run(
        "kubectl",
        lab.kubectl(),
        &["get", "promotions", "-n", lab.ns()],
    )
    .await
}

async fn get_applications(n: &Narrator, lab: &Lab) -> Result<String> {
    n.run(
        "kubectl",
        lab.kubectl(),
        &["get", "applications", "-n", lab.ns()],
    )
    .await
}

/// `kubectl get promotion web-prod -o jsonpath=...`, printed like any command.
async fn jsonpath(n: &Narrator, lab: &Lab, path: &str) -> Result<String> {
    let arg = format!("jsonpath={path}");
    n.run(
        "kubectl",
        lab.kubectl(),
        &["get", "promotion", PROMOTION, "-n", lab.ns(), "-o", &arg],
    )
    .await
}

async fn apply_promotion(n: &mut Narrator, lab: &Lab) -> Result<()> {
    n.step("A Promotion: the dev -> prod lane of web");
    let text = manifest(lab);
    std::fs::write(lab.work.path().join("web-prod.yaml"), &text)
        .context("writing web-prod.yaml")?;
    n.say("web-prod.yaml:");
    n.show(&text);
    let mut cmd = lab.kubectl();
    cmd.current_dir(lab.work.path());
    n.run(
        "kubectl",
        cmd,
        &["apply", "-n", lab.ns(), "-f", "web-prod.yaml"],
    )
    .await?;
    lab.wait("the lane is InSync", |s| s.phase == Some(Phase::InSync))
        .await?;
    n.say("The operator read both release files and both Applications: prod runs dev's version.");
    get_promotions(n, lab).await?;
    Ok(())
}

/// CI's commit of a new dev tag; returns its id.
async fn release(n: &mut Narrator, lab: &Lab) -> Result<String> {
    n.step(&format!("CI releases {NEXT} to dev"));
    let ci = tokio::task::block_in_place(|| {
        lab.repo.commit_files(
            "main",
            &[(DEV_RELEASE, &release_file(NEXT, "set by CI"))],
            &format!("ci: release {NEXT}"),
        )
    })
    .context("CI's commit")?;
    n.say(&format!(
        "CI built {NEXT} and committed it to {DEV_RELEASE} ({}).\nArgo CD syncs dev to it:",
        short(&ci)
    ));
    lab.wait_running(&lab.dev, NEXT).await?;
    get_applications(n, lab).await?;
    lab.wait("the lane waits for an approval", |s| {
        s.phase == Some(Phase::AwaitingApproval)
    })
    .await?;
    n.say("The lane's trigger is Manual, so the new version waits for a person:");
    get_promotions(n, lab).await?;
    n.say("The status message says what to run:");
    jsonpath(n, lab, "{.status.message}").await?;
    Ok(ci)
}

async fn approve(n: &mut Narrator, lab: &Lab) -> Result<()> {
    n.step(&format!("Approving {NEXT}"));
    let ns = lab.ns();
    match plugin(lab.env.control_plane) {
        Some((path, cmd)) => {
            n.say(&format!(
                "With the kubectl plugin (kubectl runs kubectl-promote from PATH as `kubectl promote`;\nhere {}):",
                path.display()
            ));
            let args = [
                "approve",
                PROMOTION,
                NEXT,
                "-n",
                ns,
                "--note",
                "fixes login",
            ];
            let shown = shell_line("kubectl", &[&["promote"], &args[..]].concat());
            n.run_shown(&shown, cmd, &args).await?;
        }
        None => {
            n.say(&format!(
                "The kubectl plugin kubectl-promote is not built (cargo build -p kubectl-promote builds it),\nso the approval is set with a merge patch, which the operator takes the same way as\n`kubectl promote approve {PROMOTION} {NEXT}`:"
            ));
            let patch = json!({"spec": {"approval": {
                "version": NEXT, "approvedBy": "oncall-lead", "note": "fixes login"}}})
            .to_string();
            let args = [
                "patch",
                "promotion",
                PROMOTION,
                "-n",
                ns,
                "--type",
                "merge",
                "-p",
                &patch,
            ];
            n.run("kubectl", lab.kubectl(), &args).await?;
        }
    }
    n.say("The approval, as it stands in the spec:");
    jsonpath(n, lab, "{.spec.approval}").await?;
    Ok(())
}

async fn promote(n: &mut Narrator, lab: &Lab, phases: &mut PhaseWatch) -> Result<()> {
    n.step("The promotion: Promoting -> Syncing -> Verifying -> Promoted");
    n.say("The operator commits the approved version to prod's release file, Argo CD syncs prod\nto that commit, and the operator verifies prod synced and healthy. Each phase as the\noperator writes it (a watch on the Promotion):");
    let s = phases.until(n, Phase::Promoted).await?;
    let record = s
        .last_promotion
        .as_ref()
        .context("status.lastPromotion is missing")?;
    let at = |t: &Option<Time>| t.as_ref().map(|t| t.0.to_string()).unwrap_or("-".into());
    n.say("status.lastPromotion:");
    n.show(&format!(
        "version {} (was {}), approved by {}\ncommitted {}, synced {}, healthy {}",
        record.version,
        record.previous_version.as_deref().unwrap_or("-"),
        record.approved_by.as_deref().unwrap_or("-"),
        at(&record.committed_at),
        at(&record.synced_at),
        at(&record.healthy_at),
    ));
    lab.wait_running(&lab.prod, NEXT).await?;
    get_promotions(n, lab).await?;
    n.say(&format!("Argo CD runs {NEXT} in prod:"));
    n.run(
        "kubectl",
        lab.kubectl(),
        &[
            "get",
            "application",
            "web-prod",
            "-n",
            lab.ns(),
            "-o",
            "jsonpath={.status.summary.images}",
        ],
    )
    .await?;
    Ok(())
}

async fn commit(n: &mut Narrator, lab: &Lab, ci: &str) -> Result<()> {
    n.step("The commit");
    n.say("In a clone of web-core, what happened since CI's commit:");
    let range = format!("{}..main", short(ci));
    n.run(
        "git",
        Command::from(lab.repo.git()),
        &["log", "-p", &range, "--", PROD_RELEASE],
    )
    .await?;
    let (count, files) = tokio::task::block_in_place(|| commits_since(lab, ci))?;
    if count != 1 || files != [PROD_RELEASE] {
        bail!("expected one commit touching only {PROD_RELEASE}; found {count} touching {files:?}");
    }
    let prod = tokio::task::block_in_place(|| lab.repo.read_file("main", PROD_RELEASE))?
        .unwrap_or_default();
    if prod != release_file(NEXT, "promoted") {
        bail!("{PROD_RELEASE} is not the old file with only the tag changed:\n{prod}");
    }
    n.say(&format!(
        "{count} commit since CI's, touching only {PROD_RELEASE};\nonly the tag's bytes changed (the comment beside it is kept)."
    ));
    Ok(())
}

/// How many commits are on main after `since`, and the files they touched.
fn commits_since(lab: &Lab, since: &str) -> Result<(usize, Vec<String>)> {
    let before = lab.repo.commits(since)?;
    let mut files = Vec::new();
    let mut count = 0;
    for c in lab.repo.commits("main")? {
        if before.contains(&c) {
            continue;
        }
        count += 1;
        for f in lab.repo.changed_files(&c)? {
            if !files.contains(&f) {
                files.push(f);
            }
        }
    }
    Ok((count, files))
}

/// A hot-reload session on dev while sha-2 waits: dev's last sync is at the branch tip, so
/// Argo CD's auto-sync (self-heal off) leaves the session alone, as it would for a developer.
async fn drift(n: &mut Narrator, lab: &Lab) -> Result<()> {
    n.step("A drift finding: a hot-reload session on dev");
    n.say(&format!(
        "While {NEXT} waits for approval, a developer starts a hot-reload session (Okteto) on dev:\nthe live image differs from Git (simulated with the simulator's start_hot_session).\nWith self-heal off, Argo CD leaves it running, and the operator reports the drift:"
    ));
    lab.sim
        .start_hot_session(&lab.dev, &format!("{IMAGE}:{HOT_IMAGE}"));
    lab.wait("dev's live state drifts from Git", |s| {
        source_git_vs_live(s).as_deref() == Some("OutOfSync")
    })
    .await?;
    get_applications(n, lab).await?;
    get_promotions(n, lab).await?;
    n.say("Two findings: the release drift (dev ahead of prod) and dev's live state against Git:");
    jsonpath(
        n,
        lab,
        r#"{.status.drift.release.message}{"\n"}{.status.drift.source.reason}"#,
    )
    .await?;
    lab.sim.end_hot_session(&lab.dev);
    // Dev is Progressing for a moment once the session ends; the gates hold a promotion
    // until it is Healthy, so wait for that before approving.
    lab.wait_running(&lab.dev, NEXT).await?;
    lab.wait(
        "dev's live state matches Git again and dev is Healthy",
        |s| {
            source_git_vs_live(s).as_deref() == Some("Synced")
                && s.source.as_ref().and_then(|e| e.health.as_deref()) == Some("Healthy")
        },
    )
    .await?;
    n.say(&format!(
        "The session ends: dev runs what Git says again. The release drift stays until {NEXT}\nis promoted:"
    ));
    get_promotions(n, lab).await?;
    Ok(())
}

fn source_git_vs_live(s: &PromotionStatus) -> Option<String> {
    s.drift.as_ref()?.source.git_vs_live.clone()
}

async fn policy(n: &mut Narrator, lab: &Lab) -> Result<()> {
    n.step("A policy finding: self-heal turned on for dev");
    n.say("Someone turns self-heal on for web-dev, which would revert every hot-reload session:");
    set_dev_self_heal(n, lab, true).await?;
    let s = lab
        .wait("PolicyCompliant is False", |s| {
            policy_compliant(s).as_deref() == Some("False")
        })
        .await?;
    let reason = conditions::find(&s.conditions, "PolicyCompliant")
        .map(|c| c.reason.clone())
        .unwrap_or_default();
    n.say(&format!(
        "The operator reports it (PolicyCompliant False, reason {reason}):"
    ));
    jsonpath(
        n,
        lab,
        r#"{range .status.conditions[?(@.type=="PolicyCompliant")]}{.type}={.status} {.reason}: {.message}{end}"#,
    )
    .await?;
    n.say("Turned off again, dev is compliant:");
    set_dev_self_heal(n, lab, false).await?;
    lab.wait("PolicyCompliant is True", |s| {
        policy_compliant(s).as_deref() == Some("True")
    })
    .await?;
    jsonpath(
        n,
        lab,
        r#"{range .status.conditions[?(@.type=="PolicyCompliant")]}{.type}={.status} {.reason}{end}"#,
    )
    .await?;
    Ok(())
}

async fn set_dev_self_heal(n: &Narrator, lab: &Lab, on: bool) -> Result<()> {
    let patch = json!({"spec": {"syncPolicy": {"automated": {"selfHeal": on}}}}).to_string();
    let args = [
        "patch",
        "application",
        "web-dev",
        "-n",
        lab.ns(),
        "--type",
        "merge",
        "-p",
        &patch,
    ];
    n.run("kubectl", lab.kubectl(), &args).await?;
    Ok(())
}

fn policy_compliant(s: &PromotionStatus) -> Option<String> {
    conditions::find(&s.conditions, "PolicyCompliant").map(|c| c.status.clone())
}

/// A commit id as git abbreviates it.
fn short(id: &str) -> &str {
    id.get(..7).unwrap_or(id)
}
