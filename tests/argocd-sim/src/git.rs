//! Reading repositories the way Argo CD's repo server does, through the `git` CLI: a cheap
//! `ls-remote` for the tip, one bare cache per repository URL fetched on demand, and blob
//! reads at a commit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tempfile::TempDir;
use tokio::process::Command;

use crate::config::{GitAuth, SimulatorConfig};
use crate::error::{Error, Result};

/// A revision resolved on the remote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// Full commit id.
    pub sha: String,
    /// The ref it came from (`refs/heads/main`), or `None` for a commit id given as is.
    pub refname: Option<String>,
}

/// The git side of the simulator. Owned by the reconcile loop, so no locking.
#[derive(Debug)]
pub(crate) struct GitReader {
    root: TempDir,
    caches: HashMap<String, PathBuf>,
    config: SimulatorConfig,
}

impl GitReader {
    pub(crate) fn new(config: SimulatorConfig) -> Result<Self> {
        let root = tempfile::Builder::new()
            .prefix("argocd-sim-")
            .tempdir()
            .map_err(|e| Error::Io {
                context: "creating the git cache directory".into(),
                source: e,
            })?;
        Ok(Self {
            root,
            caches: HashMap::new(),
            config,
        })
    }

    /// Resolves `revision` (branch, tag, `HEAD`, or a full commit id) on the remote.
    pub(crate) async fn resolve(&self, url: &str, revision: &str) -> Result<Resolved> {
        let revision = revision.trim();
        if is_full_sha(revision) {
            return Ok(Resolved {
                sha: revision.to_ascii_lowercase(),
                refname: None,
            });
        }
        let patterns: Vec<String> = if revision.is_empty() || revision == "HEAD" {
            vec!["HEAD".into()]
        } else {
            let name = revision.strip_prefix("refs/heads/").unwrap_or(revision);
            vec![
                format!("refs/heads/{name}"),
                format!("refs/tags/{name}"),
                format!("refs/tags/{name}^{{}}"),
            ]
        };
        let mut args = vec!["ls-remote".to_owned(), "--".into(), url.into()];
        args.extend(patterns.iter().cloned());
        let out = self.run(url, None, &args).await?;
        let refs: Vec<(&str, &str)> = out.lines().filter_map(|l| l.split_once('\t')).collect();
        // Exact matches only (ls-remote patterns match ref name tails), branches first, then
        // peeled annotated tags, then lightweight tags.
        for pattern in &patterns {
            if let Some((sha, name)) = refs.iter().find(|(_, name)| *name == pattern.as_str()) {
                let refname = name.trim_end_matches("^{}").to_owned();
                return Ok(Resolved {
                    sha: (*sha).to_owned(),
                    refname: Some(refname),
                });
            }
        }
        Err(Error::RevisionNotFound {
            repo: redact_url(url),
            revision: revision.into(),
        })
    }

    /// Makes sure commit `sha` is in the cache of `url`, fetching only what is missing.
    /// Returns the cache's directory.
    pub(crate) async fn ensure(&mut self, url: &str, resolved: &Resolved) -> Result<PathBuf> {
        let dir = self.cache_dir(url).await?;
        if self.has_commit(&dir, &resolved.sha).await {
            return Ok(dir);
        }
        let mut attempts: Vec<Vec<String>> = Vec::new();
        if let Some(refname) = &resolved.refname {
            attempts.push(vec![format!(
                "+{refname}:refs/cache/{}",
                cache_ref(refname)
            )]);
        }
        // An older commit named by id (a sync to a past revision): every branch and tag
        // usually has it; some servers also serve a commit id directly.
        attempts.push(vec![
            "+refs/heads/*:refs/cache/heads/*".into(),
            "+refs/tags/*:refs/cache/tags/*".into(),
        ]);
        attempts.push(vec![resolved.sha.clone()]);
        let mut last_err = None;
        for refspecs in attempts {
            let mut args = vec![
                "fetch".to_owned(),
                "--quiet".into(),
                "--no-tags".into(),
                "--no-write-fetch-head".into(),
                "--".into(),
                url.into(),
            ];
            args.extend(refspecs);
            match self.run(url, Some(&dir), &args).await {
                Ok(_) if self.has_commit(&dir, &resolved.sha).await => return Ok(dir),
                Ok(_) => {}
                Err(e) => last_err = Some(e),
            }
        }
        Err(match last_err {
            Some(e @ (Error::GitRun { .. } | Error::Io { .. })) => e,
            _ => Error::RevisionNotFound {
                repo: redact_url(url),
                revision: resolved.sha.clone(),
            },
        })
    }

    /// Object id of `path` at `sha` in a cache, or `None` when the path does not exist there.
    pub(crate) async fn object_id(
        &self,
        dir: &Path,
        sha: &str,
        path: &str,
    ) -> Result<Option<String>> {
        let spec = if path.is_empty() {
            format!("{sha}^{{tree}}")
        } else {
            format!("{sha}:{path}")
        };
        let out = git()
            .args(["rev-parse", "--verify", "--quiet", &spec])
            .current_dir(dir)
            .output();
        let out = self.bounded("git rev-parse", out).await?;
        if out.status.success() {
            Ok(Some(String::from_utf8_lossy(&out.stdout).trim().to_owned()))
        } else {
            Ok(None)
        }
    }

    /// The content of blob `oid` in a cache, as text.
    pub(crate) async fn read_blob(&self, dir: &Path, oid: &str) -> Result<String> {
        let args = ["cat-file".to_owned(), "blob".into(), oid.into()];
        self.run("", Some(dir), &args).await
    }

    /// Forgets nothing on disk (objects are immutable); exists so a hard refresh re-fetches
    /// the branch even when the commit is cached, as Argo CD's hard refresh bypasses its cache.
    pub(crate) async fn refetch(&mut self, url: &str, resolved: &Resolved) -> Result<()> {
        let dir = self.cache_dir(url).await?;
        let Some(refname) = &resolved.refname else {
            return Ok(());
        };
        let args = vec![
            "fetch".to_owned(),
            "--quiet".into(),
            "--no-tags".into(),
            "--no-write-fetch-head".into(),
            "--".into(),
            url.into(),
            format!("+{refname}:refs/cache/{}", cache_ref(refname)),
        ];
        self.run(url, Some(&dir), &args).await.map(|_| ())
    }

    async fn has_commit(&self, dir: &Path, sha: &str) -> bool {
        let out = git()
            .args(["cat-file", "-e", &format!("{sha}^{{commit}}")])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        matches!(
            tokio::time::timeout(self.config.git_timeout, out).await,
            Ok(Ok(status)) if status.success()
        )
    }

    async fn cache_dir(&mut self, url: &str) -> Result<PathBuf> {
        if let Some(dir) = self.caches.get(url) {
            return Ok(dir.clone());
        }
        let dir = self.root.path().join(format!("{}.git", self.caches.len()));
        let args = [
            "init".to_owned(),
            "--bare".into(),
            "--quiet".into(),
            dir.to_string_lossy().into_owned(),
        ];
        self.run("", None, &args).await?;
        // No automatic gc in a cache that lives for one test.
        let args = ["config".to_owned(), "gc.auto".into(), "0".into()];
        self.run("", Some(&dir), &args).await?;
        self.caches.insert(url.to_owned(), dir.clone());
        Ok(dir)
    }

    /// Runs git with the credentials for `url` (when it talks to a remote) and returns stdout.
    async fn run(&self, url: &str, dir: Option<&Path>, args: &[String]) -> Result<String> {
        let described = describe(args);
        let mut cmd = git();
        cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        if let Some(dir) = dir {
            cmd.current_dir(dir);
        }
        let auth = if url.is_empty() {
            None
        } else {
            self.config.auth_for(url)
        };
        if let Some(auth) = auth {
            apply_auth(&mut cmd, auth);
        }
        let out = self.bounded(&described, cmd.output()).await?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            let stderr = String::from_utf8_lossy(&out.stderr);
            Err(Error::Git {
                command: described,
                status: out.status.to_string(),
                stderr: redact(&tail(&stderr), auth),
            })
        }
    }

    async fn bounded<F>(&self, described: &str, fut: F) -> Result<std::process::Output>
    where
        F: std::future::Future<Output = std::io::Result<std::process::Output>>,
    {
        match tokio::time::timeout(self.config.git_timeout, fut).await {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(e)) => Err(Error::GitRun {
                command: described.to_owned(),
                reason: format!("could not run git: {e}"),
            }),
            Err(_) => Err(Error::GitRun {
                command: described.to_owned(),
                reason: format!("timed out after {:?}", self.config.git_timeout),
            }),
        }
    }
}

/// The fixtures' git (`promote_gitserver::git`: no user or system configuration, English
/// messages), as a command that never prompts for a secret and dies with its handle.
fn git() -> Command {
    let mut cmd = Command::from(promote_gitserver::git());
    // Fail instead of asking; `apply_auth` supplies whatever credentials there are.
    cmd.env("GIT_ASKPASS", "/bin/false")
        .env("SSH_ASKPASS", "/bin/false")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// Hands credentials to git without putting them on a command line: a password through a
/// credential helper that reads the child's environment, a key through `GIT_SSH_COMMAND`.
fn apply_auth(cmd: &mut Command, auth: &GitAuth) {
    match auth {
        GitAuth::Basic { username, password } => {
            cmd.env("ARGOCD_SIM_GIT_USERNAME", username)
                .env("ARGOCD_SIM_GIT_PASSWORD", password.expose())
                .env("GIT_CONFIG_COUNT", "1")
                .env("GIT_CONFIG_KEY_0", "credential.helper")
                .env(
                    "GIT_CONFIG_VALUE_0",
                    "!f() { test \"$1\" = get || exit 0; \
                     printf 'username=%s\\npassword=%s\\n' \
                     \"$ARGOCD_SIM_GIT_USERNAME\" \"$ARGOCD_SIM_GIT_PASSWORD\"; }; f",
                );
        }
        GitAuth::Ssh {
            private_key,
            known_hosts,
        } => {
            // No user config, agent or prompts: only the key given.
            let mut ssh = format!(
                "ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -o IdentityAgent=none \
                 -o PasswordAuthentication=no -o KbdInteractiveAuthentication=no \
                 -o GlobalKnownHostsFile=/dev/null -o UpdateHostKeys=no -o ConnectTimeout=10 \
                 -o LogLevel=ERROR -i {}",
                shell_quote(&private_key.to_string_lossy())
            );
            match known_hosts {
                Some(path) => ssh.push_str(&format!(
                    " -o StrictHostKeyChecking=yes -o UserKnownHostsFile={}",
                    shell_quote(&path.to_string_lossy())
                )),
                None => {
                    ssh.push_str(" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null")
                }
            }
            cmd.env("GIT_SSH_COMMAND", ssh);
        }
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A command line for messages: `git <args>` with any URL's user information removed.
fn describe(args: &[String]) -> String {
    let shown: Vec<String> = args.iter().map(|a| redact_url(a)).collect();
    format!("git {}", shown.join(" "))
}

/// Removes `user:password@` from a URL-looking string.
pub(crate) fn redact_url(s: &str) -> String {
    let Some(scheme_end) = s.find("://") else {
        return s.to_owned();
    };
    let rest = &s[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}://***@{}", &s[..scheme_end], &rest[at + 1..]),
        None => s.to_owned(),
    }
}

/// Redacts URLs' user information and the configured password from git's output.
fn redact(text: &str, auth: Option<&GitAuth>) -> String {
    let mut out: String = text
        .split_inclusive(char::is_whitespace)
        .map(|word| {
            let trimmed = word.trim_end();
            format!("{}{}", redact_url(trimmed), &word[trimmed.len()..])
        })
        .collect();
    if let Some(GitAuth::Basic { password, .. }) = auth
        && !password.expose().is_empty()
    {
        out = out.replace(password.expose(), "***");
    }
    out
}

/// The last few lines of a command's output, enough to explain a failure.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.trim().lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" / ")
}

fn is_full_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A ref name safe to use under `refs/cache/`.
fn cache_ref(refname: &str) -> String {
    refname.strip_prefix("refs/").unwrap_or(refname).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn user_information_is_removed_from_urls() {
        assert_eq!(
            redact_url("https://ci:hunter2@git.example/web.git"),
            "https://***@git.example/web.git"
        );
        assert_eq!(redact_url("file:///tmp/a@b/x.git"), "file:///tmp/a@b/x.git");
        assert_eq!(
            redact_url("ssh://git@127.0.0.1:22/x.git"),
            "ssh://***@127.0.0.1:22/x.git"
        );
    }

    #[test]
    fn passwords_are_removed_from_git_output() {
        let auth = GitAuth::Basic {
            username: "ci".into(),
            password: Secret::new("hunter2"),
        };
        let out = redact(
            "fatal: Authentication failed for 'http://ci:hunter2@127.0.0.1/x.git/' (hunter2)\n",
            Some(&auth),
        );
        assert!(!out.contains("hunter2"), "{out}");
    }

    #[test]
    fn full_commit_ids_are_recognised() {
        assert!(is_full_sha("0123456789abcdef0123456789abcdef01234567"));
        assert!(!is_full_sha("main"));
        assert!(!is_full_sha("0123456"));
    }
}
