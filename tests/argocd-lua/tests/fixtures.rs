//! Every fixture is a Promotion exactly as the types write it (no misspelt or unknown field
//! survives a round trip) and passes the CRD's CEL rules.

use std::path::{Path, PathBuf};

use kube::core::cel::validate_cel;
use promote_api::Promotion;
use promote_argocd_lua::{argocd_dir, read_yaml};
use serde_json::Value;

fn fixtures(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    paths.sort();
    paths
}

#[test]
fn fixtures_round_trip_through_the_api_types() {
    let dir = argocd_dir();
    let paths: Vec<PathBuf> = [dir.join("testdata"), dir.join("actions/testdata")]
        .iter()
        .flat_map(|d| fixtures(d))
        .collect();
    assert!(paths.len() > 10);
    for path in paths {
        let raw: Value = read_yaml(&path).expect("reads");
        let promotion: Promotion = serde_json::from_value(raw.clone())
            .unwrap_or_else(|e| panic!("{}: not a Promotion: {e}", path.display()));
        let back = serde_json::to_value(&promotion).expect("serializes");
        assert_eq!(
            back,
            raw,
            "{} differs from what the types write",
            path.display()
        );
        if let Err(e) = validate_cel(&promotion) {
            panic!("{}: rejected by the CRD's rules: {e:?}", path.display());
        }
    }
}
