//! `promote-demo`: the operator's main job, end to end, on this machine.
//!
//! Brings up the project's test control plane (a real kube-apiserver and etcd,
//! `tests/control-plane`), a real HTTP git server with the web-core repository, the Argo CD
//! simulator (`tests/argocd-sim`, standing in for Argo CD) and the real operator in this
//! process; applies a Promotion for the dev -> prod lane and walks through it as a user
//! would see it (`kubectl get promotions`, the approval, the commit, the phases, a drift
//! finding and a policy finding); then removes everything it created.
//!
//! Uses the cluster `KUBECONFIG` names when it is set, as the test support does, and
//! refuses one whose Argo CD Application CRD is not the test support's. `RUST_LOG` turns on
//! the operator's and the simulator's logs (on standard error).

mod lab;
mod narrate;
mod phases;
mod walk;

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use promote_testsupport::ControlPlane;

use crate::lab::{Lab, check_cluster};
use crate::narrate::Narrator;

fn main() -> ExitCode {
    init_logs();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime");
    match runtime.and_then(|r| r.block_on(run())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs only when `RUST_LOG` asks for them: the narrative is the output.
fn init_logs() {
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init();
    }
}

async fn run() -> Result<()> {
    let mut n = Narrator::new();
    println!("Promote: the operator's demo");
    println!("============================");
    println!(
        "One Promotion, dev -> prod, through the real operator, a real API server and a real\ngit server; an Argo CD simulator stands in for Argo CD."
    );
    cluster(&mut n).await?;
    n.restart_clock();
    let lab = Lab::start(&mut n).await?;
    let walked = walk::walk(&mut n, &lab).await;
    let cleaned = lab.clean_up(&mut n).await;
    walked?;
    cleaned?;
    println!(
        "\nDone in {:.1} s after the control plane was up.",
        n.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn cluster(n: &mut Narrator) -> Result<&'static ControlPlane> {
    n.step("The cluster");
    if std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty()) {
        n.say("Using the cluster KUBECONFIG names.");
    } else {
        n.say("Starting the project's test control plane (tests/control-plane/up): a real\nkube-apiserver with etcd. The first run on a machine builds it from Debian's Kubernetes\nsources, which takes 3 to 6 minutes (cached in ~/.cache/promote afterwards); later runs\nreuse it and take seconds.");
    }
    let control_plane = ControlPlane::get()
        .await
        .context("bringing up the control plane")?;
    check_cluster(control_plane).await?;
    n.say(&format!(
        "kubectl below is the control plane's own ({}).",
        control_plane.kubectl_path().display()
    ));
    n.run("kubectl", control_plane.kubectl(), &["version"])
        .await?;
    Ok(control_plane)
}
