//! What the bench creates: the lanes' repositories and git server, their Applications and
//! Promotions, and the Application status writes that stand in for Argo CD.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use promote_api::Promotion;
use promote_argocd_sim::ApplicationBuilder;
use promote_gitserver::{BareRepo, HttpServer, RepoDir};
use promote_testsupport::TestEnv;
use serde_json::{Value, json};

use crate::Res;

pub const OLD_TAG: &str = "v1";
pub const NEW_TAG: &str = "v2";
const CREATE_CONCURRENCY: usize = 16;

/// A lane's values file at `tag`.
pub fn release(tag: &str) -> String {
    format!("image:\n  tag: {tag}\n")
}

/// One lane: app `app` of repository `repo`, dev → prod.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lane {
    pub repo: usize,
    pub app: usize,
}

impl Lane {
    /// Every lane of `repo_count` repositories with `apps` each.
    pub fn all(repo_count: usize, apps: usize) -> Vec<Lane> {
        (0..repo_count)
            .flat_map(|repo| (0..apps).map(move |app| Lane { repo, app }))
            .collect()
    }
    pub fn repo_name(repo: usize) -> String {
        format!("team-{repo:02}")
    }
    pub fn name(self) -> String {
        format!("t{:02}-app-{:02}", self.repo, self.app)
    }
    pub fn application(self, env: &str) -> String {
        format!("{}-{env}", self.name())
    }
    pub fn file(self, env: &str) -> String {
        format!("deploy/env/release-{env}/app-{:02}.yaml", self.app)
    }
    fn image(self, tag: &str) -> String {
        format!(
            "registry.example.com/{}/app-{:02}:{tag}",
            Self::repo_name(self.repo),
            self.app
        )
    }
}

/// The bare repositories, each holding every lane's dev and prod file at [`OLD_TAG`], served
/// over smart HTTP.
#[derive(Debug)]
pub struct Git {
    // Field order is drop order: the server stops before its directory goes.
    http: HttpServer,
    _dir: RepoDir,
    pub repos: Arc<Vec<BareRepo>>,
    pub urls: Vec<String>,
    tips: Vec<String>,
}

impl Git {
    /// Creates the repositories and starts the server.
    pub async fn serve(repo_count: usize, apps: usize) -> Res<Self> {
        let (repos, dir, http) = tokio::task::spawn_blocking(move || -> Res<_> {
            let dir = RepoDir::new()?;
            let mut repos = Vec::new();
            for r in 0..repo_count {
                let files: Vec<(String, String)> = (0..apps)
                    .flat_map(|app| {
                        let lane = Lane { repo: r, app };
                        ["dev", "prod"].map(|env| (lane.file(env), release(OLD_TAG)))
                    })
                    .collect();
                let files: Vec<(&str, &str)> = files
                    .iter()
                    .map(|(p, c)| (p.as_str(), c.as_str()))
                    .collect();
                repos.push(dir.create(&Lane::repo_name(r), &files)?);
            }
            let http = HttpServer::start(&dir)?;
            Ok((repos, dir, http))
        })
        .await??;
        let urls: Vec<String> = repos.iter().map(|r| http.url(r.name())).collect();
        let tips: Vec<String> = repos
            .iter()
            .map(|r| r.head("main")?.ok_or_else(|| "empty repository".into()))
            .collect::<Res<_>>()?;
        Ok(Self {
            http,
            _dir: dir,
            repos: Arc::new(repos),
            urls,
            tips,
        })
    }

    /// The Secret `git` every Promotion names, holding the server's credentials.
    pub async fn create_secret(&self, env: &TestEnv) -> Res<()> {
        let creds = self.http.credentials().clone();
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": "git", "labels": {promote_api::CREDENTIALS_LABEL: "true"}},
            "stringData": {"username": creds.username, "password": creds.password},
        }))?;
        env.api::<Secret>()
            .create(&PostParams::default(), &secret)
            .await?;
        Ok(())
    }
}

/// Application status as Argo CD reports it after a successful sync to `revision`, reconciled
/// after the sync finished (so the operator trusts its health).
fn synced_status(lane: Lane, revision: &str, tag: &str) -> Value {
    let at = jiff::Timestamp::now().to_string();
    json!({
        "sync": {"status": "Synced", "revision": revision},
        "health": {"status": "Healthy"},
        "operationState": {
            "phase": "Succeeded",
            "message": "successfully synced (all tasks run)",
            "startedAt": at,
            "finishedAt": at,
            "syncResult": {"revision": revision},
        },
        "reconciledAt": at,
        "summary": {"images": [lane.image(tag)]},
    })
}

fn application(lane: Lane, env: &str, url: &str, ns: &str, revision: &str) -> Res<DynamicObject> {
    let mut builder = ApplicationBuilder::new(lane.application(env), url, "deploy/charts/app")
        .value_file(format!("../../env/release-{env}/app-{:02}.yaml", lane.app));
    if env == "prod" {
        builder = builder.auto_sync(true);
    }
    let mut object = builder.to_json(ns);
    object["status"] = synced_status(lane, revision, OLD_TAG);
    Ok(serde_json::from_value(object)?)
}

fn promotion(lane: Lane, url: &str, ns: &str) -> Res<Promotion> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "promote.dev/v1alpha1",
        "kind": "Promotion",
        "metadata": {"name": lane.name()},
        "spec": {
            "repository": {"url": url, "credentials": {"secretName": "git"}},
            "source": {"environment": "dev", "valuesFile": lane.file("dev"),
                       "application": {"name": lane.application("dev"), "namespace": ns}},
            "target": {"environment": "prod", "valuesFile": lane.file("prod"),
                       "application": {"name": lane.application("prod"), "namespace": ns}},
            "trigger": "Auto",
        },
    }))?)
}

/// Every lane's dev and prod Application, synced to its repository's tip; how long it took.
pub async fn create_applications(
    api: &Api<DynamicObject>,
    lanes: &[Lane],
    git: &Git,
    ns: &str,
) -> Res<Duration> {
    let mut objects = Vec::new();
    for lane in lanes {
        for e in ["dev", "prod"] {
            objects.push(application(
                *lane,
                e,
                &git.urls[lane.repo],
                ns,
                &git.tips[lane.repo],
            )?);
        }
    }
    create_all(api, objects).await
}

/// Every lane's Promotion (trigger Auto); how long it took.
pub async fn create_promotions(
    api: &Api<Promotion>,
    lanes: &[Lane],
    git: &Git,
    ns: &str,
) -> Res<Duration> {
    let objects = lanes
        .iter()
        .map(|l| promotion(*l, &git.urls[l.repo], ns))
        .collect::<Res<Vec<_>>>()?;
    create_all(api, objects).await
}

/// Creates `objects` with a few requests in flight at a time.
async fn create_all<K>(api: &Api<K>, objects: Vec<K>) -> Res<Duration>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let started = Instant::now();
    let results: Vec<Result<K, kube::Error>> = stream::iter(objects)
        .map(|o| {
            let api = api.clone();
            async move { api.create(&PostParams::default(), &o).await }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .collect()
        .await;
    for r in results {
        r?;
    }
    Ok(started.elapsed())
}

/// A merge patch of the Application's status (there is no status subresource), clearing the
/// refresh annotation the way Argo CD does when it has refreshed.
pub async fn report_sync(
    apps: &Api<DynamicObject>,
    lane: Lane,
    env: &str,
    revision: &str,
) -> Res<()> {
    let patch = json!({
        "metadata": {"annotations": {promote_argocd_sim::REFRESH_ANNOTATION: null}},
        "status": synced_status(lane, revision, NEW_TAG),
    });
    apps.patch(
        &lane.application(env),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}
