//! The cluster verbs through the real binary against the test control plane: each test has
//! a namespace of its own, Promotions with a status patched in, and a kubeconfig whose
//! context defaults to that namespace.

use std::path::{Path, PathBuf};
use std::process::Output;

use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::config::Kubeconfig;
use promote_api::{Promotion, PromotionSpec};
use promote_testsupport::TestEnv;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-promote");

struct World {
    env: TestEnv,
    dir: tempfile::TempDir,
}

impl World {
    async fn start(prefix: &str) -> Self {
        let env = TestEnv::start(prefix).await.expect("test cluster");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut merged: Option<Kubeconfig> = None;
        for path in std::env::split_paths(env.control_plane.kubeconfig()) {
            let next = Kubeconfig::read_from(&path).expect("kubeconfig");
            merged = Some(match merged {
                None => next,
                Some(m) => m.merge(next).expect("merge"),
            });
        }
        let mut kubeconfig = merged.expect("a kubeconfig");
        for c in kubeconfig
            .contexts
            .iter_mut()
            .filter_map(|c| c.context.as_mut())
        {
            c.namespace = Some(env.ns().to_owned());
        }
        let text = serde_yaml::to_string(&kubeconfig).expect("yaml");
        std::fs::write(dir.path().join("kubeconfig"), text).expect("write kubeconfig");
        Self { env, dir }
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// Runs the plugin with `KUBECONFIG` naming the test's kubeconfig.
    async fn run(&self, args: &[&str]) -> Output {
        run_with(&self.kubeconfig(), args).await
    }

    fn api(&self) -> Api<Promotion> {
        self.env.api()
    }

    async fn create(&self, name: &str, status: Option<Value>) {
        let spec: PromotionSpec = serde_json::from_value(json!({
            "repository": {"url": "https://git.example/web-core.git"},
            "source": {"environment": "dev", "valuesFile": "deploy/dev.yaml"},
            "target": {"environment": "prod", "valuesFile": "deploy/prod.yaml"},
        }))
        .expect("spec");
        let api = self.api();
        api.create(&PostParams::default(), &Promotion::new(name, spec))
            .await
            .expect("create");
        if let Some(status) = status {
            api.patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": status})),
            )
            .await
            .expect("patch status");
        }
    }

    async fn read(&self, name: &str) -> Promotion {
        self.api().get(name).await.expect("get")
    }
}

async fn run_with(kubeconfig: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(BIN)
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .await
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(o));
    stdout(o)
}

fn record(version: &str, previous: &str, start: &str, end: &str, commit: &str) -> Value {
    json!({
        "kind": "Promotion", "version": version, "previousVersion": previous,
        "values": [version], "previousValues": [previous], "commit": commit,
        "approvedBy": "alice", "startedAt": start, "finishedAt": end,
        "result": "Succeeded", "message": format!("{version} is healthy in prod"),
    })
}

/// A manual lane whose source moved on to sha-2 after sha-1 was promoted.
fn awaiting() -> Value {
    let mut last = record(
        "sha-1",
        "sha-0",
        "2026-12-01T10:00:00Z",
        "2026-12-01T10:02:05Z",
        "1111111aaaaaaa",
    );
    last["note"] = json!("fixes the login redirect");
    last["changes"] = json!([{"commit": "2222222aaaaa0000", "author": "Dana Developer",
                              "subject": "ci: release sha-1"}]);
    last["changesComplete"] = json!(true);
    json!({
        "observedGeneration": 1,
        "phase": "AwaitingApproval",
        "message": "sha-2 waits for approval to go to prod (now sha-1)",
        "source": {"environment": "dev", "version": "sha-2", "sync": "Synced", "health": "Healthy"},
        "target": {"environment": "prod", "version": "sha-1", "sync": "Synced", "health": "Healthy"},
        "drift": {
            "drifted": true,
            "release": {"drifted": true, "message": "dev is at sha-2, prod at sha-1"},
            "source": {"gitVsLive": "Synced"},
            "target": {"gitVsLive": "Synced"},
        },
        "policy": {
            "source": {"application": "argocd/web-dev", "expectedSelfHeal": false, "selfHeal": false, "compliant": true},
            "target": {"application": "argocd/web-prod", "expectedSelfHeal": true, "selfHeal": false, "compliant": false,
                       "message": "turn self-heal on for argocd/web-prod"},
        },
        "lastPromotion": last,
        "history": [
            last,
            record("sha-0", "sha-x", "2026-11-30T09:00:00Z", "2026-11-30T09:00:45Z", "0000000bbbbbbb"),
        ],
        "conditions": [{
            "type": "Ready", "status": "False", "reason": "AwaitingApproval",
            "message": "sha-2 waits for approval", "lastTransitionTime": "2026-12-01T10:03:00Z",
            "observedGeneration": 1,
        }],
    })
}

#[tokio::test]
async fn get_prints_a_table_json_yaml_and_wide() {
    let w = World::start("plugin-get").await;
    w.create("web", Some(awaiting())).await;
    w.create("api", None).await;

    let table = ok(&w.run(&["get"]).await);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    let header: Vec<&str> = lines[0]
        .split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "FROM→TO",
            "SOURCE VERSION",
            "TARGET VERSION",
            "PHASE",
            "DRIFTED",
            "POLICY"
        ]
    );
    let web: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(
        web,
        [
            "web",
            "dev→prod",
            "sha-2",
            "sha-1",
            "AwaitingApproval",
            "Yes(release)",
            "Mismatch(prod)"
        ]
    );
    let api: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        api,
        ["api", "dev→prod", "-", "-", "-", "-", "-"],
        "no status yet"
    );

    let one: Value =
        serde_json::from_str(&ok(&w.run(&["get", "web", "-o", "json"]).await)).expect("json");
    assert_eq!(one["kind"], "Promotion");
    assert_eq!(one["status"]["source"]["version"], "sha-2");
    assert!(one["metadata"].get("managedFields").is_none());
    let list: Value =
        serde_yaml::from_str(&ok(&w.run(&["get", "-o", "yaml"]).await)).expect("yaml");
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2));

    let wide = ok(&w.run(&["get", "web", "-o", "wide"]).await);
    assert!(
        wide.contains("TRIGGER") && wide.contains("Manual"),
        "{wide}"
    );
    let all = ok(&w.run(&["get", "-A"]).await);
    assert!(all.starts_with("NAMESPACE"), "{all}");
    assert!(
        all.lines()
            .any(|l| l.starts_with(w.env.ns()) && l.contains(" web ")),
        "{all}"
    );

    // --kubeconfig wins over KUBECONFIG, as with kubectl.
    let flag = w.kubeconfig();
    let flag = flag.to_str().expect("utf-8 path");
    let out = run_with(
        Path::new("/nonexistent"),
        &["get", "web", "--kubeconfig", flag],
    )
    .await;
    assert!(ok(&out).contains("AwaitingApproval"));
    let missing = w.run(&["get", "nope"]).await;
    assert_eq!(missing.status.code(), Some(4), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("promotion nope not found"),
        "{}",
        stderr(&missing)
    );
    let empty = w.run(&["get", "-n", "promote-test-nothing-here"]).await;
    assert_eq!(ok(&empty), "");
    assert!(stderr(&empty).contains("No resources found in promote-test-nothing-here"));
}

#[tokio::test]
async fn describe_shows_the_lane_and_what_to_do_next() {
    let w = World::start("plugin-describe").await;
    w.create("web", Some(awaiting())).await;
    let text = ok(&w.run(&["describe", "web"]).await);
    for needle in [
        "Lane:         dev→prod (image.tag)",
        "dev (source): sha-2, Argo CD Synced/Healthy",
        "prod (target): sha-1",
        "Drift:        Yes(release)",
        "release: dev is at sha-2, prod at sha-1",
        "Policy:       Mismatch(prod)",
        "prod: self-heal off, expected on (argocd/web-prod): turn self-heal on",
        "Promotion sha-1 (from sha-0): Succeeded, commit 1111111, approved by alice",
        "started 2026-12-01T10:00:00Z",
        "approve sha-2: kubectl promote approve web sha-2\n",
        "fix the self-heal policy: turn self-heal on for argocd/web-prod",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    let condition = text
        .lines()
        .find(|l| l.trim_start().starts_with("Ready "))
        .map(|l| l.split_whitespace().collect::<Vec<_>>());
    let condition = condition.expect("a Ready condition row");
    assert_eq!(condition[..3], ["Ready", "False", "AwaitingApproval"]);
    assert_eq!(condition[4..], ["sha-2", "waits", "for", "approval"]);
    // Outside the context's namespace, the hint names the namespace.
    let elsewhere = w.env.control_plane.kubeconfig().to_owned();
    let out = run_with(
        Path::new(&elsewhere),
        &["describe", "web", "-n", w.env.ns()],
    )
    .await;
    let hint = format!("kubectl promote approve web sha-2 -n {}", w.env.ns());
    assert!(ok(&out).contains(&hint), "{}", stdout(&out));
}

#[tokio::test]
async fn approve_records_who_what_and_when() {
    let w = World::start("plugin-approve").await;
    w.create("web", Some(awaiting())).await;
    let before = jiff::Timestamp::now().as_second();

    let out = ok(&w.run(&["approve", "web", "--note", "fixes login"]).await);
    assert!(
        out.contains("approved sha-2 for prod by promote-admin"),
        "{out}"
    );
    let a = w.read("web").await.spec.approval.expect("approval");
    assert_eq!(a.version, "sha-2");
    assert_eq!(a.approved_by.as_deref(), Some("promote-admin"));
    assert_eq!(a.note.as_deref(), Some("fixes login"));
    let at = a.approved_at.expect("approvedAt").0.as_second();
    assert!(
        (before - 1..=before + 30).contains(&at),
        "approvedAt {at}, now {before}"
    );

    let refused = w.run(&["approve", "web", "sha-1"]).await;
    assert_eq!(refused.status.code(), Some(1));
    let err = stderr(&refused);
    assert!(
        err.contains("dev is at sha-2") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        w.read("web")
            .await
            .spec
            .approval
            .map(|a| a.version)
            .as_deref(),
        Some("sha-2")
    );

    let forced = w.run(&["--help"]).await;
    assert!(ok(&forced).contains("4   the Promotion does not exist"));
    ok(&w
        .run(&[
            "approve",
            "web",
            "sha-1",
            "--force",
            "--context",
            "promote-test-token",
        ])
        .await);
    let a = w.read("web").await.spec.approval.expect("approval");
    assert_eq!(a.version, "sha-1");
    assert_eq!(
        a.approved_by.as_deref(),
        Some("promote-token"),
        "the token context's user"
    );
    assert_eq!(a.note, None, "a new approval drops the old note");

    // The version is checked before anything is sent: a bad one is refused even for a
    // Promotion that does not exist.
    let bad = w.run(&["approve", "nope", "v1 beta"]).await;
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("is not a version"),
        "{}",
        stderr(&bad)
    );
    let missing = w.run(&["approve", "nope"]).await;
    assert_eq!(missing.status.code(), Some(4), "{}", stderr(&missing));
}

#[tokio::test]
async fn release_windows_in_approve_describe_and_history() {
    let w = World::start("plugin-windows").await;
    let mut status = awaiting();
    status["window"] = json!({"open": false, "window": "Allow 0 9 * * 1-4 for 8h (Europe/Berlin)",
                              "nextOpen": "2026-12-03T08:00:00Z"});
    status["history"][0]["windowOverridden"] = json!(true);
    w.create("web", Some(status)).await;
    w.api()
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"windows": [
                {"kind": "Allow", "schedule": "0 9 * * 1-4", "duration": "8h", "timeZone": "Europe/Berlin"},
                {"kind": "Deny", "schedule": "0 0 24 12 *", "duration": "48h"},
            ]}})),
        )
        .await
        .expect("windows");

    let text = ok(&w.run(&["describe", "web"]).await);
    for needle in [
        "Windows:      closed, opens at 2026-12-03T08:00:00Z (Allow 0 9 * * 1-4 for 8h (Europe/Berlin))\n",
        "  Allow 0 9 * * 1-4 for 8h (Europe/Berlin)\n  Deny 0 0 24 12 * for 48h (UTC)\n",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }

    let out = ok(&w.run(&["approve", "web"]).await);
    assert!(
        out.contains("note: the release windows are closed (they open at 2026-12-03T08:00:00Z); it moves then, or now with --override-window"),
        "{out}"
    );
    assert!(
        !w.read("web")
            .await
            .spec
            .approval
            .expect("approval")
            .override_window
    );

    let out = ok(&w
        .run(&[
            "approve",
            "web",
            "--override-window",
            "--note",
            "CVE-2026-1234",
        ])
        .await);
    assert!(
        out.contains("it moves even while the release windows are closed"),
        "{out}"
    );
    let a = w.read("web").await.spec.approval.expect("approval");
    assert!(a.override_window);
    assert_eq!(a.note.as_deref(), Some("CVE-2026-1234"));
    let text = ok(&w.run(&["describe", "web"]).await);
    assert!(
        text.contains(", overriding closed release windows once\n"),
        "{text}"
    );

    // A new approval without the flag drops the override.
    ok(&w.run(&["approve", "web"]).await);
    assert!(
        !w.read("web")
            .await
            .spec
            .approval
            .expect("approval")
            .override_window
    );

    let text = ok(&w.run(&["history", "web"]).await);
    assert!(
        text.contains(
            "sha-1 Promotion Succeeded:\n  approved by alice: fixes the login redirect\n  moved while the release windows were closed: the approval said overrideWindow\n"
        ),
        "{text}"
    );
    let json: Vec<Value> =
        serde_json::from_str(&ok(&w.run(&["history", "web", "-o", "json"]).await)).expect("JSON");
    assert_eq!(json[0]["windowOverridden"], json!(true));
    assert_eq!(json[1].get("windowOverridden"), None);
}

#[tokio::test]
async fn pin_unpin_suspend_and_resume_set_the_spec() {
    let w = World::start("plugin-pin").await;
    w.create("web", Some(awaiting())).await;

    let out = ok(&w.run(&["pin", "web", "sha-0"]).await);
    assert!(out.contains("prod pinned at sha-0"), "{out}");
    assert_eq!(w.read("web").await.spec.pin.as_deref(), Some("sha-0"));
    assert!(ok(&w.run(&["pin", "web", "sha-0"]).await).contains("already pinned"));
    let bad = w.run(&["pin", "web", "-bad"]).await;
    assert_eq!(bad.status.code(), Some(2), "clap takes -bad for a flag");
    let bad = w.run(&["pin", "web", "a/b"]).await;
    assert_eq!(bad.status.code(), Some(1), "{}", stderr(&bad));
    assert_eq!(w.read("web").await.spec.pin.as_deref(), Some("sha-0"));

    assert!(ok(&w.run(&["unpin", "web"]).await).contains("prod follows dev again"));
    assert_eq!(w.read("web").await.spec.pin, None);
    assert!(ok(&w.run(&["unpin", "web"]).await).contains("not pinned"));

    assert!(ok(&w.run(&["suspend", "web"]).await).contains("suspended"));
    assert!(w.read("web").await.spec.suspend);
    let text = ok(&w.run(&["describe", "web"]).await);
    assert!(
        text.contains("resume the lane: kubectl promote resume web"),
        "{text}"
    );
    assert!(ok(&w.run(&["resume", "web"]).await).contains("resumed"));
    assert!(!w.read("web").await.spec.suspend);
    let missing = w.run(&["suspend", "nope"]).await;
    assert_eq!(missing.status.code(), Some(4));
}

#[tokio::test]
async fn reset_asks_for_a_new_reset_each_time() {
    let w = World::start("plugin-reset").await;
    w.create("web", Some(awaiting())).await;
    let out = ok(&w.run(&["reset", "web"]).await);
    assert!(
        out.contains("reset of dev to prod's version requested (id "),
        "{out}"
    );
    let first = w.read("web").await.spec.reset.expect("spec.reset");
    assert!(first.requested_at.is_some());
    assert!(first.requested_by.is_some(), "the kubeconfig names a user");
    assert!(out.contains(&first.id), "{out}");
    // Another request is another id, so the operator acts on it again.
    let next = wait_for_new_id(&w, &first.id).await;
    assert_ne!(next, first.id);
    let missing = w.run(&["reset", "nope"]).await;
    assert_eq!(missing.status.code(), Some(4));
}

/// Asks again until the id differs (ids are milliseconds; two calls can share one).
async fn wait_for_new_id(w: &World, old: &str) -> String {
    for _ in 0..20 {
        ok(&w.run(&["reset", "web"]).await);
        let id = w.read("web").await.spec.reset.expect("spec.reset").id;
        if id != old {
            return id;
        }
    }
    panic!("every reset request got id {old}");
}

#[tokio::test]
async fn history_is_a_table_newest_first() {
    let w = World::start("plugin-history").await;
    w.create("web", Some(awaiting())).await;
    w.create("api", None).await;
    let text = ok(&w.run(&["history", "web"]).await);
    let (table, notes) = text
        .split_once("\nRelease notes:\n")
        .expect("release notes");
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        notes.contains(
            "sha-1 Promotion Succeeded:\n  approved by alice: fixes the login redirect\n"
        ),
        "{notes}"
    );
    assert!(
        notes.contains(
            "  changes since sha-0:\n    2222222aaaaa ci: release sha-1 (Dana Developer)\n"
        ),
        "{notes}"
    );
    let json: Vec<serde_json::Value> =
        serde_json::from_str(&ok(&w.run(&["history", "web", "-o", "json"]).await)).expect("JSON");
    assert_eq!(json.len(), 2);
    assert_eq!(json[0]["note"], "fixes the login redirect");
    let yaml = ok(&w.run(&["history", "web", "-o", "yaml"]).await);
    assert!(
        yaml.contains("subject: 'ci: release sha-1'")
            || yaml.contains("subject: \"ci: release sha-1\""),
        "{yaml}"
    );
    assert!(
        lines[0].starts_with("STARTED") && lines[0].contains("APPROVED BY"),
        "{text}"
    );
    let first: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        first[..8],
        [
            "2026-12-01T10:00:00Z",
            "Promotion",
            "sha-1",
            "sha-0",
            "Succeeded",
            "alice",
            "1111111",
            "2m5s"
        ]
    );
    assert!(
        lines[2].contains("sha-0") && lines[2].contains("45s"),
        "{text}"
    );
    assert!(ok(&w.run(&["history", "api"]).await).contains("no history yet"));
}

#[tokio::test]
async fn an_unreachable_api_server_is_a_temporary_failure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}\ncontexts:\n- name: c\n  context: {cluster: c, user: u, namespace: apps}\nusers:\n- name: u\n  user: {token: not-a-real-token}\n",
    )
    .expect("write");
    let out = run_with(&kubeconfig, &["get"]).await;
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("not-a-real-token"),
        "{}",
        stderr(&out)
    );
    let out = run_with(&kubeconfig, &["get", "--context", "missing"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[tokio::test]
async fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run_with(Path::new("/nonexistent"), &["completions", shell]).await;
        let script = ok(&out);
        assert!(
            script.contains("kubectl-promote") && script.contains("approve"),
            "{shell}"
        );
    }
    let out = run_with(Path::new("/nonexistent"), &["completions", "tcsh"]).await;
    assert_eq!(out.status.code(), Some(2));
}

/// A lane over a real git server (smart HTTP, basic auth) with its labelled Secret.
async fn lane_on_git(
    w: &World,
    name: &str,
    secret_labelled: bool,
) -> (
    promote_gitserver::HttpServer,
    promote_gitserver::BareRepo,
    promote_gitserver::RepoDir,
) {
    use k8s_openapi::api::core::v1::Secret;
    let release = |tag: &str| {
        format!(
            "# web in this environment.\nimage:\n  repository: registry.example/web\n  tag: {tag} # set by CI\n"
        )
    };
    let repos = promote_gitserver::RepoDir::new().expect("repos");
    let repo = repos
        .create(
            "web-core",
            &[
                ("deploy/dev.yaml", &release("sha-2")),
                ("deploy/prod.yaml", &release("sha-1")),
            ],
        )
        .expect("repository");
    let http = promote_gitserver::HttpServer::start(&repos).expect("git server");
    let creds = http.credentials().clone();
    let labels = if secret_labelled {
        json!({"promote.dev/credentials": "true"})
    } else {
        json!({})
    };
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "web-core-git", "labels": labels},
        "stringData": {"username": creds.username, "password": creds.password},
    }))
    .expect("secret");
    w.env
        .api::<Secret>()
        .create(&PostParams::default(), &secret)
        .await
        .expect("create the Secret");
    let spec: PromotionSpec = serde_json::from_value(json!({
        "repository": {"url": http.url("web-core"), "credentials": {"secretName": "web-core-git"}},
        "source": {"environment": "dev", "valuesFile": "deploy/dev.yaml"},
        "target": {"environment": "prod", "valuesFile": "deploy/prod.yaml"},
    }))
    .expect("spec");
    w.api()
        .create(&PostParams::default(), &Promotion::new(name, spec))
        .await
        .expect("create");
    (http, repo, repos)
}

#[tokio::test]
async fn diff_shows_the_edit_a_promotion_would_commit_and_pushes_nothing() {
    let w = World::start("plugin-diff").await;
    let (http, repo, _repos) = lane_on_git(&w, "web-prod", true).await;
    let cache = tempfile::tempdir().expect("cache");
    let before = repo.head("main").expect("head");
    let run = |args: &'static [&'static str]| {
        let (kubeconfig, cache) = (w.kubeconfig(), cache.path().to_owned());
        async move {
            tokio::process::Command::new(BIN)
                .args(args)
                .env("KUBECONFIG", kubeconfig)
                .env("XDG_CACHE_HOME", cache)
                .output()
                .await
                .expect("the binary runs")
        }
    };
    let out = ok(&run(&["diff", "web-prod"]).await);
    assert!(
        out.starts_with(
            "# promotion web-prod: prod sha-1 -> sha-2 from dev (deploy/dev.yaml), on main at "
        ),
        "{out}"
    );
    assert!(
        out.contains("--- a/deploy/prod.yaml\n+++ b/deploy/prod.yaml\n"),
        "{out}"
    );
    assert!(
        out.contains("\n-  tag: sha-1 # set by CI\n+  tag: sha-2 # set by CI\n"),
        "{out}"
    );
    let changed = |sign: char| {
        out.lines()
            .filter(|l| l.starts_with(sign) && !l.starts_with("---") && !l.starts_with("+++"))
            .count()
    };
    assert_eq!(
        (changed('-'), changed('+')),
        (1, 1),
        "only the value changes: {out}"
    );
    assert!(
        !out.contains(&http.credentials().password),
        "no secret in the output"
    );
    assert_eq!(repo.head("main").expect("head"), before, "nothing pushed");

    // Pinned: the diff is toward the pin.
    ok(&run(&["pin", "web-prod", "sha-0"]).await);
    let out = ok(&run(&["diff", "web-prod"]).await);
    assert!(
        out.contains("prod sha-1 -> sha-0 from the pin sha-0"),
        "{out}"
    );
    assert!(out.contains("+  tag: sha-0 # set by CI\n"), "{out}");
    ok(&run(&["unpin", "web-prod"]).await);

    // A person made prod what dev holds: nothing to change.
    repo.commit_files(
        "main",
        &[("deploy/prod.yaml", "# web in this environment.\nimage:\n  repository: registry.example/web\n  tag: sha-2 # set by CI\n")],
        "prod: sha-2 by hand",
    )
    .expect("commit");
    let out = ok(&run(&["diff", "web-prod"]).await);
    assert!(out.contains("prod already holds sha-2 at "), "{out}");
}

#[tokio::test]
async fn diff_refuses_an_unlabelled_secret_and_names_the_fix() {
    let w = World::start("plugin-diff-secret").await;
    let (_http, _repo, _repos) = lane_on_git(&w, "web-prod", false).await;
    let cache = tempfile::tempdir().expect("cache");
    let out = tokio::process::Command::new(BIN)
        .args(["diff", "web-prod"])
        .env("KUBECONFIG", w.kubeconfig())
        .env("XDG_CACHE_HOME", cache.path())
        .output()
        .await
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("is not marked as git credentials"), "{err}");
    assert!(
        err.contains("hint: kubectl label secret web-core-git -n "),
        "{err}"
    );
    let missing = tokio::process::Command::new(BIN)
        .args(["diff", "nope"])
        .env("KUBECONFIG", w.kubeconfig())
        .output()
        .await
        .expect("the binary runs");
    assert_eq!(missing.status.code(), Some(4), "{}", stderr(&missing));
}
