//! The Git engine of Promote: it moves release values from one values file to another in one
//! atomic commit, and never overwrites a person's edit.
//!
//! - One bare cache per repository URL; only the branch is fetched, and only what is new.
//! - No working tree: blobs are read at the branch tip, the new tree is built in memory, the
//!   commit goes on top of the tip and is pushed to `refs/heads/<branch>`, never forced.
//! - Compare-and-swap on the values: a commit is made only while the target still holds the
//!   values the decision was made on. A lost push race fetches, re-reads, re-decides and retries
//!   with jittered backoff; a changed target value stops with a [`Conflict`].
//! - Compare-and-swap on the branch: a push goes out only while the remote branch still is the
//!   commit ours was built on (a lease, like `git push --force-with-lease=<ref>:<parent>`, checked
//!   when the push is negotiated). A branch that moved, even backwards, is a lost race.
//! - One writer per repository, branch and credentials in the process; promotions that arrive
//!   together share a commit, and each caller learns its own [`Outcome`]. When the server
//!   declines a shared push (a hook, a branch rule), the batch is split so the promotions it
//!   accepts land and the refused one gets [`GitError::PushRejected`] alone.
//! - Deadlines on every network operation ([`EngineConfig::connect_timeout`],
//!   [`EngineConfig::io_timeout`], [`EngineConfig::operation_timeout`]), over HTTP(S) and SSH:
//!   a silent or stalled server ends in a retryable [`GitError::Timeout`]. A cache's write lock
//!   is held on the network only under these deadlines, and reads never wait for a writer, so
//!   one team's silent server does not stall another team's lane.
//! - Tenancy: writers, batches, shared branch tips and recent contacts are kept per repository,
//!   branch and access (an opaque digest of URL, credentials and host-key policy that is never
//!   printed). No request is answered, fetched, batched or pushed with another lane's
//!   credentials, and reads from the shared cache ([`Engine::read_fields`],
//!   [`Engine::read_fields_at`], [`Engine::contains`], [`Engine::find_commit`],
//!   [`Engine::find_commit_since`]) need a successful contact with the remote by the same
//!   credentials within [`EngineConfig::head_ttl`], made first if needed: refused credentials
//!   fail with [`GitError::Auth`] before anything is read.
//! - A [`Fence`] ([`EngineConfig::fence`]) is asked right before every push; when it refuses,
//!   nothing is pushed and the outcome is [`GitError::Fenced`].
//! - HTTPS (basic or token) and SSH (key, optional passphrase, strict known_hosts or a pinned
//!   key). Credentials never reach logs or error text; URLs are printed without userinfo, and
//!   [`RemoteSpec::new`] refuses URLs that carry credentials (they go in the lane's Secret), a
//!   query string or a fragment.
//! - Paths stay inside the repository: no `..`, no absolute paths, nothing under `.git`, never
//!   through a symlink, and values files must be regular files no larger than
//!   [`EngineConfig::max_values_file`].
//! - An empty or null target value (`tag:`, `tag: ~`, `tag: null`) is a value not set yet: it
//!   is filled in with the promoted one.
//! - Branch tips are shared for a short while ([`Engine::tip`]): a burst of reads of one branch
//!   costs one `ls-remote`, and a fetch only when the branch moved. Pushing or fetching a branch
//!   forgets its shared tip, so the engine never answers from before its own writes.
//! - Recognition after a restart: [`Engine::find_commit_since`] says whether a commit of ours
//!   landed after a known base, that none did, or that it cannot be told ([`Recognition`]).
//! - Caches stay bounded: the walk that names who changed a conflicting value reads at most
//!   [`EngineConfig::history_depth`] commits, [`Engine::retain_caches`] removes caches no lane
//!   uses, and the commits the engine builds are packed every
//!   [`EngineConfig::pack_loose_every`] write uses of a cache.
//! - Credentials are read from a key → bytes map under the key names of the operator's
//!   Secret ([`Credentials::from_secret_data`]), by the operator and the CLI alike.
//! - Signed commits: a remote with a [`SigningKey`] ([`RemoteSpec::with_signing`]) gets every
//!   commit signed with it (an SSH signature in the `gpgsig` header, as `git -c gpg.format=ssh
//!   commit -S` writes it); a commit that cannot be signed is not made. Requests with different
//!   keys never share a commit.
//! - The commit trailers ([`TRAILER_PROMOTION`] and the other `TRAILER_*`) are defined here and
//!   nowhere else.
//!
//! The API is async: libgit2's blocking calls run on tokio's blocking pool, and synchronous
//! callers such as the CLI drive it with a runtime of their own. YAML editing is
//! `promote-values`'s job. This crate must not depend on Kubernetes or Argo CD crates: it knows
//! repositories, branches, files and fields, nothing about clusters. Its one `unsafe` call sets
//! libgit2's process-wide socket timeouts, once (see the `deadline` module).

mod access;
mod auth;
mod cache;
mod deadline;
mod engine;
mod error;
mod fence;
mod message;
mod path;
mod request;
mod secret_data;
mod signing;
mod transport;
mod tree;
mod url;

pub use auth::{Credentials, HostKeyPolicy, RemoteSpec, Secret, SshKeySource};
pub use engine::{
    Engine, EngineConfig, FileValues, FoundCommit, HeadCheck, Preview, PreviewChange, Recognition,
    Tip,
};
pub use error::{GitError, HostKeyProblem};
pub use fence::Fence;
pub use message::{
    TRAILER_APPROVED_BY, TRAILER_PREVIOUS, TRAILER_PROMOTION, TRAILER_SOURCE, TRAILER_TARGET,
    TRAILER_VERSION, TrailerQuery, trailer_groups,
};
pub use path::RepoPath;
pub use request::{
    ChangeInfo, ChangeLog, CommitId, Committed, Conflict, Identity, Outcome, PromotionRequest,
    Side, Source, Target,
};
pub use secret_data::{
    CredentialsError, SECRET_KNOWN_HOSTS, SECRET_PASSWORD, SECRET_SIGNING_KEY,
    SECRET_SIGNING_PASSPHRASE, SECRET_SSH_PASSPHRASE, SECRET_SSH_PRIVATE_KEY, SECRET_TOKEN,
    SECRET_USERNAME, SecretCredentials,
};
pub use signing::{SigningKey, SigningKeyError};
pub use url::{RepoUrl, Transport};
