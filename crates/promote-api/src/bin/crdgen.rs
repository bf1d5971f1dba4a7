//! Prints the Promotion CRD as YAML, or writes it with `--write` to `crds/` and to the Helm
//! chart's copy, which the chart's `templates/crds.yaml` renders.

use std::path::PathBuf;
use std::process::ExitCode;

/// The chart's copy, relative to the repository root. It lives under `files/`, not the
/// chart's `crds/`: Helm installs `crds/` apart from the templates and never upgrades it.
const CHART_COPY: &str = "charts/promote/files/promotions.promote.dev.yaml";

/// Every checked-in copy: `crds/` at the repository root, and the chart's.
fn paths() -> [PathBuf; 2] {
    let [root_copy, _] = promote_api::crd_paths();
    let root = root_copy
        .parent()
        .and_then(std::path::Path::parent)
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    [root_copy, root.join(CHART_COPY)]
}

fn main() -> ExitCode {
    let yaml = match promote_api::crd_yaml() {
        Ok(yaml) => yaml,
        Err(err) => {
            eprintln!("crdgen: cannot render the CRD: {err}");
            return ExitCode::FAILURE;
        }
    };
    if std::env::args().any(|a| a == "--write") {
        for path in paths() {
            if let Err(err) = std::fs::write(&path, &yaml) {
                eprintln!("crdgen: cannot write {}: {err}", path.display());
                return ExitCode::FAILURE;
            }
            eprintln!("crdgen: wrote {}", path.display());
        }
    } else {
        print!("{yaml}");
    }
    ExitCode::SUCCESS
}
