//! Helm values as far as the simulator needs them: which file a chart reads, and which image
//! the merged values name.

use crate::error::{Error, Result};

/// One layer of values, in Helm's merge order (chart defaults first, parameters last).
#[derive(Clone, Debug)]
pub(crate) struct Layer {
    /// Where the layer came from, for messages.
    pub name: String,
    pub content: String,
}

/// Reads the scalar at dotted `path` (`image.tag`) from one values file: `None` when the path
/// is absent or null.
///
/// Layers are read one at a time and the last one that sets a path wins, which is what Helm's
/// deep merge gives for a scalar leaf.
pub(crate) fn read_scalar(file: &str, content: &str, path: &str) -> Result<Option<String>> {
    if content.trim().is_empty() {
        return Ok(None);
    }
    let doc: serde_yaml::Value = serde_yaml::from_str(content)
        .map_err(|e| Error::Render(format!("{file}: not valid YAML: {e}")))?;
    let mut node = &doc;
    for key in path.split('.') {
        match node.get(key) {
            Some(next) => node = next,
            None => return Ok(None),
        }
    }
    Ok(match node {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    })
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
    fn numbers_read_as_text_and_bad_yaml_is_an_error() {
        assert_eq!(
            read_scalar("v", "image: {tag: 1.30}", "image.tag")
                .expect("reads")
                .as_deref(),
            Some("1.3")
        );
        assert_eq!(read_scalar("v", "", "image.tag").expect("reads"), None);
        assert!(read_scalar("v", "image: [unclosed", "image.tag").is_err());
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
