//! "Rendering" an Application's source at a commit, the simulator's stand-in for Argo CD's
//! repo server running `helm template`: the images the chart would deploy, and a fingerprint
//! of everything that shapes the manifests, so a commit that touches neither the chart nor its
//! values files leaves the app `Synced`, as it does in Argo CD.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::git::{GitReader, Resolved};
use crate::spec::Source;
use crate::values::{Layer, images, merged_text, resolve_value_file};

/// The desired state of an app at one commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rendered {
    /// Commit id.
    pub revision: String,
    /// The chart directory's tree id plus the merged values: equal fingerprints render equal
    /// manifests.
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
        layers.push(Layer {
            name: format!("helm.values[{i}]"),
            content: values.clone(),
        });
    }
    fingerprint.push_str(";values=");
    fingerprint.push_str(&merged_text(&layers, &source.parameters)?);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{GitAuth, Secret, SimulatorConfig};
    use promote_gitserver::{HttpServer, RepoDir, SshServer};

    const CHART: &str = "deploy/charts/web-app";
    const RELEASE: &str = "deploy/env/release-dev/web.yaml";

    fn repo(repos: &RepoDir) -> promote_gitserver::BareRepo {
        repos
            .create(
                "web-core",
                &[
                    (
                        "deploy/charts/web-app/values.yaml",
                        "image:\n  repository: registry.example.com/web/app\n  tag: latest\n",
                    ),
                    (
                        "deploy/charts/web-app/Chart.yaml",
                        "name: web-app\nversion: 0.1.0\n",
                    ),
                    (RELEASE, "image:\n  tag: sha-1 # dev release\n"),
                ],
            )
            .expect("repository")
    }

    fn source(url: &str) -> Source {
        Source {
            repo_url: url.into(),
            target_revision: "main".into(),
            path: CHART.into(),
            value_files: vec!["../../env/release-dev/web.yaml".into()],
            ignore_missing_value_files: false,
            inline_values: Vec::new(),
            parameters: Vec::new(),
        }
    }

    async fn render_tip(
        git: &mut GitReader,
        renderer: &mut Renderer,
        source: &Source,
    ) -> Result<Rendered> {
        let tip = git
            .resolve(&source.repo_url, &source.target_revision)
            .await?;
        renderer.render(git, source, &tip).await
    }

    #[tokio::test]
    async fn renders_values_files_at_the_tip_of_a_local_repository() {
        let repos = RepoDir::new().expect("dir");
        let repo = repo(&repos);
        let mut git = GitReader::new(SimulatorConfig::new(["x"])).expect("cache");
        let mut renderer = Renderer::default();
        let source = source(&repo.file_url());

        let first = render_tip(&mut git, &mut renderer, &source)
            .await
            .expect("renders");
        assert_eq!(
            Some(first.revision.clone()),
            repo.head("main").expect("head")
        );
        assert_eq!(first.images, ["registry.example.com/web/app:sha-1"]);

        repo.commit_files(
            "main",
            &[(RELEASE, "image:\n  tag: sha-2\n")],
            "release sha-2",
        )
        .expect("commit");
        let second = render_tip(&mut git, &mut renderer, &source)
            .await
            .expect("renders");
        assert_eq!(second.images, ["registry.example.com/web/app:sha-2"]);
        assert_ne!(second.fingerprint, first.fingerprint);

        repo.commit_files("main", &[("README.md", "docs\n")], "docs")
            .expect("commit");
        let third = render_tip(&mut git, &mut renderer, &source)
            .await
            .expect("renders");
        assert_ne!(third.revision, second.revision);
        assert_eq!(
            third.fingerprint, second.fingerprint,
            "unrelated files do not change manifests"
        );

        repo.commit_files(
            "main",
            &[(RELEASE, "image:\n  tag: \"sha-2\" # quoted now\n")],
            "style",
        )
        .expect("commit");
        let fourth = render_tip(&mut git, &mut renderer, &source)
            .await
            .expect("renders");
        assert_eq!(
            fourth.fingerprint, second.fingerprint,
            "comments and quoting render nothing"
        );

        // A past revision named by commit id, as a sync operation may ask for.
        let old = Resolved {
            sha: first.revision.clone(),
            refname: None,
        };
        let mut fresh = GitReader::new(SimulatorConfig::new(["x"])).expect("cache");
        let again = Renderer::default()
            .render(&mut fresh, &source, &old)
            .await
            .expect("renders a past commit");
        assert_eq!(again.images, first.images);

        let mut missing = source.clone();
        missing.value_files.push("values-missing.yaml".into());
        let err = render_tip(&mut git, &mut renderer, &missing)
            .await
            .expect_err("missing file");
        assert!(err.to_string().contains("values-missing.yaml"), "{err}");
        missing.ignore_missing_value_files = true;
        render_tip(&mut git, &mut renderer, &missing)
            .await
            .expect("ignored");

        let mut with_param = source.clone();
        with_param.parameters = vec![("image.tag".into(), "hotfix-7".into())];
        let rendered = render_tip(&mut git, &mut renderer, &with_param)
            .await
            .expect("renders");
        assert_eq!(rendered.images, ["registry.example.com/web/app:hotfix-7"]);

        let err = git
            .resolve(&source.repo_url, "no-such-branch")
            .await
            .expect_err("unknown");
        assert!(matches!(err, Error::RevisionNotFound { .. }), "{err}");
    }

    #[tokio::test]
    async fn reads_through_http_with_basic_auth_and_keeps_the_password_out_of_errors() {
        let repos = RepoDir::new().expect("dir");
        repo(&repos);
        let http = HttpServer::start(&repos).expect("http server");
        let url = http.url("web-core");
        let creds = http.credentials();
        let good = SimulatorConfig::new(["x"]).git_auth(
            http.base_url(),
            GitAuth::Basic {
                username: creds.username.clone(),
                password: Secret::new(creds.password.clone()),
            },
        );
        let mut git = GitReader::new(good).expect("cache");
        let rendered = render_tip(&mut git, &mut Renderer::default(), &source(&url))
            .await
            .expect("renders over HTTP");
        assert_eq!(rendered.images, ["registry.example.com/web/app:sha-1"]);

        let wrong = "not-the-password-4711";
        let bad = SimulatorConfig::new(["x"]).git_auth(
            http.base_url(),
            GitAuth::Basic {
                username: creds.username.clone(),
                password: Secret::new(wrong),
            },
        );
        let git = GitReader::new(bad).expect("cache");
        let err = git.resolve(&url, "main").await.expect_err("rejected");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(wrong), "{shown}");
        assert!(!shown.contains(&creds.password), "{shown}");
    }

    #[tokio::test]
    async fn reads_through_ssh_with_a_key_and_strict_host_checking() {
        let repos = RepoDir::new().expect("dir");
        repo(&repos);
        let ssh = SshServer::start(&repos).expect("ssh server");
        let url = ssh.url("web-core");
        let config = SimulatorConfig::new(["x"]).git_auth(
            url.clone(),
            GitAuth::Ssh {
                private_key: ssh.authorized_key().private_key_path().to_path_buf(),
                known_hosts: Some(ssh.known_hosts_file().to_path_buf()),
            },
        );
        let mut git = GitReader::new(config).expect("cache");
        let rendered = render_tip(&mut git, &mut Renderer::default(), &source(&url))
            .await
            .expect("renders over SSH");
        assert_eq!(rendered.images, ["registry.example.com/web/app:sha-1"]);
    }
}
