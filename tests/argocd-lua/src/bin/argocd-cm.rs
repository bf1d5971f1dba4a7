//! Prints the `argocd-cm` snippet rendered from charts/promote/argocd/*.lua; `--write`
//! rewrites the checked-in charts/promote/argocd/argocd-cm.yaml instead.

use std::process::ExitCode;

use promote_argocd_lua::{ARGOCD_CM, argocd_dir, render_argocd_cm};

fn main() -> ExitCode {
    let dir = argocd_dir();
    let rendered = match render_argocd_cm(&dir) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("argocd-cm: {e}");
            return ExitCode::FAILURE;
        }
    };
    match std::env::args().nth(1).as_deref() {
        None => print!("{rendered}"),
        Some("--write") => {
            let path = dir.join(ARGOCD_CM);
            if let Err(e) = std::fs::write(&path, rendered) {
                eprintln!("argocd-cm: {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
        Some(other) => {
            eprintln!("argocd-cm: unknown argument {other}; usage: argocd-cm [--write]");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
