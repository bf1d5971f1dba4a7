//! `kubectl-promote demo`: a throwaway GitOps repository, a CI bump, a promotion through the
//! engine, and what it wrote. No cluster, no network.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use git2::{DiffFormat, Oid, Repository, RepositoryInitOptions, Signature};
use promote_git::{Engine, EngineConfig, Outcome, PromotionRequest, RemoteSpec, Source, Target};

const APP: &str = "synestra-io";
const DEV_RELEASE: &str = "deploy/env/release-dev/synestra-io.yaml";
const PROD_RELEASE: &str = "deploy/env/release-prod/synestra-io.yaml";
const BASELINE: &str = "sha-1a2b3c4";
const BUILT: &str = "sha-4f2e1c0";
const NEXT: &str = "sha-9d8e7f6";
const HOTFIX: &str = "hotfix-1";

/// Show a promotion end to end on a throwaway repository (no cluster, no network).
///
/// Creates a bare GitOps repository in a temporary directory with the layout of the dev/prod
/// runbook, bumps the dev release as CI would, promotes it to prod through the same engine the
/// operator uses, and prints what moved, the diff and the commit.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Keep the demo repository instead of deleting it, and print where it is.
    #[arg(long)]
    pub keep: bool,
}

/// Runs the demo and returns the process exit status.
pub fn run(args: DemoArgs) -> ExitCode {
    let result = tokio::runtime::Builder::new_current_thread()
        .build()
        .context("starting the async runtime")
        .and_then(|runtime| runtime.block_on(demo(&args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn release(env: &str, tag: &str) -> String {
    let who = if env == "dev" {
        "CI (build_payload_dev) writes this tag after each build"
    } else {
        "only promotions write this tag: the dev tag, after it ran in dev"
    };
    format!(
        "# Release values for {APP} in {env}.\n# {who}.\nimage:\n  repository: registry.synestra.io/web/{APP}\n  tag: \"{tag}\"   # image built from web-core\n  pullPolicy: IfNotPresent\n"
    )
}

fn settings(env: &str) -> String {
    let (command, node_env, host) = match env {
        "dev" => (
            "[\"next\", \"dev\", \"--port\", \"3000\"]",
            "development",
            "dev.synestra.io",
        ),
        _ => ("[\"next\", \"start\"]", "production", "synestra.io"),
    };
    format!(
        "# {env} settings for {APP}: these never cross environments.\ncommand: {command}\nenv:\n  NODE_ENV: {node_env}\ningress:\n  hosts:\n    - {host}\nenvFrom:\n  secretRef:\n    name: web-{APP}-{env}-env\n  extraSecretRefs:\n    - web-{APP}-{env}-s3-env\n"
    )
}

/// A bare repository whose `main` the demo commits to directly, as CI and people would push.
struct Remote {
    repo: Repository,
    files: BTreeMap<String, Vec<u8>>,
}

impl Remote {
    fn create(path: &Path) -> Result<Self> {
        let mut opts = RepositoryInitOptions::new();
        opts.bare(true).initial_head("main");
        let repo = Repository::init_opts(path, &opts).context("creating the demo repository")?;
        let mut files = BTreeMap::new();
        for env in ["dev", "prod"] {
            files.insert(
                format!("deploy/env/{env}/{APP}.yaml"),
                settings(env).into_bytes(),
            );
            files.insert(
                format!("deploy/env/release-{env}/{APP}.yaml"),
                release(env, BASELINE).into_bytes(),
            );
        }
        files.insert(
            "README.md".into(),
            b"# web-core\n\nHelm values for the web apps, synced by Argo CD.\n".to_vec(),
        );
        let remote = Self { repo, files };
        remote.commit(
            "Platform Team",
            "Initial layout: dev and prod on the same release",
        )?;
        Ok(remote)
    }

    /// Sets `image.tag` in `file` with the byte-exact editor and commits it on `main`.
    fn set_tag(&mut self, file: &str, tag: &str, who: &str, message: &str) -> Result<Oid> {
        let content = self
            .files
            .get(file)
            .with_context(|| format!("{file} is missing"))?;
        let edit = promote_values::set(file, content, "image.tag", tag)?;
        self.files.insert(file.to_string(), edit.content);
        self.commit(who, message)
    }

    fn commit(&self, who: &str, message: &str) -> Result<Oid> {
        let tree = write_tree(
            &self.repo,
            &self
                .files
                .iter()
                .map(|(p, c)| (p.as_str(), c.as_slice()))
                .collect::<Vec<_>>(),
        )?;
        let tree = self.repo.find_tree(tree)?;
        let email = format!(
            "{}@synestra.io",
            who.split_whitespace().next().unwrap_or("ci").to_lowercase()
        );
        let sig = Signature::now(who, &email)?;
        let parent = match self.repo.refname_to_id("refs/heads/main") {
            Ok(id) => Some(self.repo.find_commit(id)?),
            Err(_) => None,
        };
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        Ok(self.repo.commit(
            Some("refs/heads/main"),
            &sig,
            &sig,
            message,
            &tree,
            &parents,
        )?)
    }

    /// Re-reads the files at `main` (after the engine pushed).
    fn reload(&mut self) -> Result<()> {
        let tip = self
            .repo
            .find_commit(self.repo.refname_to_id("refs/heads/main")?)?;
        let tree = tip.tree()?;
        for (path, content) in self.files.iter_mut() {
            let blob = tree
                .get_path(Path::new(path))?
                .to_object(&self.repo)?
                .peel_to_blob()?;
            *content = blob.content().to_vec();
        }
        Ok(())
    }
}

/// Writes nested trees for `(path, content)` pairs and returns the root tree.
fn write_tree(repo: &Repository, files: &[(&str, &[u8])]) -> Result<Oid> {
    let mut builder = repo.treebuilder(None)?;
    let mut dirs: BTreeMap<&str, Vec<(&str, &[u8])>> = BTreeMap::new();
    for (path, content) in files {
        match path.split_once('/') {
            Some((dir, rest)) => dirs.entry(dir).or_default().push((rest, content)),
            None => {
                builder.insert(path, repo.blob(content)?, 0o100644)?;
            }
        }
    }
    for (dir, entries) in dirs {
        builder.insert(dir, write_tree(repo, &entries)?, 0o040000)?;
    }
    Ok(builder.write()?)
}

fn request(remote: &RemoteSpec, expect: &str) -> PromotionRequest {
    PromotionRequest::new(
        remote.clone(),
        "main",
        format!("web/{APP}-prod"),
        Source::file(DEV_RELEASE, &["image.tag"]).environment("dev"),
        Target::new(PROD_RELEASE, &["image.tag"]).environment("prod"),
    )
    .app(APP)
    .expect_target(vec![expect.to_string()])
    .approved_by("oncall-lead")
}

fn print_commit(repo: &Repository, id: Oid) -> Result<()> {
    let commit = repo.find_commit(id)?;
    let parent = commit.parent(0)?;
    let diff = repo.diff_tree_to_tree(Some(&parent.tree()?), Some(&commit.tree()?), None)?;
    let mut text = String::new();
    diff.print(DiffFormat::Patch, |_, _, line| {
        let content = String::from_utf8_lossy(line.content());
        match line.origin() {
            c @ ('+' | '-' | ' ') => text.push_str(&format!("{c}{content}")),
            _ => text.push_str(&content),
        }
        true
    })?;
    println!("{}", text.trim_end());
    println!();
    let author = commit.author();
    println!("commit {id}");
    println!(
        "Author: {} <{}>",
        String::from_utf8_lossy(author.name_bytes()),
        String::from_utf8_lossy(author.email_bytes())
    );
    let committer = commit.committer();
    println!(
        "Commit: {} <{}>",
        String::from_utf8_lossy(committer.name_bytes()),
        String::from_utf8_lossy(committer.email_bytes())
    );
    println!();
    for line in String::from_utf8_lossy(commit.message_bytes())
        .trim_end()
        .lines()
    {
        println!("    {line}");
    }
    Ok(())
}

async fn demo(args: &DemoArgs) -> Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("promote-demo-")
        .tempdir()
        .context("creating a temporary directory")?;
    let bare = dir.path().join("web-core.git");
    let mut origin = Remote::create(&bare)?;
    let remote = RemoteSpec::new(&bare.to_string_lossy())?;
    let engine = Engine::new(EngineConfig::new(dir.path().join("cache")))?;

    let fate = if args.keep {
        "kept"
    } else {
        "deleted on exit; --keep keeps it"
    };
    println!("A throwaway GitOps repository ({fate}): {}", bare.display());
    for path in origin.files.keys() {
        println!("  {path}");
    }
    println!("dev and prod both run {BASELINE}.");
    println!();

    let bump = origin.set_tag(
        DEV_RELEASE,
        BUILT,
        "CI build_payload_dev",
        &format!("{APP}: dev image {BUILT}"),
    )?;
    println!(
        "1. CI builds a new image and writes it to the dev release: {BASELINE} -> {BUILT} ({})",
        &bump.to_string()[..12]
    );
    println!();

    println!(
        "2. Promote dev -> prod (approved by oncall-lead, decided on prod holding {BASELINE}):"
    );
    let commit = match engine.promote(request(&remote, BASELINE)).await? {
        Outcome::Committed(c) => c,
        other => bail!("expected a commit, got {other:?}"),
    };
    println!(
        "promoted {} -> {} {}",
        commit.from.join(","),
        commit.to.join(","),
        commit.commit
    );
    println!();
    let id = Oid::from_str(commit.commit.as_str())?;
    print_commit(&origin.repo, id)?;
    println!();

    println!("3. Promote again: nothing to do.");
    match engine.promote(request(&remote, BASELINE)).await? {
        Outcome::InSync { values, .. } => println!("in sync {}", values.join(",")),
        other => bail!("expected in sync, got {other:?}"),
    }
    println!();

    println!(
        "4. A person pins prod to {HOTFIX} by hand, CI builds {NEXT}, and a promotion decided on"
    );
    println!("   prod holding {BUILT} runs: the person's edit wins, nothing is pushed.");
    origin.reload()?;
    origin.set_tag(
        PROD_RELEASE,
        HOTFIX,
        "Dana Oncall",
        &format!("{APP}: pin prod to {HOTFIX}"),
    )?;
    origin.set_tag(
        DEV_RELEASE,
        NEXT,
        "CI build_payload_dev",
        &format!("{APP}: dev image {NEXT}"),
    )?;
    let before = origin.repo.refname_to_id("refs/heads/main")?;
    match engine.promote(request(&remote, BUILT)).await? {
        Outcome::Conflict(c) => println!(
            "conflict: {}; nothing was pushed",
            crate::local::describe_conflict(&c)
        ),
        other => bail!("expected a conflict, got {other:?}"),
    }
    if origin.repo.refname_to_id("refs/heads/main")? != before {
        bail!("the conflicting promotion moved main");
    }

    if args.keep {
        let kept = dir.keep();
        println!();
        println!(
            "Kept: git -C {} log --stat",
            kept.join("web-core.git").display()
        );
    }
    Ok(())
}
