//! Real git servers on loopback, and repository helpers, for Promote's tests and benchmarks.
//!
//! - [`HttpServer`]: smart HTTP — lighttpd running `git http-backend` (CGI) with basic auth and
//!   push enabled, on `127.0.0.1:<free port>`.
//! - [`SshServer`]: a private `sshd` (own config and host key, public-key auth only) running as
//!   the current user, with authorized, unauthorized and passphrase-protected client keys and
//!   `known_hosts` lines (right and wrong).
//! - Local: [`BareRepo::path`] and [`BareRepo::file_url`].
//! - [`RepoDir`] / [`BareRepo`]: create bare repositories from `(path, content)` lists, commit as
//!   an outside writer (with retry on non-fast-forward), read files, list and count commits.
//! - [`FaultProxy`] and [`Blackhole`]: network faults on loopback — a proxy that hangs, cuts
//!   or truncates traffic on demand, and a server that accepts and never answers.
//! - [`cached_big_repo`]: a 20,000-commit, 5,000-file repository for benchmarks, built with
//!   `git fast-import` and cached under `${PROMOTE_CACHE:-$HOME/.cache/promote}/bench/`.
//!
//! ```no_run
//! use promote_gitserver::{HttpServer, RepoDir, SshServer};
//!
//! let repos = RepoDir::new()?;
//! let repo = repos.create("gitops", &[("deploy/env/release-dev/web.yaml", "image:\n  tag: v1\n")])?;
//! let http = HttpServer::start(&repos)?;
//! let url = http.url("gitops"); // http://127.0.0.1:PORT/git/gitops.git
//! let creds = http.credentials(); // username + password the server accepts
//! # let _ = (url, creds);
//! let ssh = SshServer::start(&repos)?;
//! let key = ssh.authorized_key().private_key_path(); // and ssh.known_hosts_line()
//! # let _ = key;
//! repo.commit_files("main", &[("notes.txt", "hi\n")], "A person's edit")?;
//! assert_eq!(repo.read_file("main", "notes.txt")?.as_deref(), Some("hi\n"));
//! http.stop(); // "server down"
//! http.restart()?; // same port
//! # Ok::<(), promote_gitserver::Error>(())
//! ```
//!
//! Everything here blocks: it spawns processes and waits for them. From async tests call it
//! through `tokio::task::spawn_blocking`, or accept the short block (starting a server takes well
//! under a second; dropping one kills and reaps it). All types are `Send + Sync`, so one server
//! can be shared through an `Arc`.
//!
//! Servers are stopped by PID only (never by name); `Drop` kills and reaps them and removes their
//! temporary directories. Every git command the fixture runs ignores user and system git
//! configuration and commits with a fixed identity and date. Passwords, passphrases and keys
//! never appear in errors, `Debug` output or logs.
//!
//! The SSH login user is the one running the tests, so it needs a working login shell; sessions
//! run the first `git-upload-pack`/`git-receive-pack` on sshd's default `PATH`, and skip bash's
//! `~/.bashrc` (so a slow or chatty shell setup cannot stall or corrupt git sessions).
//!
//! Needs the Debian packages `git`, `lighttpd`, `openssh-server` and `openssh-client`
//! (`scripts/test` installs them); a missing one is reported by [`Error::MissingBinary`].
//! This crate is test support only: it must not depend on any Promote crate, and no production
//! crate may depend on it outside `[dev-dependencies]`.

#![warn(missing_docs)]

mod bigrepo;
mod cmd;
mod error;
mod fault;
mod http;
mod process;
mod remote;
mod repo;
mod ssh;

pub use bigrepo::{
    BigRepo, BigRepoSpec, cache_root, cached_big_repo, cached_big_repo_in, describe_size,
    generate_big_repo,
};
pub use cmd::{AUTHOR_DATE, AUTHOR_EMAIL, AUTHOR_NAME, git};
pub use error::{Error, Result};
pub use fault::{Blackhole, FaultProxy};
pub use http::{HttpCredentials, HttpServer};
pub use remote::Remote;
pub use repo::{BareRepo, DEFAULT_BRANCH, RepoDir};
pub use ssh::{KeyType, SshKey, SshOptions, SshServer};
