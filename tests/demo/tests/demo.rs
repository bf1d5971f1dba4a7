//! Runs `promote-demo` against the test control plane (the cluster `KUBECONFIG` names when
//! set, like the test support) and checks what it shows a user, step by step, and that it
//! left nothing behind.

use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;
use promote_testsupport::ControlPlane;

/// Longer than the demo's own bounded waits, and than a first control plane start.
const DEMO_TIMEOUT: Duration = Duration::from_secs(900);
const PROD_RELEASE: &str = "deploy/env/release-prod/web.yaml";

/// The rows of `kubectl get promotions` for web-prod, without the age column.
fn promotion_rows(out: &str) -> Vec<Vec<&str>> {
    out.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.len() == 8 && w[0] == "web-prod" && w[1] == "dev")
        .map(|mut w| {
            w.truncate(7);
            w
        })
        .collect()
}

/// The phases the demo printed while it watched the promotion, in order.
fn watched_phases(out: &str) -> Vec<&str> {
    out.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.len() >= 3 && w[1] == "s" && w[0].parse::<f64>().is_ok())
        .map(|w| w[2])
        .collect()
}

/// Whether `lines` appear in `out` in this order.
fn in_order(out: &str, lines: &[&str]) -> bool {
    let mut rest = out;
    for line in lines {
        match rest.find(line) {
            Some(at) => rest = &rest[at + line.len()..],
            None => return false,
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_walks_one_promotion_through_approval_drift_and_policy_then_cleans_up() {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_promote-demo"))
        .env_remove("RUST_LOG")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(DEMO_TIMEOUT, run)
        .await
        .expect("the demo finishes")
        .expect("the demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);

    let ns = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("namespace promote-test-demo-"))
        .map(|rest| format!("promote-test-demo-{}", rest.trim_end_matches('.')))
        .expect("the demo names its namespace");

    assert!(
        stdout.contains(&format!("$ kubectl get promotions -n {ns}")),
        "{stdout}"
    );
    let rows = promotion_rows(&stdout);
    let expected: &[&[&str]] = &[
        &["sha-1", "sha-1", "InSync", "false"],
        &["sha-2", "sha-1", "AwaitingApproval", "true"],
        &["sha-2", "sha-1", "AwaitingApproval", "true"],
        &["sha-2", "sha-1", "AwaitingApproval", "true"],
        &["sha-2", "sha-2", "Promoted", "false"],
    ];
    let got: Vec<&[&str]> = rows.iter().map(|r| &r[3..7]).collect();
    assert_eq!(got, expected, "kubectl get promotions rows:\n{stdout}");

    // The status names the approval command, and the approval is made and recorded.
    assert!(
        stdout.contains(&format!(
            "sha-2 waits for approval to go to prod (now sha-1): kubectl promote approve web-prod sha-2 -n {ns}"
        )),
        "{stdout}"
    );
    let by_plugin = stdout.contains(&format!(
        "$ kubectl promote approve web-prod sha-2 -n {ns} --note 'fixes login'"
    )) && stdout.contains("promotion web-prod: approved sha-2 for prod by ");
    let by_patch = stdout.contains(&format!("$ kubectl patch promotion web-prod -n {ns}"));
    assert!(by_plugin || by_patch, "{stdout}");
    assert!(
        stdout.contains(r#""note":"fixes login","version":"sha-2"}"#),
        "{stdout}"
    );

    let phases = watched_phases(&stdout);
    assert_eq!(phases.first(), Some(&"Promoting"), "{phases:?}\n{stdout}");
    assert_eq!(phases.last(), Some(&"Promoted"), "{phases:?}\n{stdout}");
    let order = ["Promoting", "Syncing", "Verifying", "Promoted"];
    let ranks: Vec<usize> = phases
        .iter()
        .map(|p| {
            order
                .iter()
                .position(|o| o == p)
                .expect("a promotion phase")
        })
        .collect();
    assert!(ranks.windows(2).all(|w| w[0] < w[1]), "{phases:?}");

    // One commit, only the prod release file, only the tag.
    assert!(
        in_order(
            &stdout,
            &[
                &format!("-- {PROD_RELEASE}"),
                &format!("Promotion: {ns}/web-prod"),
                &format!("+++ b/{PROD_RELEASE}"),
                "-  tag: sha-1 # promoted",
                "+  tag: sha-2 # promoted",
                &format!("1 commit since CI's, touching only {PROD_RELEASE};"),
            ]
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("[\"registry.example.com/web/app:sha-2\"]"),
        "{stdout}"
    );

    // The findings: drift from the hot session (beside the release drift), then the policy.
    assert!(
        in_order(
            &stdout,
            &[
                "image.tag: dev sha-2, prod sha-1",
                "live differs from Git and self-heal is off (a hot-reload session?); live runs okteto-dev",
                "$ kubectl promote approve",
            ]
        ) || in_order(
            &stdout,
            &[
                "image.tag: dev sha-2, prod sha-1",
                "live differs from Git and self-heal is off (a hot-reload session?); live runs okteto-dev",
                "$ kubectl patch promotion",
            ]
        ),
        "{stdout}"
    );
    assert!(
        in_order(
            &stdout,
            &[
                "PolicyCompliant=False SelfHealMismatch:",
                &format!("{ns}/web-dev has self-heal on"),
                "PolicyCompliant=True",
            ]
        ),
        "{stdout}"
    );

    assert!(
        in_order(
            &stdout,
            &[
                "operator stopped",
                "Argo CD simulator stopped",
                &format!("namespace {ns} deleted"),
                "git server stopped",
                "Done in ",
            ]
        ),
        "{stdout}"
    );
    let control_plane = ControlPlane::get().await.expect("control plane");
    let client = control_plane.client().await.expect("client");
    let namespaces: Api<Namespace> = Api::all(client);
    assert!(
        namespaces.get_opt(&ns).await.expect("read").is_none(),
        "namespace {ns} is gone"
    );
}
