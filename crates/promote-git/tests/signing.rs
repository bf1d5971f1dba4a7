//! Signed commits: every commit the engine makes for a remote with a signing key carries an
//! SSH signature that the git CLI's `verify-commit` accepts against an allowed-signers file,
//! and only against the right key. Keys are made with `ssh-keygen`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Fixture, prod_path};
use promote_git::{
    Outcome, RemoteSpec, SECRET_SIGNING_KEY, SECRET_SIGNING_PASSPHRASE, SigningKey,
    SigningKeyError, Source, Target,
};

/// A key pair made by `ssh-keygen` in the fixture's directory.
struct KeyPair {
    private: String,
    public: String,
}

fn keygen(dir: &Path, name: &str, args: &[&str], passphrase: &str) -> KeyPair {
    let path = dir.join(name);
    let out = Command::new(common::which("ssh-keygen"))
        .args(args)
        .args(["-q", "-C", name, "-N", passphrase, "-f"])
        .arg(&path)
        .output()
        .expect("ssh-keygen runs");
    assert!(
        out.status.success(),
        "ssh-keygen {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |p: &Path| std::fs::read_to_string(p).expect("key file");
    KeyPair {
        private: read(&path),
        public: read(&path.with_extension("pub")).trim().to_owned(),
    }
}

/// An allowed-signers file that trusts `public` for the engine's committer.
fn allowed_signers(dir: &Path, name: &str, public: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("promote@localhost {public}\n")).expect("allowed signers");
    path
}

/// Whether `git verify-commit` accepts `commit` with only the keys in `allowed`.
fn verifies(bare: &Path, allowed: &Path, commit: &str) -> bool {
    let file = format!(
        "gpg.ssh.allowedSignersFile={}",
        allowed.to_str().expect("utf-8")
    );
    common::git_ok(
        bare,
        &["-c", "gpg.format=ssh", "-c", &file, "verify-commit", commit],
    )
}

fn signed(remote: RemoteSpec, key: &KeyPair, passphrase: Option<&str>) -> RemoteSpec {
    let key = SigningKey::from_openssh(key.private.as_bytes(), passphrase).expect("key signs");
    remote.with_signing(key)
}

fn committed(outcome: &Result<Outcome, promote_git::GitError>) -> String {
    match outcome {
        Ok(Outcome::Committed(c)) => c.commit.to_string(),
        other => panic!("expected a commit, got {other:?}"),
    }
}

#[tokio::test]
async fn a_promotion_is_signed_and_verifies_only_with_its_key() {
    let fx = Fixture::new(&["blog"]);
    let dir = fx.dir.path();
    let ours = keygen(dir, "ours", &["-t", "ed25519"], "");
    let other = keygen(dir, "other", &["-t", "ed25519"], "");
    let mut request = fx.request("blog");
    request.remote = signed(fx.remote(), &ours, None);
    let commit = committed(&fx.engine().promote(request).await);

    assert_eq!(fx.tip(), commit, "the signed commit is on the branch");
    let object = common::git(&fx.bare, &["cat-file", "commit", &commit]);
    assert!(
        object.contains("\ngpgsig -----BEGIN SSH SIGNATURE-----\n"),
        "{object}"
    );
    assert!(verifies(
        &fx.bare,
        &allowed_signers(dir, "ours.allowed", &ours.public),
        &commit
    ));
    assert!(
        !verifies(
            &fx.bare,
            &allowed_signers(dir, "other.allowed", &other.public),
            &commit
        ),
        "a commit signed by another key must not verify"
    );
}

#[tokio::test]
async fn a_batch_of_lanes_shares_one_signed_commit() {
    let apps = ["blog", "shop", "docs"];
    let fx = Fixture::new(&apps);
    let dir = fx.dir.path();
    let key = keygen(dir, "ecdsa", &["-t", "ecdsa", "-b", "256"], "");
    let remote = signed(fx.remote(), &key, None);
    let requests = apps
        .iter()
        .map(|app| common::request_for(remote.clone(), app))
        .collect();
    let outcomes = fx.engine().promote_many(requests).await;

    let commits: Vec<String> = outcomes.iter().map(committed).collect();
    assert!(commits.iter().all(|c| *c == commits[0]), "{commits:?}");
    let Ok(Outcome::Committed(c)) = &outcomes[0] else {
        unreachable!("checked above")
    };
    assert_eq!(c.batch_size, apps.len());
    assert!(verifies(
        &fx.bare,
        &allowed_signers(dir, "ecdsa.allowed", &key.public),
        &commits[0]
    ));
}

#[tokio::test]
async fn lanes_with_different_keys_or_none_never_share_a_commit() {
    let fx = Fixture::new(&["blog", "shop", "docs"]);
    let dir = fx.dir.path();
    let a = keygen(dir, "a", &["-t", "ed25519"], "");
    let b = keygen(dir, "b", &["-t", "ed25519"], "");
    let requests = vec![
        common::request_for(signed(fx.remote(), &a, None), "blog"),
        common::request_for(signed(fx.remote(), &b, None), "shop"),
        common::request_for(fx.remote(), "docs"),
    ];
    let outcomes = fx.engine().promote_many(requests).await;
    let commits: Vec<String> = outcomes.iter().map(committed).collect();
    assert_eq!(fx.commit_count(), 4, "three commits on the initial one");
    let allowed_a = allowed_signers(dir, "a.allowed", &a.public);
    let allowed_b = allowed_signers(dir, "b.allowed", &b.public);
    assert!(verifies(&fx.bare, &allowed_a, &commits[0]));
    assert!(!verifies(&fx.bare, &allowed_b, &commits[0]));
    assert!(verifies(&fx.bare, &allowed_b, &commits[1]));
    assert!(!verifies(&fx.bare, &allowed_a, &commits[1]));
    let unsigned = common::git(&fx.bare, &["cat-file", "commit", &commits[2]]);
    assert!(!unsigned.contains("gpgsig"), "{unsigned}");
}

#[tokio::test]
async fn a_rollback_is_signed_with_a_passphrase_protected_key() {
    let fx = Fixture::new(&["blog"]);
    let dir = fx.dir.path();
    let key = keygen(dir, "p384", &["-t", "ecdsa", "-b", "384"], "correct horse");
    let request = promote_git::PromotionRequest::new(
        signed(fx.remote(), &key, Some("correct horse")),
        "main",
        "web/blog-prod",
        Source::Values {
            label: "rollback".into(),
            values: vec!["prod-blog-0".into()],
        },
        Target::new(prod_path("blog"), &["image.tag"]).environment("prod"),
    )
    .log_file("deploy/CHANGELOG.md");
    let commit = committed(&fx.engine().promote(request).await);

    assert!(fx.show(&prod_path("blog")).contains("tag: \"prod-blog-0\""));
    assert!(verifies(
        &fx.bare,
        &allowed_signers(dir, "p384.allowed", &key.public),
        &commit
    ));
}

#[test]
fn keys_that_cannot_sign_are_refused_with_a_reason_and_never_printed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let locked = keygen(dir.path(), "locked", &["-t", "ed25519"], "s3cret-phrase");
    let body = locked
        .private
        .lines()
        .nth(1)
        .expect("a key body line")
        .to_owned();
    let rsa = keygen(dir.path(), "rsa", &["-t", "rsa", "-b", "2048"], "");
    let cases: [(&str, &[u8], Option<&str>, SigningKeyError); 5] = [
        (
            "an rsa key",
            rsa.private.as_bytes(),
            None,
            SigningKeyError::Unsupported("ssh-rsa".into()),
        ),
        (
            "wrong passphrase",
            locked.private.as_bytes(),
            Some("not-it"),
            SigningKeyError::WrongPassphrase,
        ),
        (
            "no passphrase",
            locked.private.as_bytes(),
            None,
            SigningKeyError::NeedsPassphrase,
        ),
        (
            "malformed",
            b"-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n",
            None,
            SigningKeyError::Malformed,
        ),
        (
            "a public key",
            locked.public.as_bytes(),
            None,
            SigningKeyError::Malformed,
        ),
    ];
    for (what, key, passphrase, expected) in cases {
        let err = SigningKey::from_openssh(key, passphrase).expect_err(what);
        assert_eq!(err, expected, "{what}");
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains(&body), "{what}: {shown}");
            assert!(!shown.contains("s3cret-phrase"), "{what}: {shown}");
        }
    }

    // From a Secret's data: a trailing newline on the passphrase is not part of it.
    let data = [
        (SECRET_SIGNING_KEY, locked.private.as_bytes()),
        (SECRET_SIGNING_PASSPHRASE, b"s3cret-phrase\n".as_slice()),
    ];
    let key = SigningKey::from_secret_data(data).expect("the passphrase decrypts the key");
    // A Secret written from a string may lose the key file's final newline, or gain CRs.
    for text in [
        locked.private.trim_end().to_owned(),
        locked.private.replace('\n', "\r\n"),
    ] {
        let read = SigningKey::from_openssh(text.as_bytes(), Some("s3cret-phrase"));
        assert_eq!(read.as_ref().map(SigningKey::identity), Ok(key.identity()));
    }
    assert_eq!(
        SigningKey::from_secret_data([(SECRET_SIGNING_PASSPHRASE, b"x".as_slice())]),
        Err(SigningKeyError::Missing)
    );
    assert_eq!(key.public_key(), locked.public);
    assert!(key.identity().starts_with("ssh-ed25519 SHA256:"), "{key}");
    let remote = RemoteSpec::new("https://git.example.com/r.git")
        .expect("url")
        .with_signing(key.clone());
    for shown in [format!("{key:?}"), key.to_string(), format!("{remote:?}")] {
        assert!(!shown.contains(&body), "{shown}");
        assert!(!shown.contains("s3cret-phrase"), "{shown}");
        assert!(shown.contains(key.identity()), "{shown}");
    }
}
