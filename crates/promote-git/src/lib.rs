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
//! - Branch tips are shared for a short while ([`Engine::tip`]): a burst of reads of one branch
//!   costs one `ls-remote`, and a fetch only when the branch moved. Pushing or fetching a branch
//!   forgets its shared tip, so the engine never answers from before its own writes.
//! - Credentials are read from a key → bytes map under the key names of the operator's
//!   Secret ([`Credentials::from_secret_data`]), by the operator and the CLI alike.
//! - The commit trailers ([`TRAILER_PROMOTION`] and the other `TRAILER_*`) are defined here and
//!   nowhere else.
//!
//! The API is async: libgit2's blocking calls run on tokio's blocking pool, and synchronous
//! callers such as the CLI drive it with a runtime of their own. YAML editing is
//! `promote-values`'s job. This crate must not depend on Kubernetes or Argo CD crates: it knows
//! repositories, branches, files and fields, nothing about clusters.

mod auth;
mod cache;
mod engine;
mod error;
mod message;
mod path;
mod request;
mod secret_data;
mod transport;
mod tree;
mod url;

pub use auth::{Credentials, HostKeyPolicy, RemoteSpec, Secret, SshKeySource};
pub use engine::{Engine, EngineConfig, FileValues, FoundCommit, HeadCheck, Tip};
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
pub use secret_data::{
    CredentialsError, SECRET_KNOWN_HOSTS, SECRET_PASSWORD, SECRET_SSH_PASSPHRASE,
    SECRET_SSH_PRIVATE_KEY, SECRET_TOKEN, SECRET_USERNAME, SecretCredentials,
};
pub use url::{RepoUrl, Transport};
