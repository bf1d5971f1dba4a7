//! The RBAC proof. A real operator runs one Promotion through a real promotion (approval,
//! commit, sync, Promoted) against the test control plane, a smart-HTTP git server and the
//! Argo CD simulator, as the chart's ServiceAccount: its client impersonates
//! `system:serviceaccount:<release namespace>:<ServiceAccount>`, so the API server sees
//! that identity on every request (and would authorize it as that identity, were RBAC
//! enforced). The operator's flags come from the Deployment the chart renders. Then the
//! control plane's audit log shows what the identity asked for, and the test checks both
//! ways against the rules the chart renders: every request is allowed, and every grant was
//! used, except those docs/rbac.md lists as needed but not always used.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use promote_api::{Phase, Promotion, PromotionStatus};
use promote_argocd_sim::{ApplicationBuilder, GitAuth, Simulator, SimulatorConfig};
use promote_chart_tests::rbac::{self, Grant, Request};
use promote_chart_tests::{chart_dir, render_release};
use promote_controller::operator::{Operator, OperatorConfig, Stopped};
use promote_gitserver::{HttpServer, RepoDir};
use promote_lane::Timing;
use promote_lane::duration::parse_duration;
use promote_testsupport::{TestEnv, TestNamespace, wait_until};
use serde_json::{Value, json};
use serde_yaml::Value as Yaml;

const DEV_RELEASE: &str = "deploy/env/release-dev/web.yaml";
const PROD_RELEASE: &str = "deploy/env/release-prod/web.yaml";
const WAIT: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(200);
/// The heading of docs/rbac.md's table of grants the flow may leave unused.
const UNUSED_HEADING: &str = "## Granted, not always used";

fn release_file(tag: &str) -> String {
    format!("image:\n  tag: {tag}\n")
}

/// The value of `--flag=value` among the rendered args.
fn flag<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    let prefix = format!("{flag}=");
    args.iter().find_map(|a| a.strip_prefix(&prefix))
}

/// The operator's configuration from the rendered Deployment: what it watches, which
/// Applications it may touch, and its Lease (the pod's namespace, as POD_NAMESPACE gives
/// it). Only the requeue intervals are shortened, to keep the test quick; they change when
/// the operator calls, not what it calls.
fn operator_config(docs: &[Yaml], cache: &std::path::Path) -> OperatorConfig {
    let deploy = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("a Deployment");
    let args: Vec<String> = deploy["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_sequence()
        .expect("args")
        .iter()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect();
    let leader_election = !args.iter().any(|a| a == "--no-leader-election");
    OperatorConfig {
        cache_dir: cache.to_owned(),
        namespace: flag(&args, "--namespace").map(str::to_owned),
        metrics_addr: None,
        leader_election,
        lease_namespace: deploy["metadata"]["namespace"]
            .as_str()
            .expect("namespace")
            .to_owned(),
        lease_name: flag(&args, "--lease-name")
            .expect("--lease-name with leader election")
            .to_owned(),
        identity: "rbac-proof".to_owned(),
        lease_duration: flag(&args, "--lease-duration")
            .and_then(parse_duration)
            .expect("--lease-duration"),
        timing: Timing {
            idle: Duration::from_secs(2),
            active: Duration::from_millis(300),
        },
        branch_check: Duration::from_secs(2),
        head_ttl: Duration::from_millis(200),
        concurrency: flag(&args, "--concurrency")
            .and_then(|c| c.parse().ok())
            .expect("--concurrency"),
        application_namespaces: flag(&args, "--application-namespaces")
            .expect("--application-namespaces")
            .split(',')
            .map(str::to_owned)
            .collect(),
        allow_file_repositories: args.iter().any(|a| a == "--allow-file-repositories"),
        committer_email: "promote@localhost".to_owned(),
        git_http_expect_continue: true,
    }
}

/// A client that authenticates as the test's admin and impersonates `user`.
async fn client_as(env: &TestEnv, user: &str) -> Client {
    let mut config = env.control_plane.config().await.expect("client config");
    config.auth_info.impersonate = Some(user.to_owned());
    Client::try_from(config).expect("impersonating client")
}

async fn status(api: &Api<Promotion>) -> PromotionStatus {
    api.get("web-prod")
        .await
        .expect("read the Promotion")
        .status
        .unwrap_or_default()
}

async fn wait_phase(api: &Api<Promotion>, phase: Phase) {
    wait_until(format!("phase {phase}"), WAIT, POLL, async || {
        let s = status(api).await;
        if s.phase == Some(phase) {
            Ok(Some(()))
        } else {
            Err(format!("phase {:?}: {:?}", s.phase, s.message))
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}

/// The namespaces of one proof: the release's (the ServiceAccount and the Lease), the
/// lanes' (Promotions, the credentials Secret, Events) and Argo CD's (Applications).
struct Namespaces {
    env: TestEnv,
    lanes: TestNamespace,
    apps: TestNamespace,
}

/// Drives the seeds' flow through a Manual lane: in sync, a CI release, approval, and
/// the promotion to Promoted, with the operator running as `user`.
async fn promote_once(ns: &Namespaces, docs: &[Yaml], user: &str) {
    let (env, lanes, apps) = (&ns.env, &ns.lanes, &ns.apps);
    let repos = RepoDir::new().expect("repository directory");
    let repo = repos
        .create(
            "web-core",
            &[
                (
                    "deploy/charts/web-app/Chart.yaml",
                    "apiVersion: v2\nname: web-app\nversion: 0.1.0\n",
                ),
                (
                    "deploy/charts/web-app/values.yaml",
                    "image:\n  repository: registry.example.com/web/app\n  tag: latest\n",
                ),
                (DEV_RELEASE, &release_file("sha-1")),
                (PROD_RELEASE, &release_file("sha-1")),
            ],
        )
        .expect("web-core repository");
    let http = HttpServer::start(&repos).expect("HTTP git server");
    let (url, creds) = (http.url("web-core"), http.credentials().clone());
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "web-core-git", "labels": {"promote.dev/credentials": "true"}},
        "stringData": {"username": creds.username, "password": creds.password},
    }))
    .expect("secret");
    lanes
        .api::<Secret>()
        .create(&PostParams::default(), &secret)
        .await
        .expect("create the credentials Secret");

    let config = SimulatorConfig::new([apps.name()])
        .poll_interval(POLL)
        .health_delay(Duration::from_millis(300))
        .git_auth(
            http.base_url(),
            GitAuth::Basic {
                username: creds.username.clone(),
                password: promote_argocd_sim::Secret::new(creds.password.clone()),
            },
        );
    let sim = Simulator::start(env.client().clone(), config).expect("simulator");
    for (name, file) in [("web-dev", DEV_RELEASE), ("web-prod", PROD_RELEASE)] {
        ApplicationBuilder::new(name, &url, "deploy/charts/web-app")
            .value_file(format!("../../../{file}"))
            .auto_sync(name == "web-prod")
            .create(env.client(), apps.name())
            .await
            .unwrap_or_else(|e| panic!("{name} Application: {e}"));
    }

    let cache = tempfile::tempdir().expect("cache dir");
    let operator = Operator::new(
        client_as(env, user).await,
        operator_config(docs, cache.path()),
    )
    .expect("operator");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(operator.run(async move {
        let _ = stopped.await;
    }));

    let promotions: Api<Promotion> = lanes.api();
    let promotion: Promotion = serde_json::from_value(json!({
        "apiVersion": "promote.dev/v1alpha1", "kind": "Promotion",
        "metadata": {"name": "web-prod"},
        "spec": {
            "repository": {"url": url, "credentials": {"secretName": "web-core-git"}},
            "source": {"environment": "dev", "valuesFile": DEV_RELEASE,
                       "application": {"name": "web-dev", "namespace": apps.name()}},
            "target": {"environment": "prod", "valuesFile": PROD_RELEASE,
                       "application": {"name": "web-prod", "namespace": apps.name()}},
            "trigger": "Manual",
        },
    }))
    .expect("promotion");
    promotions
        .create(&PostParams::default(), &promotion)
        .await
        .expect("create the Promotion");
    wait_phase(&promotions, Phase::InSync).await;
    repo.commit_files(
        "main",
        &[(DEV_RELEASE, &release_file("sha-2"))],
        "ci: release sha-2",
    )
    .expect("CI commit");
    wait_phase(&promotions, Phase::AwaitingApproval).await;
    promotions
        .patch(
            "web-prod",
            &PatchParams::default(),
            &Patch::Merge(
                &json!({"spec": {"approval": {"version": "sha-2", "approvedBy": "oncall-lead"}}}),
            ),
        )
        .await
        .expect("approve");
    wait_phase(&promotions, Phase::Promoted).await;
    assert_eq!(
        repo.read_file("main", PROD_RELEASE)
            .expect("read prod")
            .as_deref(),
        Some(release_file("sha-2").as_str()),
        "the promotion reached Git"
    );

    let _ = stop.send(());
    let stopped = running.await.expect("operator task").expect("operator ran");
    assert_eq!(stopped, Stopped::Shutdown);
    sim.stop().await;
}

/// Waits until the audit log holds a request made after the operator stopped (a read of a
/// ConfigMap that does not exist, named uniquely), so every request of the operator's is
/// in it, then returns what `user` asked for.
async fn audited_after_marker(env: &TestEnv, user: &str) -> rbac::Audited {
    let log = env
        .control_plane
        .audit_log()
        .expect("the test control plane's audit log (a cluster from KUBECONFIG has none)");
    let marker = format!("rbac-proof-marker-{}", env.ns());
    let _ = env
        .api::<ConfigMap>()
        .get_opt(&marker)
        .await
        .expect("marker read");
    wait_until("the marker reaches the audit log", WAIT, POLL, async || {
        let text = std::fs::read_to_string(&log).map_err(|e| e.to_string())?;
        Ok::<_, String>(text.contains(&marker).then_some(()))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    rbac::audited(&log, user).unwrap_or_else(|e| panic!("{e}"))
}

/// Checks the audited requests against the grants, both ways; returns every finding.
fn findings(
    requests: &[Request],
    paths: &[String],
    grants: &[Grant],
    documented: &std::collections::BTreeSet<(String, String, String)>,
) -> Vec<String> {
    let mut out = Vec::new();
    for req in requests {
        if !grants.iter().any(|g| g.allows(req)) {
            out.push(format!("used but not granted by the chart: {req}"));
        }
    }
    for path in paths {
        if !rbac::default_non_resource(path) {
            out.push(format!(
                "used, and no default ClusterRole grants it: GET {path}"
            ));
        }
    }
    for grant in grants {
        let used = requests.iter().any(|r| grant.allows(r));
        if !used && !documented.contains(&grant.key()) {
            out.push(format!(
                "granted but not used, and not listed under {UNUSED_HEADING:?} in docs/rbac.md: {grant}"
            ));
        }
    }
    for (verb, resource, group) in documented {
        if !grants
            .iter()
            .any(|g| &g.verb == verb && &g.resource == resource && &g.group == group)
        {
            out.push(format!(
                "docs/rbac.md lists {verb} {resource} ({group:?}), which the chart does not grant"
            ));
        }
    }
    out
}

async fn prove(prefix: &str, scope: &str) {
    let env = TestEnv::start(prefix).await.expect("test environment");
    let client = env.client().clone();
    let lanes = TestNamespace::create(
        env.control_plane,
        client.clone(),
        &format!("{prefix}-lanes"),
    )
    .await
    .expect("lanes namespace");
    let apps = TestNamespace::create(env.control_plane, client, &format!("{prefix}-apps"))
        .await
        .expect("Argo CD namespace");
    let mut values = json!({"rbac": {"scope": scope}, "applicationNamespaces": [apps.name()]});
    if scope == "namespaced" {
        values["watchNamespace"] = Value::from(lanes.name());
    }
    let release = env.ns().to_owned();
    let docs = render_release(values, &release, &release).expect("render");
    let sa = docs
        .iter()
        .find(|d| d["kind"] == "ServiceAccount")
        .and_then(|d| d["metadata"]["name"].as_str())
        .expect("a ServiceAccount")
        .to_owned();
    let user = format!("system:serviceaccount:{release}:{sa}");
    let grants = rbac::grants(&docs, &release, &sa).unwrap_or_else(|e| panic!("{e}"));
    assert!(!grants.is_empty(), "the chart grants {user} nothing");

    let ns = Namespaces { env, lanes, apps };
    promote_once(&ns, &docs, &user).await;
    let audited = audited_after_marker(&ns.env, &user).await;
    assert!(
        !audited.requests.is_empty(),
        "no request by {user} in the audit log"
    );

    let doc_path = chart_dir().join("../../docs/rbac.md");
    let doc = std::fs::read_to_string(&doc_path).expect("docs/rbac.md");
    let documented =
        rbac::documented_unused(&doc, UNUSED_HEADING).unwrap_or_else(|e| panic!("{e}"));
    let requests: Vec<Request> = audited.requests.into_iter().collect();
    let paths: Vec<String> = audited.paths.into_iter().collect();
    let found = findings(&requests, &paths, &grants, &documented);
    let used: Vec<String> = requests.iter().map(ToString::to_string).collect();
    println!("requests by {user}:\n  {}", used.join("\n  "));
    assert!(
        found.is_empty(),
        "RBAC of rbac.scope={scope} drifted from what the operator does:\n  {}\n\nrequests by {user}:\n  {}",
        found.join("\n  "),
        used.join("\n  ")
    );
    let Namespaces {
        env: _env,
        lanes,
        apps,
    } = ns;
    lanes.delete().await.expect("delete the lanes namespace");
    apps.delete().await.expect("delete the Argo CD namespace");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_scope_grants_exactly_what_the_operator_uses() {
    prove("rbac-cluster", "cluster").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaced_scope_grants_exactly_what_the_operator_uses() {
    prove("rbac-namespaced", "namespaced").await;
}
