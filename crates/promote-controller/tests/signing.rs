//! Signed commits end to end: a lane whose signing Secret is not labelled as credentials, or
//! holds a wrong passphrase, is Stalled with SigningKeyError and commits nothing; fixed, the
//! Secret's change alone brings the lane back, and its promotion commit on the git server
//! passes `git verify-commit` with the key's allowed-signers file (and fails with another
//! key's).

mod world;

use std::path::Path;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use promote_api::conditions::reasons;
use promote_api::{CREDENTIALS_LABEL, Phase, conditions};
use serde_json::json;
use world::*;

/// An ed25519 key made by `ssh-keygen`: (private key text, public key line).
fn keygen(dir: &Path, name: &str, passphrase: &str) -> (String, String) {
    let path = dir.join(name);
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", passphrase, "-C", name, "-f"])
        .arg(&path)
        .output()
        .expect("ssh-keygen runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |p: &Path| std::fs::read_to_string(p).expect("key file");
    (
        read(&path),
        read(&path.with_extension("pub")).trim().to_owned(),
    )
}

/// Whether `git verify-commit` in `repo` accepts `commit` against an allowed-signers file
/// (`dir/name`) that holds only `public`.
fn verifies(dir: &Path, name: &str, repo: &Path, public: &str, commit: &str) -> bool {
    let allowed = dir.join(name);
    std::fs::write(&allowed, format!("promote@localhost {public}\n")).expect("allowed signers");
    let file = format!("gpg.ssh.allowedSignersFile={}", allowed.display());
    promote_gitserver::git()
        .current_dir(repo)
        .args(["-c", "gpg.format=ssh", "-c", &file, "verify-commit", commit])
        .output()
        .expect("git runs")
        .status
        .success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_lane_commits_only_with_its_key_and_verifies() {
    let w = World::start("signing", false).await;
    let keys = tempfile::tempdir().expect("key dir");
    let (private, public) = keygen(keys.path(), "promote", "right phrase");
    let (_, other) = keygen(keys.path(), "other", "");
    let secrets: Api<Secret> = w.env.api();
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "web-core-signing"},
        "stringData": {"signingKey": private, "signingPassphrase": "wrong phrase"},
    }))
    .expect("secret");
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("create the signing Secret");
    let patch = async |body: serde_json::Value| {
        secrets
            .patch(
                "web-core-signing",
                &PatchParams::default(),
                &Patch::Merge(&body),
            )
            .await
            .expect("patch the signing Secret");
    };
    let stalled_saying = async |text: &str| {
        let s = w
            .wait(&format!("Stalled at generation 1 saying {text:?}"), |s| {
                conditions::find(&s.conditions, "Stalled").is_some_and(|c| {
                    c.status == "True"
                        && c.observed_generation == Some(1)
                        && c.message.contains(text)
                })
            })
            .await;
        let stalled = conditions::find(&s.conditions, "Stalled").expect("Stalled");
        assert_eq!(stalled.reason, reasons::SIGNING_KEY_ERROR);
        stalled.message.clone()
    };

    let op = w.operator("op-a");
    let ci = w.release("sha-2");
    w.create_promotion(
        "Auto",
        json!({"repository": {
            "url": w.url,
            "credentials": {"secretName": "web-core-git"},
            "signing": {"secretName": "web-core-signing"},
        }}),
    )
    .await;
    stalled_saying("kubectl label secret web-core-signing").await;
    assert!(
        w.commits_since(&ci).is_empty(),
        "nothing committed unsigned"
    );

    // Labelled, the Secret's change alone wakes the lane: the passphrase is wrong.
    patch(json!({"metadata": {"labels": {CREDENTIALS_LABEL: "true"}}})).await;
    let message = stalled_saying("signingPassphrase does not decrypt signingKey").await;
    let key_line = private.lines().nth(1).expect("a key body line");
    for secret in [key_line, "wrong phrase", "right phrase"] {
        assert!(!message.contains(secret), "{message}");
    }
    assert!(
        w.commits_since(&ci).is_empty(),
        "nothing committed unsigned"
    );

    // The right passphrase: the lane promotes, signed by its key and no other.
    patch(json!({"stringData": {"signingPassphrase": "right phrase"}})).await;
    w.wait("sha-2 promoted", |s| {
        s.phase == Some(Phase::Promoted)
            && s.target.as_ref().and_then(|t| t.version.as_deref()) == Some("sha-2")
    })
    .await;
    let commits = w.commits_since(&ci);
    assert_eq!(commits.len(), 1, "{commits:?}");
    let commit = &commits[0].0;
    assert!(verifies(
        keys.path(),
        "ours",
        w.repo.path(),
        &public,
        commit
    ));
    assert!(
        !verifies(keys.path(), "theirs", w.repo.path(), &other, commit),
        "another key's allowed signers must not accept the commit"
    );
    op.stop().await;
    w.finish().await;
}
