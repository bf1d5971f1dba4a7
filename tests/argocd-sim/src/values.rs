//! Helm values as far as the simulator needs them: which file a chart reads, and which image
//! the merged values name.

use promote_values::{PlainReading, ValuesErrorKind, plain_reading};

use crate::error::{Error, Result};

/// One layer of values, in Helm's merge order (chart defaults first, parameters last).
#[derive(Clone, Debug)]
pub(crate) struct Layer {
    /// Where the layer came from, for messages.
    pub name: String,
    pub content: String,
}

/// Reads the scalar at `path` (`image.tag`) from one values file with the same reader the
/// operator uses: `None` when the file does not set it (key missing, empty file, null value).
///
/// Layers are read one at a time and the last one that sets a path wins, which is what Helm's
/// deep merge gives for a scalar leaf.
pub(crate) fn read_scalar(file: &str, content: &str, path: &str) -> Result<Option<String>> {
    match promote_values::get(file, content.as_bytes(), path) {
        Ok(value) => Ok(Some(value)),
        Err(e) => match e.kind {
            ValuesErrorKind::KeyMissing { .. }
            | ValuesErrorKind::NoDocument
            | ValuesErrorKind::EmptyValue { .. }
            | ValuesErrorKind::IndexOutOfRange { .. } => Ok(None),
            ValuesErrorKind::NotAString { ref value, .. }
                if value.is_empty() || plain_reading(value) == PlainReading::Null =>
            {
                Ok(None)
            }
            // `image: ~` or `image: ""` in a later file: Helm drops the map; nothing set here.
            ValuesErrorKind::WrongShape { found, .. }
                if found != "mapping" && found != "sequence" =>
            {
                Ok(None)
            }
            _ => Err(Error::Render(e.to_string())),
        },
    }
}

/// The value of `path` after merging `layers` and then `parameters` (which win).
pub(crate) fn merged(
    layers: &[Layer],
    parameters: &[(String, String)],
    path: &str,
) -> Result<Option<String>> {
    if let Some((_, value)) = parameters.iter().rev().find(|(name, _)| name == path) {
        return Ok(Some(value.clone()));
    }
    for layer in layers.iter().rev() {
        if let Some(value) = read_scalar(&layer.name, &layer.content, path)? {
            return Ok(Some(value));
        }
    }
    Ok(None)
}

/// The live image the chart deploys: `<image.repository>:<image.tag>` (`@` for a digest), as a
/// Pod spec and Argo CD's `summary.images` show it. Empty when no repository is set.
pub(crate) fn images(layers: &[Layer], parameters: &[(String, String)]) -> Result<Vec<String>> {
    let Some(repository) = merged(layers, parameters, "image.repository")? else {
        return Ok(Vec::new());
    };
    let tag = merged(layers, parameters, "image.tag")?;
    Ok(vec![image_ref(&repository, tag.as_deref())])
}

fn image_ref(repository: &str, tag: Option<&str>) -> String {
    match tag.map(str::trim).filter(|t| !t.is_empty()) {
        Some(digest) if digest.starts_with("sha256:") => format!("{repository}@{digest}"),
        Some(tag) => format!("{repository}:{tag}"),
        None => repository.to_owned(),
    }
}

/// The values Helm would hand to the templates, as canonical text: layers deep-merged in
/// order (a later null deletes), then `parameters` set as strings, map keys sorted. Two
/// commits with the same text render the same manifests from the same chart, whatever their
/// comments, quoting or key order.
pub(crate) fn merged_text(layers: &[Layer], parameters: &[(String, String)]) -> Result<String> {
    let mut merged = serde_yaml::Value::Mapping(serde_yaml::Mapping::new());
    for layer in layers {
        if layer.content.trim().is_empty() {
            continue;
        }
        let value: serde_yaml::Value = serde_yaml::from_str(&layer.content)
            .map_err(|e| Error::Render(format!("{}: not valid YAML: {e}", layer.name)))?;
        match value {
            serde_yaml::Value::Null => {}
            serde_yaml::Value::Mapping(_) => coalesce(&mut merged, value),
            _ => {
                return Err(Error::Render(format!(
                    "{}: values must be a mapping at the top level",
                    layer.name
                )));
            }
        }
    }
    for (name, value) in parameters {
        set_path(&mut merged, name, serde_yaml::Value::String(value.clone()));
    }
    let mut out = String::new();
    canonical(&merged, &mut out);
    Ok(out)
}

/// Helm's merge of an override into a base: maps merge key by key, a null removes the key,
/// anything else replaces.
fn coalesce(base: &mut serde_yaml::Value, over: serde_yaml::Value) {
    match (base, over) {
        (serde_yaml::Value::Mapping(base), serde_yaml::Value::Mapping(over)) => {
            for (key, value) in over {
                if value.is_null() {
                    base.remove(&key);
                } else if let Some(existing) = base.get_mut(&key) {
                    coalesce(existing, value);
                } else {
                    base.insert(key, value);
                }
            }
        }
        (base, over) => *base = over,
    }
}

/// `--set name=value` for a dotted name (no list indexes or escapes).
fn set_path(root: &mut serde_yaml::Value, name: &str, value: serde_yaml::Value) {
    let mut node = root;
    for key in name.split('.') {
        if !node.is_mapping() {
            *node = serde_yaml::Value::Mapping(serde_yaml::Mapping::new());
        }
        let serde_yaml::Value::Mapping(map) = node else {
            return;
        };
        let key = serde_yaml::Value::String(key.to_owned());
        node = map.entry(key).or_insert(serde_yaml::Value::Null);
    }
    *node = value;
}

fn canonical(value: &serde_yaml::Value, out: &mut String) {
    match value {
        serde_yaml::Value::Mapping(map) => {
            let mut entries: Vec<(String, &serde_yaml::Value)> = map
                .iter()
                .map(|(k, v)| {
                    let mut key = String::new();
                    canonical(k, &mut key);
                    (key, v)
                })
                .collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            out.push('{');
            for (key, v) in entries {
                out.push_str(&key);
                out.push(':');
                canonical(v, out);
                out.push(',');
            }
            out.push('}');
        }
        serde_yaml::Value::Sequence(list) => {
            out.push('[');
            for v in list {
                canonical(v, out);
                out.push(',');
            }
            out.push(']');
        }
        serde_yaml::Value::Tagged(tagged) => canonical(&tagged.value, out),
        scalar => out.push_str(&serde_json::to_string(scalar).unwrap_or_default()),
    }
}

/// Resolves a values file named relative to the chart directory (it may climb out with `../`)
/// to a path from the repository root. Argo CD refuses files outside the repository, and
/// remote or `$ref` files are not simulated.
pub(crate) fn resolve_value_file(chart_path: &str, file: &str) -> Result<String> {
    if file.contains("://") || file.starts_with('$') {
        return Err(Error::InvalidSpec(format!(
            "values file {file}: remote and $ref values files are not simulated"
        )));
    }
    let mut parts: Vec<&str> = Vec::new();
    let joined = if let Some(from_root) = file.strip_prefix('/') {
        from_root.to_owned()
    } else if chart_path.is_empty() || chart_path == "." {
        file.to_owned()
    } else {
        format!("{chart_path}/{file}")
    };
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(Error::InvalidSpec(format!(
                        "values file {file}: resolves outside the repository"
                    )));
                }
            }
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        return Err(Error::InvalidSpec(format!(
            "values file {file:?}: not a file"
        )));
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(name: &str, content: &str) -> Layer {
        Layer {
            name: name.into(),
            content: content.into(),
        }
    }

    #[test]
    fn later_layers_and_parameters_win() {
        let layers = [
            layer(
                "values.yaml",
                "image:\n  repository: registry.example.com/web/app\n  tag: latest\n",
            ),
            layer(
                "release.yaml",
                "# release\nimage:\n  tag: \"sha-123\" # pinned\n",
            ),
        ];
        assert_eq!(
            images(&layers, &[]).expect("reads"),
            ["registry.example.com/web/app:sha-123"]
        );
        let params = [("image.tag".to_owned(), "sha-999".to_owned())];
        assert_eq!(
            images(&layers, &params).expect("reads"),
            ["registry.example.com/web/app:sha-999"]
        );
    }

    #[test]
    fn digests_use_an_at_sign_and_missing_tags_leave_the_repository() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let layers = [layer(
            "v",
            &format!("image: {{repository: r/app, tag: '{digest}'}}"),
        )];
        assert_eq!(
            images(&layers, &[]).expect("reads"),
            [format!("r/app@{digest}")]
        );
        assert_eq!(
            images(&[layer("v", "image: {repository: r/app}")], &[]).expect("reads"),
            ["r/app"]
        );
        assert!(
            images(&[layer("v", "image: {tag: x}")], &[])
                .expect("reads")
                .is_empty()
        );
    }

    #[test]
    fn absent_values_fall_through_and_bad_yaml_is_an_error() {
        let read = |content: &str| read_scalar("v", content, "image.tag").expect("reads");
        assert_eq!(read("image: {tag: \"1.30\"}").as_deref(), Some("1.30"));
        assert_eq!(read("image:\n  tag: 42\n").as_deref(), Some("42"));
        for absent in [
            "",
            "# only a comment\n",
            "other: 1\n",
            "image:\n  tag:\n",
            "image: null\n",
        ] {
            assert_eq!(read(absent), None, "{absent:?}");
        }
        let err = read_scalar("v", "image: [unclosed", "image.tag").expect_err("malformed");
        assert!(err.to_string().starts_with("v: "), "{err}");
        let layers = [
            layer("chart", "image: {repository: r/app, tag: base}"),
            layer("release", "image:\n  tag:\n"),
        ];
        assert_eq!(images(&layers, &[]).expect("reads"), ["r/app:base"]);
    }

    #[test]
    fn merged_values_ignore_formatting_and_follow_helm_merging() {
        let text = |layers: &[Layer], params: &[(String, String)]| {
            merged_text(layers, params).expect("merges")
        };
        let chart = layer(
            "chart",
            "image: {repository: r/app, tag: latest}\nreplicas: 1\nextra: {a: 1}\n",
        );
        let a = text(
            &[chart.clone(), layer("rel", "image:\n  tag: sha-1 # CI\n")],
            &[],
        );
        let b = text(
            &[
                chart.clone(),
                layer("rel", "# moved\nimage: {tag: 'sha-1'}\n"),
            ],
            &[],
        );
        assert_eq!(a, b, "comments and quoting do not matter");
        let c = text(
            &[chart.clone(), layer("rel", "image:\n  tag: sha-2\n")],
            &[],
        );
        assert_ne!(a, c);
        let pinned = [("image.tag".to_owned(), "p".to_owned())];
        assert_eq!(
            text(
                &[chart.clone(), layer("rel", "image:\n  tag: sha-1\n")],
                &pinned
            ),
            text(
                &[chart.clone(), layer("rel", "image:\n  tag: sha-2\n")],
                &pinned
            ),
            "a parameter hides the file's tag"
        );
        let deleted = text(&[chart.clone(), layer("rel", "extra: null\n")], &[]);
        assert!(!deleted.contains("extra"), "{deleted}");
        assert!(merged_text(&[layer("rel", "- a\n")], &[]).is_err());
    }

    #[test]
    fn value_files_resolve_relative_to_the_chart() {
        assert_eq!(
            resolve_value_file("deploy/charts/web-app", "../../env/release-dev/app.yaml")
                .expect("inside"),
            "deploy/env/release-dev/app.yaml"
        );
        assert_eq!(
            resolve_value_file("chart", "values-dev.yaml").expect("inside"),
            "chart/values-dev.yaml"
        );
        assert_eq!(
            resolve_value_file("", "./a/b.yaml").expect("inside"),
            "a/b.yaml"
        );
        assert_eq!(
            resolve_value_file("chart", "/env/x.yaml").expect("inside"),
            "env/x.yaml"
        );
        assert!(resolve_value_file("chart", "../../x.yaml").is_err());
        assert!(resolve_value_file("chart", "https://example.com/v.yaml").is_err());
        assert!(resolve_value_file("chart", "$values/env/x.yaml").is_err());
    }
}
