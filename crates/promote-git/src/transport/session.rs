//! One operation against a remote: the callbacks libgit2 calls (credentials, host keys, push
//! negotiation, progress), the operation's deadline, and the typing of what went wrong.

use std::cell::{Cell, RefCell};

use git2::{
    CertificateCheckStatus, Cred, CredentialType, ErrorClass, ErrorCode, Oid, RemoteCallbacks,
};

use crate::GitError;
use crate::auth::{Credentials, RemoteSpec, SshKeySource};
use crate::deadline::{Deadline, Limits};
use crate::error::HostKeyProblem;
use crate::url::Transport;

/// What the callbacks saw during one connection; read afterwards to classify failures.
#[derive(Default)]
pub(super) struct Seen {
    credential_calls: Cell<u32>,
    username_calls: Cell<u32>,
    auth_problem: RefCell<Option<String>>,
    host_key: RefCell<Option<(String, HostKeyProblem)>>,
    pub(super) rejected: RefCell<Vec<(String, String)>>,
    pub(super) remote_text: RefCell<String>,
    /// The remote's ref was not the parent the commit was built on.
    pub(super) stale: Cell<bool>,
    deadline_passed: Cell<bool>,
}

/// One operation against a remote: its spec, its deadlines, and what the callbacks observed.
pub(super) struct Session<'s> {
    spec: &'s RemoteSpec,
    limits: Limits,
    deadline: Deadline,
    /// For a push: the ref and the value it must still have on the remote.
    lease: Option<(String, Oid)>,
    pub(super) seen: Seen,
}

impl<'s> Session<'s> {
    /// Starts the operation's clock. Also makes sure libgit2's socket timeouts are set before
    /// any connection is opened (see `deadline`).
    pub(super) fn new(spec: &'s RemoteSpec, limits: Limits) -> Self {
        let limits = limits.effective();
        Self {
            spec,
            limits,
            deadline: Deadline::after(limits.operation),
            lease: None,
            seen: Seen::default(),
        }
    }

    /// Requires `refname` to still be `parent` on the remote when the push is negotiated.
    pub(super) fn with_lease(mut self, refname: String, parent: Oid) -> Self {
        self.lease = Some((refname, parent));
        self
    }

    fn repo_name(&self) -> String {
        self.spec.url.to_string()
    }

    /// Whether the operation ran out of time; remembered so the failure is typed as a timeout.
    fn out_of_time(&self) -> bool {
        if self.deadline.passed() {
            self.seen.deadline_passed.set(true);
        }
        self.seen.deadline_passed.get()
    }

    /// Callbacks for one libgit2 call. Credentials are offered once: libgit2 asks again after a
    /// rejection, and answering again would loop.
    pub(super) fn callbacks(&self) -> RemoteCallbacks<'_> {
        let mut cb = RemoteCallbacks::new();
        let seen = &self.seen;
        cb.credentials(move |_url, user_from_url, allowed| {
            if self.out_of_time() {
                return Err(git2::Error::from_str("operation deadline passed"));
            }
            self.credentials(user_from_url, allowed)
        });
        cb.certificate_check(move |cert, _host| {
            if self.out_of_time() {
                return Err(git2::Error::from_str("operation deadline passed"));
            }
            let Some(hostkey) = cert.as_hostkey() else {
                // X.509 (HTTPS): the TLS library's verdict stands.
                return Ok(CertificateCheckStatus::CertificatePassthrough);
            };
            let name = self.spec.url.known_hosts_name().unwrap_or_default();
            match self
                .spec
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
        cb.push_negotiation(move |updates| {
            if self.out_of_time() {
                return Err(git2::Error::from_str("operation deadline passed"));
            }
            let Some((refname, parent)) = &self.lease else {
                return Ok(());
            };
            // Like `git push --force-with-lease=<ref>:<parent>`: the remote must still be at the
            // commit ours was built on, whatever libgit2 thinks of fast-forwards.
            let moved = updates
                .iter()
                .any(|u| u.dst_refname_bytes() == refname.as_bytes() && u.src() != *parent);
            if moved {
                seen.stale.set(true);
                return Err(git2::Error::from_str(
                    "the remote branch moved since it was fetched",
                ));
            }
            Ok(())
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
            !self.out_of_time()
        });
        cb.transfer_progress(move |_| !self.out_of_time());
        cb
    }

    fn credentials(
        &self,
        user_from_url: Option<&str>,
        allowed: CredentialType,
    ) -> Result<Cred, git2::Error> {
        let spec = self.spec;
        let seen = &self.seen;
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
    }

    /// Turns a libgit2 failure into a typed error, using what the callbacks saw first.
    pub(super) fn classify(&self, e: &git2::Error) -> GitError {
        let repo = self.repo_name();
        if let Some((host, problem)) = self.seen.host_key.borrow().clone() {
            return GitError::HostKey { host, problem };
        }
        if let Some(why) = self.seen.auth_problem.borrow().clone() {
            return GitError::Auth { repo, message: why };
        }
        let message = self.spec.scrub(e.message());
        let lower = message.to_ascii_lowercase();
        if let Some(timeout) = self.timeout(e, &lower) {
            return timeout;
        }
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
        let auth_words = [
            "authentication",
            "401",
            "403",
            "permission denied",
            "private key",
            "passphrase",
            "publickey",
        ];
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

    /// A timed-out socket (libgit2 or libssh2), or the operation's own deadline.
    fn timeout(&self, e: &git2::Error, lower: &str) -> Option<GitError> {
        let host = self.spec.url.endpoint();
        if self.out_of_time() {
            return Some(GitError::Timeout {
                host,
                after: self.deadline.budget(),
            });
        }
        let socket = e.code() == ErrorCode::Timeout
            || lower.contains("timed out")
            || lower.contains("timeout");
        if !socket {
            return None;
        }
        let after = if lower.contains("connect") {
            self.limits.connect
        } else {
            self.limits.io
        };
        Some(GitError::Timeout { host, after })
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
