//! "Rendering" an Application's source at a commit, the simulator's stand-in for Argo CD's
//! repo server running `helm template`: the images the chart would deploy, and a fingerprint
//! of everything that shapes the manifests, so a commit that touches neither the chart nor its
//! values files leaves the app `Synced`, as it does in Argo CD.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::git::{GitReader, Resolved};
use crate::spec::Source;
use crate::values::{Layer, images, resolve_value_file};

/// The desired state of an app at one commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rendered {
    /// Commit id.
    pub revision: String,
    /// Changes whenever the chart directory, a values file in use, inline values or
    /// parameters change.
    pub fingerprint: String,
    /// Full image references, e.g. `registry.example.com/web/app:sha-123`.
    pub images: Vec<String>,
}

/// Renders sources, remembering results per (source, commit) like Argo CD's manifest cache.
#[derive(Debug, Default)]
pub(crate) struct Renderer {
    cache: HashMap<String, Rendered>,
}

impl Renderer {
    /// Drops cached results for a repository (a hard refresh).
    pub(crate) fn forget(&mut self, repo_url: &str) {
        let prefix = format!("{repo_url}\n");
        self.cache.retain(|key, _| !key.starts_with(&prefix));
    }

    pub(crate) async fn render(
        &mut self,
        git: &mut GitReader,
        source: &Source,
        resolved: &Resolved,
    ) -> Result<Rendered> {
        let key = format!(
            "{}\n{}\n{}\n{:?}\n{:?}\n{:?}\n{}",
            source.repo_url,
            resolved.sha,
            source.path,
            source.value_files,
            source.inline_values,
            source.parameters,
            source.ignore_missing_value_files
        );
        if let Some(hit) = self.cache.get(&key) {
            return Ok(hit.clone());
        }
        let rendered = render_uncached(git, source, resolved).await?;
        self.cache.insert(key, rendered.clone());
        Ok(rendered)
    }
}

async fn render_uncached(
    git: &mut GitReader,
    source: &Source,
    resolved: &Resolved,
) -> Result<Rendered> {
    let dir = git.ensure(&source.repo_url, resolved).await?;
    let sha = &resolved.sha;
    let Some(chart_tree) = git.object_id(&dir, sha, &source.path).await? else {
        return Err(Error::Render(format!(
            "app path does not exist: {} at {}",
            display_path(&source.path),
            short(sha)
        )));
    };
    let mut layers = Vec::new();
    let mut fingerprint = format!("chart={chart_tree}");
    // Helm always starts from the chart's own values.yaml.
    let chart_values = join(&source.path, "values.yaml");
    if let Some(oid) = git.object_id(&dir, sha, &chart_values).await? {
        layers.push(Layer {
            name: chart_values.clone(),
            content: git.read_blob(&dir, &oid).await?,
        });
    }
    for file in &source.value_files {
        let path = resolve_value_file(&source.path, file)?;
        match git.object_id(&dir, sha, &path).await? {
            Some(oid) => {
                fingerprint.push_str(&format!(";{path}={oid}"));
                layers.push(Layer {
                    name: path,
                    content: git.read_blob(&dir, &oid).await?,
                });
            }
            None if source.ignore_missing_value_files => {}
            None => {
                return Err(Error::Render(format!(
                    "values file {file} ({path}) does not exist at {}",
                    short(sha)
                )));
            }
        }
    }
    for (i, values) in source.inline_values.iter().enumerate() {
        fingerprint.push_str(&format!(";inline{i}={values}"));
        layers.push(Layer {
            name: format!("helm.values[{i}]"),
            content: values.clone(),
        });
    }
    for (name, value) in &source.parameters {
        fingerprint.push_str(&format!(";param {name}={value}"));
    }
    Ok(Rendered {
        revision: sha.clone(),
        fingerprint,
        images: images(&layers, &source.parameters)?,
    })
}

fn join(dir: &str, file: &str) -> String {
    if dir.is_empty() || dir == "." {
        file.to_owned()
    } else {
        format!("{dir}/{file}")
    }
}

fn display_path(path: &str) -> &str {
    if path.is_empty() { "." } else { path }
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}
