//! A URL plus the environment the `git` CLI needs to reach it; the outside writer.

use std::fmt;
use std::io;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::cmd::{self, check, check_relative, output, random_hex, run, write_files};
use crate::error::{Error, Result};
use crate::repo::check_branch;

/// How many times the outside writer tries before giving up on a contended branch.
const PUSH_ATTEMPTS: u32 = 30;

/// A git remote: its URL and the environment (credentials helper, `GIT_SSH_COMMAND`) that lets
/// the `git` CLI use it. Obtain one from [`crate::BareRepo::remote`], [`crate::HttpServer::remote`]
/// or [`crate::SshServer::remote`].
///
/// The URL never carries credentials; HTTP credentials come from a helper file that only the
/// `git` processes started through [`Remote::git`] read.
#[derive(Clone)]
pub struct Remote {
    url: String,
    env: Vec<(String, String)>,
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote")
            .field("url", &self.url)
            .field("env", &self.env.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .finish()
    }
}

impl Remote {
    /// A remote that needs no extra environment (local paths, `file://` URLs).
    pub fn new(url: impl Into<String>) -> Remote {
        Remote {
            url: url.into(),
            env: Vec::new(),
        }
    }

    /// Adds an environment variable to every `git` command run against this remote.
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Remote {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The URL (no credentials in it).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The extra environment `git` needs for this remote (uses `GIT_CONFIG_COUNT` for HTTP).
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// A fixture-configured `git` command (isolated config, fixed identity) with this remote's
    /// environment; add arguments and a working directory.
    pub fn git(&self) -> Command {
        let mut c = cmd::git();
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// Commit id of `branch` on the remote (`git ls-remote`), `None` when it does not exist.
    pub fn head(&self, branch: &str) -> Result<Option<String>> {
        check_branch(branch)?;
        let refname = format!("refs/heads/{branch}");
        let out = run(self.git().args(["ls-remote", "--", &self.url, &refname]))?;
        Ok(out
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .find(|(_, name)| *name == refname)
            .map(|(id, _)| id.to_owned()))
    }

    /// Clones the remote into `dest` (a normal clone with a work tree).
    pub fn clone_to(&self, dest: &Path) -> Result<()> {
        run(self
            .git()
            .args(["clone", "--quiet", "--", &self.url])
            .arg(dest))?;
        Ok(())
    }

    /// Writes `files` on `branch` as an outside writer and pushes. Returns the new commit id.
    pub fn commit_files(
        &self,
        branch: &str,
        files: &[(&str, &str)],
        message: &str,
    ) -> Result<String> {
        for (path, _) in files {
            check_relative("file path", path)?;
        }
        self.commit_with(branch, message, |work| {
            write_files(work, files).map_err(io::Error::other)
        })
    }

    /// Deletes `paths` on `branch` as an outside writer and pushes. Returns the new commit id.
    pub fn delete_files(&self, branch: &str, paths: &[&str], message: &str) -> Result<String> {
        for path in paths {
            check_relative("file path", path)?;
        }
        self.commit_with(branch, message, |work| {
            paths
                .iter()
                .try_for_each(|p| std::fs::remove_file(work.join(p)))
        })
    }

    /// The general outside writer: shallow-clones `branch` (or starts it when absent), lets
    /// `edit` change the work tree (write, delete, make symlinks…), commits everything and
    /// pushes. On a rejected push (someone else moved the branch) it starts over from a fresh
    /// clone, calling `edit` again, with jittered backoff. Returns the new commit id.
    pub fn commit_with(
        &self,
        branch: &str,
        message: &str,
        mut edit: impl FnMut(&Path) -> io::Result<()>,
    ) -> Result<String> {
        check_branch(branch)?;
        let scratch = tempfile::Builder::new()
            .prefix("promote-writer-")
            .tempdir()
            .map_err(|e| Error::io("creating scratch directory", e))?;
        for attempt in 1..=PUSH_ATTEMPTS {
            let work = scratch.path().join(format!("attempt-{attempt}"));
            if self.head(branch)?.is_some() {
                run(self
                    .git()
                    .args(["clone", "--quiet", "--depth", "1", "--single-branch"])
                    .args(["--branch", branch, "--", &self.url])
                    .arg(&work))?;
            } else {
                run(cmd::git()
                    .args(["init", "--quiet", "--initial-branch", branch])
                    .arg(&work))?;
                run(cmd::git()
                    .arg("-C")
                    .arg(&work)
                    .args(["remote", "add", "origin", &self.url]))?;
            }
            edit(&work).map_err(|e| Error::io("editing the outside writer's work tree", e))?;
            let in_work = |args: &[&str]| {
                let mut c = self.git();
                c.arg("-C").arg(&work).args(args);
                c
            };
            run(&mut in_work(&["add", "--all"]))?;
            run(&mut in_work(&[
                "commit",
                "--quiet",
                "--allow-empty",
                "--no-verify",
                "--message",
                message,
            ]))?;
            let refspec = format!("HEAD:refs/heads/{branch}");
            let mut push = in_work(&["push", "--quiet", "--porcelain", "origin", &refspec]);
            let out = output(&mut push, "git push")?;
            if out.status.success() {
                let id = run(&mut in_work(&["rev-parse", "HEAD"]))?;
                return Ok(id.trim().to_owned());
            }
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            if !is_push_race(&text) {
                check(&out, &format!("git push {} {refspec}", self.url))?;
            }
            // Best effort: a leftover attempt directory only costs disk until `scratch` drops.
            let _ = std::fs::remove_dir_all(&work);
            std::thread::sleep(backoff(attempt));
        }
        Err(Error::PushContention {
            url: self.url.clone(),
            branch: branch.to_owned(),
            attempts: PUSH_ATTEMPTS,
        })
    }
}

/// True when a push failed only because another writer moved the branch meanwhile.
fn is_push_race(text: &str) -> bool {
    [
        "[rejected]",
        "non-fast-forward",
        "fetch first",
        "cannot lock ref",
        "failed to update ref",
        "incorrect old value",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

fn backoff(attempt: u32) -> Duration {
    let jitter = random_hex(1)
        .ok()
        .and_then(|h| u64::from_str_radix(&h, 16).ok())
        .unwrap_or(0);
    Duration::from_millis(10 * u64::from(attempt.min(10)) + jitter / 4)
}
