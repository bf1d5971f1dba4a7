//! The Git engine of Promote: it moves release values from one values file to another in one
//! atomic commit, and never overwrites a person's edit.
//!
//! - One bare cache per repository URL; only the branch is fetched, and only what is new.
//! - No working tree: blobs are read at the branch tip, the new tree is built in memory, the
//!   commit goes on top of the tip and is pushed to `refs/heads/<branch>`, never forced.
//! - Compare-and-swap on the values: a commit is made only while the target still holds the
//!   values the decision was made on. A lost push race fetches, re-reads, re-decides and retries
//!   with jittered backoff; a changed target value stops with a [`Conflict`].
//! - One writer per repository and branch in the process; promotions that arrive together share
//!   a commit, and each caller learns its own [`Outcome`].
//! - HTTPS (basic or token) and SSH (key, optional passphrase, strict known_hosts or a pinned
//!   key). Credentials never reach logs or error text; URLs are printed without userinfo.
//! - Paths stay inside the repository: no `..`, no absolute paths, nothing under `.git`, never
//!   through a symlink, and values files must be regular files.
//!
//! Blocking libgit2 calls run on tokio's blocking pool behind the async API; the `_blocking`
//! methods serve synchronous callers such as the CLI. YAML editing is `promote-values`'s job.
//! This crate must not depend on Kubernetes or Argo CD crates: it knows repositories, branches,
//! files and fields, nothing about clusters.

mod auth;
mod cache;
mod engine;
mod error;
mod message;
mod path;
mod request;
mod transport;
mod tree;
mod url;

pub use auth::{Credentials, HostKeyPolicy, RemoteSpec, Secret, SshKeySource};
pub use engine::{Engine, EngineConfig, FileValues, FoundCommit};
pub use error::{GitError, HostKeyProblem};
pub use message::{
    TRAILER_APPROVED_BY, TRAILER_PREVIOUS, TRAILER_PROMOTION, TRAILER_SOURCE, TRAILER_TARGET,
    TRAILER_VERSION, TrailerQuery, trailer_groups,
};
pub use path::RepoPath;
pub use request::{
    ChangeInfo, CommitId, Committed, Conflict, Identity, Outcome, PromotionRequest, Side, Source,
    Target,
};
pub use url::{RepoUrl, Transport};
