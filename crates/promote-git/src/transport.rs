//! Talking to the remote: authentication and host key callbacks, head check, fetch, push.

use std::cell::{Cell, RefCell};

use git2::{
    AutotagOption, CertificateCheckStatus, Cred, CredentialType, Direction, ErrorClass, ErrorCode,
    FetchOptions, Oid, PushOptions, Remote, RemoteCallbacks, Repository,
};
use tracing::debug;

use crate::GitError;
use crate::auth::{Credentials, RemoteSpec, SshKeySource};
use crate::error::HostKeyProblem;
use crate::url::Transport;

/// The local ref that mirrors the remote branch in the bare cache.
pub(crate) fn tracking_ref(branch: &str) -> String {
    format!("refs/remotes/origin/{branch}")
}

/// What the callbacks saw during one connection; read afterwards to classify failures.
#[derive(Default)]
struct Seen {
    credential_calls: Cell<u32>,
    username_calls: Cell<u32>,
    auth_problem: RefCell<Option<String>>,
    host_key: RefCell<Option<(String, HostKeyProblem)>>,
    rejected: RefCell<Vec<(String, String)>>,
    remote_text: RefCell<String>,
}

/// One operation against a remote: its spec plus what the callbacks observed.
pub(crate) struct Session<'s> {
    spec: &'s RemoteSpec,
    seen: Seen,
}

impl<'s> Session<'s> {
    pub(crate) fn new(spec: &'s RemoteSpec) -> Self {
        Self {
            spec,
            seen: Seen::default(),
        }
    }

    fn repo_name(&self) -> String {
        self.spec.url.to_string()
    }

    /// Callbacks for one libgit2 call. Credentials are offered once: libgit2 asks again after a
    /// rejection, and answering again would loop.
    fn callbacks(&self) -> RemoteCallbacks<'_> {
        let mut cb = RemoteCallbacks::new();
        let spec = self.spec;
        let seen = &self.seen;
        cb.credentials(move |_url, user_from_url, allowed| {
            let fail = |why: &str| {
                *seen.auth_problem.borrow_mut() = Some(why.to_string());
                Err(git2::Error::new(ErrorCode::Auth, ErrorClass::Callback, why))
            };
            if allowed.contains(CredentialType::USERNAME) {
                seen.username_calls.set(seen.username_calls.get() + 1);
                if seen.username_calls.get() > 1 {
                    return fail("the server refused the SSH user name");
                }
                return Cred::username(&ssh_user(spec, user_from_url));
            }
            seen.credential_calls.set(seen.credential_calls.get() + 1);
            if seen.credential_calls.get() > 1 {
                return fail("the server refused the configured credentials");
            }
            match &spec.credentials {
                Credentials::Anonymous => {
                    fail("the server asks for credentials and none are configured")
                }
                Credentials::Basic { username, password }
                    if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) =>
                {
                    Cred::userpass_plaintext(username, password.expose())
                }
                Credentials::Token { username, token }
                    if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) =>
                {
                    Cred::userpass_plaintext(
                        username.as_deref().unwrap_or("x-access-token"),
                        token.expose(),
                    )
                }
                Credentials::SshKey {
                    key, passphrase, ..
                } if allowed.contains(CredentialType::SSH_KEY) => {
                    let user = ssh_user(spec, user_from_url);
                    let passphrase = passphrase.as_ref().map(|p| p.expose());
                    match key {
                        SshKeySource::Path(path) => Cred::ssh_key(&user, None, path, passphrase),
                        SshKeySource::Memory(pem) => {
                            Cred::ssh_key_from_memory(&user, None, pem.expose(), passphrase)
                        }
                    }
                }
                other => fail(&format!(
                    "the server does not accept {} credentials",
                    other.kind()
                )),
            }
        });
        cb.certificate_check(move |cert, _host| {
            let Some(hostkey) = cert.as_hostkey() else {
                // X.509 (HTTPS): the TLS library's verdict stands.
                return Ok(CertificateCheckStatus::CertificatePassthrough);
            };
            let name = spec.url.known_hosts_name().unwrap_or_default();
            match spec
                .host_keys
                .check(&name, hostkey.hostkey(), hostkey.hash_sha256())
            {
                Ok(()) => Ok(CertificateCheckStatus::CertificateOk),
                Err(problem) => {
                    *seen.host_key.borrow_mut() = Some((name, problem));
                    Err(git2::Error::new(
                        ErrorCode::Certificate,
                        ErrorClass::Ssh,
                        "SSH host key refused",
                    ))
                }
            }
        });
        cb.push_update_reference(move |refname, status| {
            if let Some(reason) = status {
                seen.rejected
                    .borrow_mut()
                    .push((refname.to_string(), reason.to_string()));
            }
            Ok(())
        });
        cb.sideband_progress(move |text| {
            let mut buf = seen.remote_text.borrow_mut();
            if buf.len() < 4096 {
                buf.push_str(&String::from_utf8_lossy(text));
            }
            true
        });
        cb
    }

    /// Turns a libgit2 failure into a typed error, using what the callbacks saw first.
    fn classify(&self, e: &git2::Error) -> GitError {
        let repo = self.repo_name();
        if let Some((host, problem)) = self.seen.host_key.borrow().clone() {
            return GitError::HostKey { host, problem };
        }
        if let Some(why) = self.seen.auth_problem.borrow().clone() {
            return GitError::Auth { repo, message: why };
        }
        let message = self.spec.scrub(e.message());
        let lower = message.to_ascii_lowercase();
        let auth_words = [
            "authentication",
            "401",
            "403",
            "permission denied",
            "private key",
            "passphrase",
            "publickey",
        ];
        match e.code() {
            ErrorCode::Auth => return GitError::Auth { repo, message },
            ErrorCode::Certificate => {
                return GitError::Auth {
                    repo,
                    message: format!("TLS certificate refused: {message}"),
                };
            }
            ErrorCode::NotFound if self.spec.url.transport() == Transport::Local => {
                return GitError::NotFound {
                    repo: repo.clone(),
                    what: "repository".into(),
                };
            }
            _ => {}
        }
        if lower.contains("404")
            || lower.contains("repository not found")
            || lower.contains("does not appear to be a git repository")
            || lower.contains("could not find repository")
        {
            return GitError::NotFound {
                repo,
                what: "repository".into(),
            };
        }
        match e.class() {
            ErrorClass::Ssh | ErrorClass::Http | ErrorClass::Net
                if auth_words.iter().any(|w| lower.contains(w)) =>
            {
                GitError::Auth { repo, message }
            }
            ErrorClass::Net
            | ErrorClass::Http
            | ErrorClass::Ssh
            | ErrorClass::Os
            | ErrorClass::Ssl
            | ErrorClass::Zlib
            | ErrorClass::Callback => GitError::Network { repo, message },
            _ => GitError::Git { repo, message },
        }
    }
}

fn ssh_user(spec: &RemoteSpec, user_from_url: Option<&str>) -> String {
    let configured = match &spec.credentials {
        Credentials::SshKey { username, .. } => username.clone(),
        _ => None,
    };
    configured
        .or_else(|| user_from_url.map(str::to_string))
        .unwrap_or_else(|| "git".to_string())
}

fn remote_head_in(heads: &[git2::RemoteHead<'_>], branch: &str) -> Option<Oid> {
    let name = format!("refs/heads/{branch}");
    heads.iter().find(|h| h.name() == name).map(|h| h.oid())
}

/// libgit2 reports a missing local path as an unsupported protocol; say what it is.
fn check_local(spec: &RemoteSpec) -> Result<(), GitError> {
    match spec.url.local_path() {
        Some(path) if !path.is_dir() => Err(GitError::NotFound {
            repo: spec.url.to_string(),
            what: "repository".into(),
        }),
        _ => Ok(()),
    }
}

/// The branch's commit on the remote (`ls-remote`): one round trip, nothing downloaded.
pub(crate) fn remote_head(spec: &RemoteSpec, branch: &str) -> Result<Option<Oid>, GitError> {
    check_local(spec)?;
    let session = Session::new(spec);
    let mut remote = Remote::create_detached(spec.url.raw()).map_err(|e| session.classify(&e))?;
    let conn = remote
        .connect_auth(Direction::Fetch, Some(session.callbacks()), None)
        .map_err(|e| session.classify(&e))?;
    let heads = conn.list().map_err(|e| session.classify(&e))?;
    Ok(remote_head_in(heads, branch))
}

/// Brings the cache's tracking ref up to the remote branch, downloading only if it moved.
/// Returns the branch tip, or `None` when the remote has no such branch.
pub(crate) fn fetch(
    repo: &Repository,
    spec: &RemoteSpec,
    branch: &str,
) -> Result<Option<Oid>, GitError> {
    check_local(spec)?;
    let session = Session::new(spec);
    let mut remote = repo
        .remote_anonymous(spec.url.raw())
        .map_err(|e| session.classify(&e))?;
    let mut conn = remote
        .connect_auth(Direction::Fetch, Some(session.callbacks()), None)
        .map_err(|e| session.classify(&e))?;
    let heads = conn.list().map_err(|e| session.classify(&e))?;
    let Some(tip) = remote_head_in(heads, branch) else {
        return Ok(None);
    };
    let tracking = tracking_ref(branch);
    let local = repo.refname_to_id(&tracking).ok();
    if local != Some(tip) {
        if repo.find_commit(tip).is_err() {
            let refspec = format!("+refs/heads/{branch}:{tracking}");
            let mut opts = FetchOptions::new();
            opts.remote_callbacks(session.callbacks());
            opts.download_tags(AutotagOption::None);
            opts.update_fetchhead(false);
            conn.remote()
                .download(&[refspec.as_str()], Some(&mut opts))
                .map_err(|e| session.classify(&e))?;
        }
        repo.reference(&tracking, tip, true, "promote: fetch")
            .map_err(|e| session.classify(&e))?;
        debug!(repo = %spec.url, branch, tip = %tip, "fetched");
    }
    Ok(Some(tip))
}

/// Why a push did not land.
#[derive(Debug)]
pub(crate) enum PushFailure {
    /// The branch moved under us; fetch and rebuild.
    Race,
    /// Anything else; the error says whether to retry.
    Error(GitError),
}

/// Pushes `commit` (whose parent is `parent`, the fetched tip) to `refs/heads/<branch>`, never
/// forced. A ref the server rejects is an error.
pub(crate) fn push(
    repo: &Repository,
    spec: &RemoteSpec,
    branch: &str,
    commit: Oid,
    parent: Oid,
) -> Result<(), PushFailure> {
    if let Some(path) = spec.url.local_path() {
        return push_local(repo, spec, &path, branch, commit, parent);
    }
    let session = Session::new(spec);
    let mut remote = repo
        .remote_anonymous(spec.url.raw())
        .map_err(|e| PushFailure::Error(session.classify(&e)))?;
    let mut opts = PushOptions::new();
    opts.remote_callbacks(session.callbacks());
    let refspec = format!("{commit}:refs/heads/{branch}");
    if let Err(e) = remote.push(&[refspec.as_str()], Some(&mut opts)) {
        if e.code() == ErrorCode::NotFastForward {
            return Err(PushFailure::Race);
        }
        return Err(PushFailure::Error(session.classify(&e)));
    }
    let rejected = session.seen.rejected.borrow().first().cloned();
    if let Some((_, reason)) = rejected {
        let lower = reason.to_ascii_lowercase();
        let race = [
            "non-fast-forward",
            "fetch first",
            "failed to update ref",
            "cannot lock ref",
            "failed to lock",
            "stale info",
            "incorrect old value",
        ];
        if race.iter().any(|r| lower.contains(r)) {
            return Err(PushFailure::Race);
        }
        let remote_text = session.seen.remote_text.borrow().trim().to_string();
        let detail = if remote_text.is_empty() {
            reason
        } else {
            format!("{reason} ({remote_text})")
        };
        return Err(PushFailure::Error(GitError::PushRejected {
            repo: spec.url.to_string(),
            branch: branch.to_string(),
            reason: spec.scrub(&detail),
        }));
    }
    Ok(())
}

/// Pushes into a repository on this machine. libgit2's local transport moves the ref without
/// checking its old value, which could drop a concurrent writer's commit; here the objects are
/// copied as a pack and the ref is moved only if it still points at `parent` (the ref lock that
/// git itself uses makes this atomic).
fn push_local(
    repo: &Repository,
    spec: &RemoteSpec,
    path: &std::path::Path,
    branch: &str,
    commit: Oid,
    parent: Oid,
) -> Result<(), PushFailure> {
    let name = spec.url.to_string();
    let local = |e: git2::Error| {
        PushFailure::Error(GitError::Git {
            repo: name.clone(),
            message: spec.scrub(e.message()),
        })
    };
    let target = Repository::open_ext(
        path,
        git2::RepositoryOpenFlags::NO_SEARCH,
        std::iter::empty::<&std::ffi::OsStr>(),
    )
    .map_err(|_| {
        PushFailure::Error(GitError::NotFound {
            repo: name.clone(),
            what: "repository".into(),
        })
    })?;
    let refname = format!("refs/heads/{branch}");
    if !target.is_bare()
        && let Ok(head) = target.find_reference("HEAD")
        && head.symbolic_target().ok().flatten() == Some(refname.as_str())
    {
        return Err(PushFailure::Error(GitError::PushRejected {
            repo: name.clone(),
            branch: branch.to_string(),
            reason: "the branch is checked out in a non-bare repository; push to a bare repository"
                .into(),
        }));
    }
    let mut walk = repo.revwalk().map_err(local)?;
    walk.push(commit).map_err(local)?;
    walk.hide(parent).map_err(local)?;
    let mut pack = repo.packbuilder().map_err(local)?;
    pack.insert_walk(&mut walk).map_err(local)?;
    let odb = target.odb().map_err(local)?;
    let mut writer = odb.packwriter().map_err(local)?;
    let mut write_error = None;
    pack.foreach(
        |chunk| match std::io::Write::write_all(&mut writer, chunk) {
            Ok(()) => true,
            Err(e) => {
                write_error = Some(e);
                false
            }
        },
    )
    .map_err(local)?;
    if let Some(e) = write_error {
        return Err(PushFailure::Error(GitError::Git {
            repo: name.clone(),
            message: format!("writing the pack failed: {e}"),
        }));
    }
    writer.commit().map_err(local)?;
    match target.reference_matching(&refname, commit, true, parent, "promote: push") {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.code(),
                ErrorCode::Modified | ErrorCode::Locked | ErrorCode::NotFound
            ) =>
        {
            Err(PushFailure::Race)
        }
        Err(e) => Err(local(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &std::path::Path, args: &[&str]) {
        let ok = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .status()
            .expect("git runs")
            .success();
        assert!(ok, "git {args:?}");
    }

    #[test]
    fn local_push_is_compare_and_swap_on_the_old_tip() {
        let dir = tempfile::tempdir().expect("tmp");
        let work = dir.path().join("work");
        let bare = dir.path().join("r.git");
        std::fs::create_dir(&work).expect("mkdir");
        git(&work, &["init", "-q", "-b", "main"]);
        std::fs::write(work.join("a"), "1").expect("write");
        git(&work, &["add", "a"]);
        git(&work, &["commit", "-q", "-m", "one"]);
        git(dir.path(), &["clone", "-q", "--bare", "work", "r.git"]);
        let spec = RemoteSpec::new(bare.to_str().expect("utf-8")).expect("url");
        let cache = Repository::init_bare(dir.path().join("cache")).expect("cache");
        let tip = fetch(&cache, &spec, "main")
            .expect("fetch")
            .expect("branch");

        // Someone else moves the branch after our fetch.
        std::fs::write(work.join("b"), "2").expect("write");
        git(&work, &["add", "b"]);
        git(&work, &["commit", "-q", "-m", "two"]);
        git(
            &work,
            &["push", "-q", bare.to_str().expect("utf-8"), "main"],
        );

        let parent = cache.find_commit(tip).expect("tip");
        let sig = git2::Signature::now("p", "p@p").expect("sig");
        let ours = cache
            .commit(
                None,
                &sig,
                &sig,
                "ours",
                &parent.tree().expect("tree"),
                &[&parent],
            )
            .expect("commit");
        assert!(matches!(
            push(&cache, &spec, "main", ours, tip),
            Err(PushFailure::Race)
        ));
        let remote = Repository::open_bare(&bare).expect("open");
        let head = remote.refname_to_id("refs/heads/main").expect("main");
        assert_ne!(head, ours, "the other writer's commit is kept");
        assert_eq!(
            remote
                .find_commit(head)
                .expect("c")
                .summary()
                .ok()
                .flatten(),
            Some("two")
        );

        // On the new tip it lands.
        let tip = fetch(&cache, &spec, "main")
            .expect("fetch")
            .expect("branch");
        let parent = cache.find_commit(tip).expect("tip");
        let ours = cache
            .commit(
                None,
                &sig,
                &sig,
                "ours",
                &parent.tree().expect("tree"),
                &[&parent],
            )
            .expect("commit");
        push(&cache, &spec, "main", ours, tip).expect("push");
        assert_eq!(remote.refname_to_id("refs/heads/main").expect("main"), ours);
    }
}
