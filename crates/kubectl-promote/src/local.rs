//! `kubectl-promote local`: promote between two values files in a Git repository, no cluster.

use std::path::PathBuf;
use std::process::ExitCode;

use promote_git::{
    Conflict, Credentials, CredentialsError, Engine, EngineConfig, GitError, HostKeyPolicy,
    Identity, Outcome, PromotionRequest, RemoteSpec, RepoPath, SECRET_KNOWN_HOSTS, SECRET_PASSWORD,
    SECRET_SSH_PASSPHRASE, SECRET_SSH_PRIVATE_KEY, SECRET_TOKEN, SECRET_USERNAME, Side, Source,
    SshKeySource, Target, Transport,
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
    let runtime = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(promote(&args)) {
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

async fn promote(args: &LocalArgs) -> Result<Outcome, GitError> {
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
    engine.promote(request).await
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

pub(crate) fn hint(e: &GitError) -> Option<&'static str> {
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
    remote_from(url, env)
}

/// The remote with credentials and host keys from the variables `var` looks up (empty ones
/// count as unset).
///
/// The variables are read under the operator's Secret keys, so both read credentials the
/// same way; only the transport's own variables count. A key file path, the default
/// known_hosts file and a pinned host key are the CLI's additions.
fn remote_from(url: &str, var: impl Fn(&str) -> Option<String>) -> Result<RemoteSpec, GitError> {
    let remote = RemoteSpec::new(url)?;
    let transport = remote.url.transport();
    let keys: &[(&str, &str)] = match transport {
        Transport::Ssh => &[
            (SECRET_SSH_PRIVATE_KEY, "PROMOTE_SSH_KEY"),
            (SECRET_USERNAME, "PROMOTE_SSH_USER"),
            (SECRET_SSH_PASSPHRASE, "PROMOTE_SSH_KEY_PASSPHRASE"),
        ],
        Transport::Http => &[
            (SECRET_TOKEN, "PROMOTE_GIT_TOKEN"),
            (SECRET_USERNAME, "PROMOTE_GIT_USERNAME"),
            (SECRET_PASSWORD, "PROMOTE_GIT_PASSWORD"),
        ],
        Transport::Local | Transport::Git => &[],
    };
    let mut data: Vec<(&str, String)> = keys
        .iter()
        .filter_map(|(key, name)| var(name).map(|value| (*key, value)))
        .collect();
    let known_hosts = if transport == Transport::Ssh {
        known_hosts_from(&var)
    } else {
        None
    };
    if let Some(text) = &known_hosts {
        data.push((SECRET_KNOWN_HOSTS, text.clone()));
    }
    let (mut credentials, host_keys) =
        match Credentials::from_secret_data(data.iter().map(|(k, v)| (*k, v.as_bytes()))) {
            Ok(found) => (found.credentials, found.host_keys),
            // Without credentials the remote is tried anonymously, as a public one would be.
            Err(CredentialsError::Missing) => (
                Credentials::Anonymous,
                known_hosts.as_deref().map(HostKeyPolicy::from_known_hosts),
            ),
        };
    if let Credentials::SshKey { key, .. } = &mut credentials
        && let Some(path) = var("PROMOTE_SSH_KEY").filter(|k| !is_key_text(k))
    {
        *key = SshKeySource::Path(PathBuf::from(path));
    }
    let mut host_keys = host_keys.unwrap_or_default();
    if transport == Transport::Ssh
        && let Some(pin) = var("PROMOTE_SSH_HOST_KEY")
    {
        host_keys.pin(&pin)?;
    }
    Ok(remote
        .with_credentials(credentials)
        .with_host_keys(host_keys))
}

/// PROMOTE_SSH_KEY holds either the key itself or the path of a key file.
fn is_key_text(value: &str) -> bool {
    value.trim_start().starts_with("-----BEGIN")
}

/// The known_hosts text of PROMOTE_SSH_KNOWN_HOSTS or `~/.ssh/known_hosts`; an unreadable
/// file counts as none.
fn known_hosts_from(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    let file = var("PROMOTE_SSH_KNOWN_HOSTS")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".ssh/known_hosts")))?;
    std::fs::read_to_string(file).ok()
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

#[cfg(test)]
mod tests {
    use promote_git::Secret;

    use super::*;

    const HOST_KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    fn remote(url: &str, vars: &[(&str, &str)]) -> Result<RemoteSpec, GitError> {
        remote_from(url, |name| {
            vars.iter()
                .find(|(n, v)| *n == name && !v.is_empty())
                .map(|(_, v)| v.to_string())
        })
    }

    fn credentials(url: &str, vars: &[(&str, &str)]) -> Credentials {
        remote(url, vars).expect("remote").credentials
    }

    const ALL: &[(&str, &str)] = &[
        ("PROMOTE_GIT_TOKEN", "tok"),
        ("PROMOTE_GIT_USERNAME", "bot"),
        ("PROMOTE_GIT_PASSWORD", "pw"),
        ("PROMOTE_SSH_KEY", "-----BEGIN OPENSSH PRIVATE KEY-----"),
        ("PROMOTE_SSH_KEY_PASSPHRASE", "phrase"),
        ("PROMOTE_SSH_USER", "deploy"),
        ("HOME", "/nonexistent"),
    ];

    #[test]
    fn https_reads_only_the_https_variables() {
        assert_eq!(
            credentials("https://h/r.git", ALL),
            Credentials::Token {
                username: Some("bot".into()),
                token: Secret::new("tok"),
            }
        );
        assert_eq!(
            credentials("https://h/r.git", &ALL[1..]),
            Credentials::Basic {
                username: "bot".into(),
                password: Secret::new("pw"),
            }
        );
        // A password without a user name, or SSH variables alone, mean no credentials.
        assert_eq!(
            credentials("https://h/r.git", &ALL[2..]),
            Credentials::Anonymous
        );
    }

    #[test]
    fn ssh_reads_only_the_ssh_variables() {
        assert_eq!(
            credentials("ssh://git@h/r.git", ALL),
            Credentials::SshKey {
                username: Some("deploy".into()),
                key: SshKeySource::Memory(Secret::new("-----BEGIN OPENSSH PRIVATE KEY-----\n")),
                passphrase: Some(Secret::new("phrase")),
            }
        );
        assert_eq!(
            credentials("git@h:r.git", &[("PROMOTE_SSH_KEY", "/keys/id_ed25519")]),
            Credentials::SshKey {
                username: None,
                key: SshKeySource::Path(PathBuf::from("/keys/id_ed25519")),
                passphrase: None,
            }
        );
        assert_eq!(
            credentials("ssh://git@h/r.git", &ALL[..3]),
            Credentials::Anonymous
        );
    }

    #[test]
    fn local_paths_take_no_credentials() {
        assert_eq!(credentials("/srv/git/r.git", ALL), Credentials::Anonymous);
    }

    #[test]
    fn ssh_host_keys_come_from_known_hosts_and_pins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("known_hosts");
        std::fs::write(&file, format!("h ssh-ed25519 {HOST_KEY}\n")).expect("write");
        let file = file.to_str().expect("utf-8");
        let expected = HostKeyPolicy::from_known_hosts(&format!("h ssh-ed25519 {HOST_KEY}"));
        // With credentials and without: the known hosts are read either way.
        for vars in [
            &[("PROMOTE_SSH_KNOWN_HOSTS", file), ALL[3]][..],
            &[("PROMOTE_SSH_KNOWN_HOSTS", file)][..],
        ] {
            let spec = remote("ssh://git@h/r.git", vars).expect("remote");
            assert_eq!(spec.host_keys, expected);
        }
        // The default file is ~/.ssh/known_hosts.
        std::fs::create_dir_all(dir.path().join(".ssh")).expect("mkdir");
        std::fs::copy(file, dir.path().join(".ssh/known_hosts")).expect("copy");
        let home = dir.path().to_str().expect("utf-8");
        let spec = remote("ssh://git@h/r.git", &[("HOME", home)]).expect("remote");
        assert_eq!(spec.host_keys, expected);
        // HTTPS ignores them.
        let spec = remote("https://h/r.git", &[("PROMOTE_SSH_KNOWN_HOSTS", file)]).expect("url");
        assert!(spec.host_keys.is_empty());

        let pin = format!("ssh-ed25519 {HOST_KEY}");
        let spec = remote(
            "ssh://git@h/r.git",
            &[("PROMOTE_SSH_HOST_KEY", &pin), ("HOME", "/nonexistent")],
        )
        .expect("remote");
        assert!(!spec.host_keys.is_empty());
        let err = remote("ssh://git@h/r.git", &[("PROMOTE_SSH_HOST_KEY", "nonsense")])
            .expect_err("bad pin");
        assert_eq!(err.category(), "invalid_request");
    }
}
