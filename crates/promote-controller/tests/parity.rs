//! Dev–prod parity end to end: the operator reads both configuration files from the git
//! server, reports every difference outside the allow list on the status and the
//! `ParityCompliant` condition, never shows a secret-looking value, and `gates.parity` holds a
//! new version until the difference is fixed or allowed.

mod world;

use promote_api::conditions::{reasons, types};
use promote_api::{DifferenceKind, Phase, PromotionResult};
use serde_json::json;
use world::*;

const DEV_CONFIG: &str = "deploy/env/dev/web.yaml";
const PROD_CONFIG: &str = "deploy/env/prod/web.yaml";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_parity_gate_holds_a_version_until_the_difference_is_allowed() {
    let w = World::start("parity", false).await;
    let op = w.operator("op-a");
    let config = json!({
        "source": {"environment": "dev", "valuesFile": DEV_RELEASE, "configFile": DEV_CONFIG,
                   "application": {"name": "web-dev", "namespace": w.env.ns()}},
        "target": {"environment": "prod", "valuesFile": PROD_RELEASE, "configFile": PROD_CONFIG,
                   "application": {"name": "web-prod", "namespace": w.env.ns()}},
        "gates": {"parity": true},
    });
    w.create_promotion("Auto", config).await;
    // The files differ only in env, which the built-in allow list accepts.
    let s = w.wait_condition(types::PARITY_COMPLIANT, "True").await;
    let parity = s.parity.clone().expect("status.parity");
    assert_eq!((parity.total, parity.allowed), (0, 1), "{parity:?}");

    // Dev drifts from prod: another port, and a token only dev has.
    let drift = w
        .repo
        .commit_files(
            "main",
            &[(
                DEV_CONFIG,
                "env:\n  NODE_ENV: development\nservice:\n  port: 3000\nauth:\n  token: tok-dev-0451\n",
            ), (PROD_CONFIG, "env:\n  NODE_ENV: production\nservice:\n  port: 80\n")],
            "dev: try another port",
        )
        .expect("commit");
    let ci = w.release("sha-2");
    let s = w
        .wait_phase_saying(
            Phase::Gated,
            "gate: parity: 2 differences outside spec.parity.allow",
        )
        .await;
    let parity = s.parity.clone().expect("status.parity");
    let found: Vec<_> = parity
        .differences
        .iter()
        .map(|d| {
            (
                d.path.as_str(),
                d.kind,
                d.source.as_deref(),
                d.target.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            (
                "service.port",
                DifferenceKind::Different,
                Some("3000"),
                Some("80")
            ),
            (
                "auth",
                DifferenceKind::OnlyInSource,
                Some("{token: (hidden)}"),
                None
            ),
        ]
    );
    let c = condition_status(&s, types::PARITY_COMPLIANT);
    assert_eq!(c.as_deref(), Some("False"));
    let message = s.message.clone().unwrap_or_default();
    assert!(
        message.contains("service.port (dev 3000, prod 80)"),
        "{message}"
    );
    assert!(w.commits_since(&ci).is_empty(), "nothing moves while gated");
    assert!(!w.commits_since(&drift).is_empty());

    // The team decides the port may differ, and fixes the token in dev.
    w.repo
        .commit_files(
            "main",
            &[(
                DEV_CONFIG,
                "env:\n  NODE_ENV: development\nservice:\n  port: 3000\n",
            )],
            "dev: drop the token",
        )
        .expect("commit");
    w.patch_spec(json!({"parity": {"allow": ["service.port"]}}))
        .await;
    let s = w
        .wait("sha-2 promoted", |s| {
            s.phase == Some(Phase::Promoted)
                && s.last_promotion
                    .as_ref()
                    .is_some_and(|r| r.version == "sha-2" && r.result == PromotionResult::Succeeded)
        })
        .await;
    let parity = s.parity.clone().expect("status.parity");
    assert!(parity.compliant, "{parity:?}");
    assert_eq!(parity.allowed, 2);
    let ours: Vec<_> = w
        .commits_since(&ci)
        .into_iter()
        .filter(|(_, _, files)| files == &[PROD_RELEASE.to_owned()])
        .collect();
    assert_eq!(ours.len(), 1, "one promotion commit: {ours:?}");

    // The secret-looking value never left the repository.
    let status = serde_json::to_string(&s).expect("status");
    let events = format!("{:?}", w.events().await);
    assert!(!status.contains("tok-dev-0451") && !events.contains("tok-dev-0451"));
    let compliant = s
        .conditions
        .iter()
        .find(|c| c.type_ == types::PARITY_COMPLIANT)
        .expect("ParityCompliant");
    assert_eq!(compliant.reason, reasons::COMPLIANT);
    assert_eq!(compliant.observed_generation, s.observed_generation);
    op.stop().await;
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_configuration_file_is_reported_and_nothing_else_breaks() {
    let w = World::start("parity-missing", false).await;
    let op = w.operator("op-a");
    let config = json!({
        "source": {"environment": "dev", "valuesFile": DEV_RELEASE,
                   "configFile": "deploy/env/dev/missing.yaml",
                   "application": {"name": "web-dev", "namespace": w.env.ns()}},
        "target": {"environment": "prod", "valuesFile": PROD_RELEASE, "configFile": PROD_CONFIG,
                   "application": {"name": "web-prod", "namespace": w.env.ns()}},
    });
    w.create_promotion("Manual", config).await;
    let s = w.wait_condition(types::PARITY_COMPLIANT, "Unknown").await;
    let c = s
        .conditions
        .iter()
        .find(|c| c.type_ == types::PARITY_COMPLIANT)
        .expect("condition");
    assert_eq!(c.reason, reasons::CONFIG_FILE_ERROR);
    assert!(
        c.message
            .starts_with("cannot read dev's configFile deploy/env/dev/missing.yaml:"),
        "{}",
        c.message
    );
    // Without gates.parity the lane goes on as usual.
    assert_eq!(s.phase, Some(Phase::InSync), "{:?}", s.message);
    op.stop().await;
    w.finish().await;
}
