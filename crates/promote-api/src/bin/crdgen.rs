//! Prints the Promotion CRD as YAML, or writes it with `--write` to `crds/` and the Helm chart.

use std::process::ExitCode;

fn main() -> ExitCode {
    let yaml = match promote_api::crd_yaml() {
        Ok(yaml) => yaml,
        Err(err) => {
            eprintln!("crdgen: cannot render the CRD: {err}");
            return ExitCode::FAILURE;
        }
    };
    if std::env::args().any(|a| a == "--write") {
        for path in promote_api::crd_paths() {
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
