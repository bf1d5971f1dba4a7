//! `kubectl-promote local`: promote between two values files in a Git repository, no cluster.

use std::path::PathBuf;
use std::process::ExitCode;

use promote_git::{
    Conflict, Credentials, Engine, EngineConfig, GitError, HostKeyPolicy, Identity, Outcome,
    PromotionRequest, RemoteSpec, RepoPath, Secret, Side, Source, SshKeySource, Target, Transport,
};

/// Exit status when the target (or source) no longer holds the expected value.
pub const EXIT_CONFLICT: u8 = 3;
/// Exit status for errors that may pass when tried again (network, lost push races).
pub const EXIT_RETRY: u8 = 75;

/// Help text on credentials, shared by `local --help` and the README.
pub const CREDENTIALS_HELP: &str = "\
Credentials come from environment variables, never from flags:
  HTTPS:  PROMOTE_GIT_TOKEN                        access token (user PROMOTE_GIT_USERNAME, default x-access-token)
          PROMOTE_GIT_USERNAME, PROMOTE_GIT_PASSWORD basic auth
  SSH:    PROMOTE_SSH_KEY                          private key file, or the key itself (-----BEGIN ...)
          PROMOTE_SSH_KEY_PASSPHRASE               passphrase of an encrypted key
          PROMOTE_SSH_KNOWN_HOSTS                  known_hosts file (default ~/.ssh/known_hosts);
                                                   unknown or changed host keys are refused
          PROMOTE_SSH_HOST_KEY                     pin the host key instead (public key line or SHA256:...)
          PROMOTE_SSH_USER                         SSH user when the URL names none (default git)
Local paths need no credentials. The cache directory defaults to $XDG_CACHE_HOME/promote/git
or ~/.cache/promote/git (PROMOTE_CACHE_DIR overrides it).

Exit status: 0 promoted or already in sync; 3 conflict (nothing pushed); 75 temporary failure
(network, the branch kept moving): try again; 1 any other error; 2 usage.";

/// Promote between two values files of a Git repository, without a cluster.
///
/// Reads FIELDs (default image.tag) from the --from file at the tip of the branch, writes them
/// into the --to file, and pushes one commit. Prints `promoted <from> -> <to> <commit>` or
/// `in sync <version>`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = CREDENTIALS_HELP)]
pub struct LocalArgs {
    /// Repository URL (https://, ssh://, user@host:path) or the path of a bare repository.
    #[arg(long, value_name = "URL_OR_PATH")]
    pub repo: String,
    /// Branch to read and commit on.
    #[arg(long, default_value = "main", value_name = "BRANCH")]
    pub branch: String,
    /// Values file to copy from (the source environment), relative to the repository root.
    #[arg(long, value_name = "FILE")]
    pub from: String,
    /// Values file to write (the target environment), relative to the repository root.
    #[arg(long, value_name = "FILE")]
    pub to: String,
    /// Dotted path of a field to copy; repeat for several (all land in one commit).
    #[arg(long = "field", value_name = "PATH", default_value = "image.tag")]
    pub fields: Vec<String>,
    /// Promote only if the target still holds VALUE (one per field); otherwise exit 3 and push
    /// nothing.
    #[arg(long = "expect-target", value_name = "VALUE")]
    pub expect_target: Vec<String>,
    /// Text added to the commit message.
    #[arg(long, value_name = "TEXT")]
    pub message: Option<String>,
    /// Who approved the promotion, for the commit message.
    #[arg(long, value_name = "NAME")]
    pub approved_by: Option<String>,
    /// Where the repository cache lives.
    #[arg(long, value_name = "DIR", env = "PROMOTE_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
}

/// Runs `local` and returns the process exit status.
pub fn run(args: LocalArgs) -> ExitCode {
    match promote(&args) {
        Ok(outcome) => report(&outcome),
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(hint) = hint(&e) {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(if e.is_retryable() { EXIT_RETRY } else { 1 })
        }
    }
}

fn promote(args: &LocalArgs) -> Result<Outcome, GitError> {
    if !args.expect_target.is_empty() && args.expect_target.len() != args.fields.len() {
        return Err(GitError::InvalidRequest(format!(
            "--expect-target is given {} times for {} fields; give one value per --field",
            args.expect_target.len(),
            args.fields.len()
        )));
    }
    let remote = remote_from_env(&args.repo)?;
    let cache = args.cache_dir.clone().unwrap_or_else(default_cache_dir);
    let engine = Engine::new(EngineConfig::new(cache))?;
    let fields: Vec<&str> = args.fields.iter().map(String::as_str).collect();
    let app = RepoPath::parse(&args.to)?.stem().to_string();
    let mut request = PromotionRequest::new(
        remote,
        &args.branch,
        format!("local/{app}"),
        Source::file(&args.from, &fields),
        Target::new(&args.to, &fields),
    );
    if !args.expect_target.is_empty() {
        request = request.expect_target(args.expect_target.clone());
    }
    if let Some(note) = &args.message {
        request = request.note(note);
    }
    if let Some(who) = &args.approved_by {
        request = request.approved_by(who);
    }
    if let (Ok(name), Ok(email)) = (
        std::env::var("GIT_AUTHOR_NAME"),
        std::env::var("GIT_AUTHOR_EMAIL"),
    ) {
        request = request.author(Identity::new(name, email));
    }
    engine.promote_blocking(request)
}

fn report(outcome: &Outcome) -> ExitCode {
    match outcome {
        Outcome::Committed(c) => {
            println!(
                "promoted {} -> {} {}",
                c.from.join(","),
                c.to.join(","),
                c.commit
            );
            ExitCode::SUCCESS
        }
        Outcome::InSync { values, .. } => {
            println!("in sync {}", values.join(","));
            ExitCode::SUCCESS
        }
        Outcome::Conflict(c) => {
            eprintln!("conflict: {}; nothing was pushed", describe_conflict(c));
            ExitCode::from(EXIT_CONFLICT)
        }
    }
}

/// One sentence on what changed, where, and by which commit.
pub fn describe_conflict(c: &Conflict) -> String {
    let side = match c.side {
        Side::Source => "the source",
        Side::Target => "the target",
    };
    let by = c
        .changed_by
        .as_ref()
        .map(|b| {
            format!(
                " (changed by {} \"{}\", {})",
                b.commit.short(),
                b.summary,
                b.author
            )
        })
        .unwrap_or_default();
    format!(
        "{side} {} {} holds {:?}, expected {:?}{by}",
        c.file, c.field, c.found, c.expected
    )
}

fn hint(e: &GitError) -> Option<&'static str> {
    Some(match e.category() {
        "auth" => {
            "set PROMOTE_GIT_TOKEN (or PROMOTE_GIT_USERNAME and PROMOTE_GIT_PASSWORD) for HTTPS, PROMOTE_SSH_KEY for SSH; see --help"
        }
        "host_key" => {
            "add the host to PROMOTE_SSH_KNOWN_HOSTS (ssh-keyscan -p PORT HOST), or pin its key with PROMOTE_SSH_HOST_KEY"
        }
        "network" | "non_fast_forward" => "this may pass when tried again",
        "invalid_path" => {
            "give paths relative to the repository root, inside it, not through symbolic links"
        }
        "invalid_values" => {
            "fix the values file by hand; the editor changes a single scalar or nothing"
        }
        "not_found" => "check --repo, --branch, --from and --to",
        _ => return None,
    })
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The remote with credentials and host keys from the environment (see [`CREDENTIALS_HELP`]).
pub fn remote_from_env(url: &str) -> Result<RemoteSpec, GitError> {
    let remote = RemoteSpec::new(url)?;
    let credentials = match remote.url.transport() {
        Transport::Ssh => match env("PROMOTE_SSH_KEY") {
            Some(key) => Credentials::SshKey {
                username: env("PROMOTE_SSH_USER"),
                key: if key.trim_start().starts_with("-----BEGIN") {
                    SshKeySource::Memory(Secret::new(key))
                } else {
                    SshKeySource::Path(PathBuf::from(key))
                },
                passphrase: env("PROMOTE_SSH_KEY_PASSPHRASE").map(Secret::new),
            },
            None => Credentials::Anonymous,
        },
        Transport::Http => match (
            env("PROMOTE_GIT_TOKEN"),
            env("PROMOTE_GIT_USERNAME"),
            env("PROMOTE_GIT_PASSWORD"),
        ) {
            (Some(token), username, _) => Credentials::Token {
                username,
                token: Secret::new(token),
            },
            (None, Some(username), Some(password)) => Credentials::Basic {
                username,
                password: Secret::new(password),
            },
            _ => Credentials::Anonymous,
        },
        Transport::Local | Transport::Git => Credentials::Anonymous,
    };
    let mut host_keys = HostKeyPolicy::default();
    if remote.url.transport() == Transport::Ssh {
        let file = env("PROMOTE_SSH_KNOWN_HOSTS")
            .map(PathBuf::from)
            .or_else(|| home().map(|h| h.join(".ssh/known_hosts")));
        if let Some(file) = file
            && let Ok(text) = std::fs::read_to_string(&file)
        {
            host_keys.add_known_hosts(&text);
        }
        if let Some(pin) = env("PROMOTE_SSH_HOST_KEY") {
            host_keys.pin(&pin)?;
        }
    }
    Ok(remote
        .with_credentials(credentials)
        .with_host_keys(host_keys))
}

fn home() -> Option<PathBuf> {
    env("HOME").map(PathBuf::from)
}

/// `$XDG_CACHE_HOME/promote/git`, `~/.cache/promote/git`, or the temp dir.
pub fn default_cache_dir() -> PathBuf {
    env("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("promote")
        .join("git")
}
