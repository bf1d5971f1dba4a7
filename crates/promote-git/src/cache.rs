//! One bare repository per remote URL under the cache directory, used by one writer at a time
//! (a mutex inside the process, a file lock across processes).

use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use git2::{Repository, RepositoryInitOptions};
use tracing::{info, warn};

use crate::GitError;
use crate::url::RepoUrl;

type Slot = Arc<Mutex<Option<Repository>>>;

/// The set of bare caches under one directory.
pub(crate) struct Cache {
    root: PathBuf,
    slots: Mutex<HashMap<String, Slot>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves nothing half-written in memory that matters: the
    // repository on disk is the state, so the poisoned guard is safe to reuse.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Cache {
    pub(crate) fn new(root: PathBuf) -> Result<Self, GitError> {
        fs::create_dir_all(&root).map_err(|e| cache_err(&root, &e.to_string()))?;
        Ok(Self {
            root,
            slots: Mutex::new(HashMap::new()),
        })
    }

    /// The cache directory.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Runs `f` with exclusive use of the bare cache for `url`, creating it on first use.
    pub(crate) fn with<T>(
        &self,
        url: &RepoUrl,
        f: impl FnOnce(&Repository) -> Result<T, GitError>,
    ) -> Result<T, GitError> {
        let key = url.cache_key();
        let slot = lock(&self.slots).entry(key.clone()).or_default().clone();
        let mut guard = lock(&slot);
        let lock_path = self.root.join(format!("{key}.lock"));
        let lock_file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| cache_err(&lock_path, &e.to_string()))?;
        lock_file
            .lock()
            .map_err(|e| cache_err(&lock_path, &e.to_string()))?;
        if guard.is_none() {
            *guard = Some(open_or_init(&self.root.join(format!("{key}.git")), url)?);
        }
        let result = match guard.as_ref() {
            Some(repo) => f(repo),
            None => Err(cache_err(&self.root, "repository cache slot is empty")),
        };
        // The file lock is released when `lock_file` drops.
        result
    }
}

fn cache_err(path: &Path, message: &str) -> GitError {
    GitError::Cache {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

fn open_or_init(path: &Path, url: &RepoUrl) -> Result<Repository, GitError> {
    if path.exists() {
        match Repository::open_bare(path) {
            Ok(repo) => return Ok(repo),
            Err(e) => {
                // A damaged cache holds nothing that is not on the remote: start over.
                warn!(cache = %path.display(), error = %e.message(), "repository cache unreadable; recreating it");
                fs::remove_dir_all(path).map_err(|e| cache_err(path, &e.to_string()))?;
            }
        }
    }
    let mut opts = RepositoryInitOptions::new();
    opts.bare(true)
        .mkpath(true)
        .description(&format!("Promote cache of {url}"));
    let repo = Repository::init_opts(path, &opts).map_err(|e| cache_err(path, e.message()))?;
    info!(cache = %path.display(), repo = %url, "created repository cache");
    Ok(repo)
}
