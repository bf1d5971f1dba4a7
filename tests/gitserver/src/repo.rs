//! Bare repositories on disk and read helpers over them (all through the `git` CLI).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use tempfile::TempDir;

use crate::cmd::{self, check, check_relative, output, run, write_files};
use crate::error::{Error, Result};
use crate::remote::Remote;

/// Branch every helper uses unless told otherwise.
pub const DEFAULT_BRANCH: &str = "main";

/// A temporary directory of bare repositories; the servers serve it. Removed when the last clone
/// (including the ones held by servers and [`BareRepo`]s) is dropped.
#[derive(Clone, Debug)]
pub struct RepoDir {
    dir: Arc<TempDir>,
}

impl RepoDir {
    /// Creates an empty directory under the system temp dir.
    pub fn new() -> Result<Self> {
        Self::build(tempfile::Builder::new().prefix("promote-repos-").tempdir())
    }

    /// Creates an empty directory under `parent` (e.g. next to a cache, so imports can hard-link).
    pub fn new_in(parent: &Path) -> Result<Self> {
        Self::build(
            tempfile::Builder::new()
                .prefix("promote-repos-")
                .tempdir_in(parent),
        )
    }

    fn build(dir: std::io::Result<TempDir>) -> Result<Self> {
        let dir = dir.map_err(|e| Error::io("creating repository directory", e))?;
        Ok(RepoDir { dir: Arc::new(dir) })
    }

    /// Absolute path of the directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Creates `name` (`.git` appended if missing) on branch `main` with one commit of `files`.
    pub fn create(&self, name: &str, files: &[(&str, &str)]) -> Result<BareRepo> {
        self.create_on_branch(name, DEFAULT_BRANCH, files)
    }

    /// Like [`RepoDir::create`] with another initial branch.
    pub fn create_on_branch(
        &self,
        name: &str,
        branch: &str,
        files: &[(&str, &str)],
    ) -> Result<BareRepo> {
        let repo = self.handle(name)?;
        BareRepo::init(&repo.path, branch, files)?;
        Ok(repo)
    }

    /// Creates `name` with no commits at all (HEAD points to an unborn `main`).
    pub fn create_empty(&self, name: &str) -> Result<BareRepo> {
        let repo = self.handle(name)?;
        init_bare(&repo.path, DEFAULT_BRANCH)?;
        Ok(repo)
    }

    /// Copies the bare repository at `source` in as `name` (objects hard-linked when possible).
    ///
    /// Use it to give each test or benchmark run its own writable copy of a cached repository.
    pub fn import(&self, name: &str, source: &Path) -> Result<BareRepo> {
        let repo = self.handle(name)?;
        run(cmd::git()
            .args(["clone", "--quiet", "--mirror"])
            .arg(source)
            .arg(&repo.path))?;
        run(repo.git().args(["remote", "remove", "origin"]))?;
        Ok(repo)
    }

    /// A handle to repository `name` in this directory (it need not exist yet).
    pub fn repo(&self, name: &str) -> Result<BareRepo> {
        self.handle(name)
    }

    fn handle(&self, name: &str) -> Result<BareRepo> {
        check_relative("repository name", name)?;
        let name = repo_name(name);
        Ok(BareRepo {
            path: self.path().join(&name),
            name,
            _dir: Some(Arc::clone(&self.dir)),
        })
    }
}

/// `name` with `.git` appended unless it ends with it already.
pub(crate) fn repo_name(name: &str) -> String {
    let name = name.trim_matches('/');
    if name.ends_with(".git") {
        name.to_owned()
    } else {
        format!("{name}.git")
    }
}

fn init_bare(path: &Path, branch: &str) -> Result<()> {
    check_branch(branch)?;
    run(cmd::git()
        .args(["init", "--quiet", "--bare", "--initial-branch", branch])
        .arg(path))?;
    Ok(())
}

/// Refuses branch names that could be read as options or are plainly malformed.
pub(crate) fn check_branch(branch: &str) -> Result<()> {
    let ok = !branch.is_empty()
        && !branch.starts_with('-')
        && !branch.starts_with("refs/")
        && !branch.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid {
            what: "branch",
            value: branch.to_owned(),
            reason: "expected a short branch name such as `main`",
        })
    }
}

/// A bare repository on disk, read directly with the `git` CLI (no server involved).
///
/// Cloning the handle is cheap; it keeps its [`RepoDir`] alive.
#[derive(Clone, Debug)]
pub struct BareRepo {
    name: String,
    path: PathBuf,
    _dir: Option<Arc<TempDir>>,
}

impl BareRepo {
    /// Creates a bare repository at `path` whose `branch` holds one commit of `files`.
    pub fn init(path: &Path, branch: &str, files: &[(&str, &str)]) -> Result<BareRepo> {
        init_bare(path, branch)?;
        let repo = BareRepo::open(path);
        let scratch = tempfile::Builder::new()
            .prefix("promote-init-")
            .tempdir()
            .map_err(|e| Error::io("creating scratch directory", e))?;
        let work = scratch.path().join("work");
        std::fs::create_dir(&work).map_err(|e| Error::io("creating scratch work tree", e))?;
        write_files(&work, files)?;
        // Commit straight into the bare repository with a throwaway index and work tree.
        let index = scratch.path().join("index");
        let with_tree = |args: &[&str]| {
            let mut c = repo.git();
            c.arg("--work-tree").arg(&work).args(args);
            c.env("GIT_INDEX_FILE", &index);
            c
        };
        run(&mut with_tree(&["add", "--all"]))?;
        run(&mut with_tree(&[
            "commit",
            "--quiet",
            "--allow-empty",
            "--message",
            "Initial commit",
        ]))?;
        Ok(repo)
    }

    /// A handle to an existing bare repository at `path`.
    pub fn open(path: &Path) -> BareRepo {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        BareRepo {
            name,
            path: path.to_path_buf(),
            _dir: None,
        }
    }

    /// Name relative to its [`RepoDir`], e.g. `gitops.git`; use it with the servers' `url`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Absolute path of the bare repository (also a valid plain-path remote).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `file://` URL of the repository.
    pub fn file_url(&self) -> String {
        format!("file://{}", self.path.display())
    }

    /// The repository as a local `file://` remote, for outside-writer commits and clones.
    pub fn remote(&self) -> Remote {
        Remote::new(self.file_url())
    }

    /// A fixture-configured `git --git-dir <repo>` command.
    pub fn git(&self) -> Command {
        let mut c = cmd::git();
        c.arg("--git-dir").arg(&self.path);
        c
    }

    /// Commits `files` on `branch` as an outside writer (scratch clone, push, retry on races).
    /// Returns the new commit id.
    pub fn commit_files(
        &self,
        branch: &str,
        files: &[(&str, &str)],
        message: &str,
    ) -> Result<String> {
        self.remote().commit_files(branch, files, message)
    }

    /// Deletes `paths` on `branch` as an outside writer. Returns the new commit id.
    pub fn delete_files(&self, branch: &str, paths: &[&str], message: &str) -> Result<String> {
        self.remote().delete_files(branch, paths, message)
    }

    /// Commit id `rev` resolves to, or `None` when it does not exist.
    pub fn resolve(&self, rev: &str) -> Result<Option<String>> {
        let spec = format!("{rev}^{{commit}}");
        let out = output(
            self.git()
                .args(["rev-parse", "--verify", "--quiet", "--end-of-options"])
                .arg(&spec),
            "git rev-parse",
        )?;
        if !out.status.success() {
            return Ok(None);
        }
        Ok(Some(String::from_utf8_lossy(&out.stdout).trim().to_owned()))
    }

    /// Commit id at the tip of `branch`, or `None` when the branch does not exist.
    pub fn head(&self, branch: &str) -> Result<Option<String>> {
        check_branch(branch)?;
        self.resolve(&format!("refs/heads/{branch}"))
    }

    fn require(&self, rev: &str) -> Result<String> {
        self.resolve(rev)?.ok_or_else(|| Error::Invalid {
            what: "revision",
            value: rev.to_owned(),
            reason: "does not exist in the repository",
        })
    }

    /// Content of `path` at `rev` (branch, tag or commit), or `None` when the file is absent.
    pub fn read_file_bytes(&self, rev: &str, path: &str) -> Result<Option<Vec<u8>>> {
        let commit = self.require(rev)?;
        let spec = format!("{commit}:{path}");
        let found = output(
            self.git()
                .args(["rev-parse", "--verify", "--quiet", "--end-of-options"])
                .arg(&spec),
            "git rev-parse",
        )?;
        if !found.status.success() {
            return Ok(None);
        }
        let blob = String::from_utf8_lossy(&found.stdout).trim().to_owned();
        let mut show = self.git();
        show.args(["cat-file", "blob", &blob]);
        let out = output(&mut show, "git cat-file blob")?;
        check(&out, &format!("git cat-file blob {spec}"))?;
        Ok(Some(out.stdout))
    }

    /// Content of `path` at `rev` as text (lossy UTF-8; BOM and CRLF kept), `None` when absent.
    pub fn read_file(&self, rev: &str, path: &str) -> Result<Option<String>> {
        Ok(self
            .read_file_bytes(rev, path)?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Commit ids reachable from `rev`, newest first (`git rev-list`).
    pub fn commits(&self, rev: &str) -> Result<Vec<String>> {
        let commit = self.require(rev)?;
        let out = run(self.git().args(["rev-list", &commit]))?;
        Ok(out.lines().map(str::to_owned).collect())
    }

    /// Number of commits reachable from `rev`.
    pub fn commit_count(&self, rev: &str) -> Result<usize> {
        let commit = self.require(rev)?;
        count(&run(self.git().args(["rev-list", "--count", &commit]))?)
    }

    /// Number of merge commits reachable from `rev`.
    pub fn merge_count(&self, rev: &str) -> Result<usize> {
        let commit = self.require(rev)?;
        count(&run(self
            .git()
            .args(["rev-list", "--merges", "--count", &commit]))?)
    }

    /// Parent commit ids of `rev`.
    pub fn parents(&self, rev: &str) -> Result<Vec<String>> {
        let commit = self.require(rev)?;
        let out = run(self
            .git()
            .args(["rev-list", "--parents", "-n", "1", &commit]))?;
        Ok(out.split_whitespace().skip(1).map(str::to_owned).collect())
    }

    /// Full message of commit `rev` (subject, body and trailers), trailing newline removed.
    pub fn commit_message(&self, rev: &str) -> Result<String> {
        let commit = self.require(rev)?;
        let out = run(self.git().args(["log", "-1", "--format=%B", &commit]))?;
        Ok(out.trim_end().to_owned())
    }

    /// Trailers (`Key: value`) of commit `rev`, in order.
    pub fn trailers(&self, rev: &str) -> Result<Vec<(String, String)>> {
        let commit = self.require(rev)?;
        let out = run(self.git().args([
            "log",
            "-1",
            "--format=%(trailers:only,unfold,separator=%x00)",
            &commit,
        ]))?;
        Ok(out
            .trim_end()
            .split('\0')
            .filter_map(|t| t.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect())
    }

    /// Paths commit `rev` changed relative to its first parent (all paths for a root commit).
    pub fn changed_files(&self, rev: &str) -> Result<Vec<String>> {
        let commit = self.require(rev)?;
        let out = match self.parents(&commit)?.first() {
            Some(parent) => run(self.git().args([
                "diff",
                "--name-only",
                "--no-renames",
                "-z",
                parent,
                &commit,
            ]))?,
            None => run(self
                .git()
                .args(["ls-tree", "-r", "--name-only", "-z", &commit]))?,
        };
        Ok(split_nul(&out))
    }

    /// Every file path in the tree of `rev`.
    pub fn files(&self, rev: &str) -> Result<Vec<String>> {
        let commit = self.require(rev)?;
        let out = run(self
            .git()
            .args(["ls-tree", "-r", "--name-only", "-z", &commit]))?;
        Ok(split_nul(&out))
    }

    /// Local branch names.
    pub fn branches(&self) -> Result<Vec<String>> {
        let out = run(self.git().args([
            "for-each-ref",
            "--format=%(refname:lstrip=2)",
            "refs/heads/",
        ]))?;
        Ok(out.lines().map(str::to_owned).collect())
    }
}

fn split_nul(out: &str) -> Vec<String> {
    out.split('\0')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

fn count(out: &str) -> Result<usize> {
    out.trim().parse().map_err(|_| Error::Invalid {
        what: "git count output",
        value: out.trim().to_owned(),
        reason: "not a number",
    })
}
