//! The checked-in `argocd-cm.yaml` inlines the current .lua files, and reads back as the
//! ConfigMap keys Argo CD expects.

use promote_argocd_lua::{
    ACTIONS_KEY, ARGOCD_CM, HEALTH_KEY, REGENERATE, action_names, argocd_dir, render_argocd_cm,
};
use serde_json::Value;

#[test]
fn checked_in_snippet_is_current() {
    let dir = argocd_dir();
    let rendered = render_argocd_cm(&dir).unwrap_or_else(|e| panic!("{e}"));
    let on_disk = std::fs::read_to_string(dir.join(ARGOCD_CM)).unwrap_or_default();
    assert!(
        rendered == on_disk,
        "charts/promote/argocd/{ARGOCD_CM} is stale: run `{REGENERATE}` and commit it"
    );
}

#[test]
fn snippet_reads_back_as_the_scripts() {
    let dir = argocd_dir();
    let file = |p: &str| std::fs::read_to_string(dir.join(p)).expect("reads");
    let cm: Value = serde_yaml::from_str(&render_argocd_cm(&dir).unwrap_or_else(|e| panic!("{e}")))
        .expect("snippet is YAML");
    assert_eq!(cm["data"][HEALTH_KEY], file("health.lua"));

    let actions: Value = serde_yaml::from_str(cm["data"][ACTIONS_KEY].as_str().expect("string"))
        .expect("actions value is YAML");
    assert_eq!(actions["discovery.lua"], file("actions/discovery.lua"));
    let definitions = actions["definitions"].as_array().expect("definitions");
    let names = action_names(&dir).expect("actions/");
    assert_eq!(definitions.len(), names.len());
    for (definition, name) in definitions.iter().zip(&names) {
        assert_eq!(definition["name"], name.as_str());
        assert_eq!(
            definition["action.lua"],
            file(&format!("actions/{name}/action.lua"))
        );
    }
}
