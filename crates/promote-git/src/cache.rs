//! One bare repository per remote URL under the cache directory.
//!
//! Writers (fetch, commit, push) use a cache one at a time: a mutex inside the process, a file
//! lock across processes. Readers take a handle of their own from a small pool and never wait
//! for a writer, so a slow fetch of one lane does not hold up reads of the others: libgit2
//! writes packs and refs to temporary files and renames them, and a reader that misses an
//! object rescans the packs.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use git2::{Oid, Repository, RepositoryInitOptions};
use tracing::{debug, info, warn};

use crate::GitError;
use crate::url::RepoUrl;

/// Reader handles kept per cache; more concurrent readers open short-lived ones.
const POOLED_READERS: usize = 4;

#[derive(Default)]
struct Slot {
    writer: Mutex<Option<Repository>>,
    readers: Mutex<Vec<Repository>>,
    /// Set when the cache was removed; holders look the slot up again.
    retired: AtomicBool,
    /// Writer uses since loose objects were last packed.
    writes: AtomicU32,
}

/// The set of bare caches under one directory.
pub(crate) struct Cache {
    root: PathBuf,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    /// Pack loose objects after this many writer uses of a cache; zero never does.
    pack_every: u32,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves nothing half-written in memory that matters: the
    // repository on disk is the state, so the poisoned guard is safe to reuse.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Cache {
    pub(crate) fn new(root: PathBuf, pack_every: u32) -> Result<Self, GitError> {
        fs::create_dir_all(&root).map_err(|e| cache_err(&root, &e.to_string()))?;
        Ok(Self {
            root,
            slots: Mutex::new(HashMap::new()),
            pack_every,
        })
    }

    /// The cache directory.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    fn slot(&self, key: &str) -> Arc<Slot> {
        lock(&self.slots).entry(key.to_owned()).or_default().clone()
    }

    fn dir(&self, key: &str) -> PathBuf {
        self.root.join(format!("{key}.git"))
    }

    fn lock_file(&self, key: &str) -> Result<File, GitError> {
        let lock_path = self.root.join(format!("{key}.lock"));
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| cache_err(&lock_path, &e.to_string()))?;
        file.lock()
            .map_err(|e| cache_err(&lock_path, &e.to_string()))?;
        Ok(file)
    }

    /// Runs `f` with exclusive write use of the bare cache for `url`, creating it on first use.
    pub(crate) fn with<T>(
        &self,
        url: &RepoUrl,
        f: impl FnOnce(&Repository) -> Result<T, GitError>,
    ) -> Result<T, GitError> {
        let key = url.cache_key();
        loop {
            let slot = self.slot(&key);
            let mut guard = lock(&slot.writer);
            if slot.retired.load(Ordering::Acquire) {
                continue;
            }
            // Released when it drops, after `f`.
            let _file_lock = self.lock_file(&key)?;
            // A cache removed under an old handle is opened (or created) afresh.
            if guard.as_ref().is_none_or(|r| !r.path().exists()) {
                *guard = Some(open_or_init(&self.dir(&key), url)?);
            }
            let Some(repo) = guard.as_ref() else {
                return Err(cache_err(&self.root, "repository cache slot is empty"));
            };
            let result = f(repo);
            let writes = slot.writes.fetch_add(1, Ordering::Relaxed) + 1;
            if self.pack_every > 0 && writes >= self.pack_every {
                slot.writes.store(0, Ordering::Relaxed);
                if let Err(e) = pack_loose_objects(repo) {
                    // Loose objects still work; the next round tries again.
                    warn!(repo = %url, error = %e, "could not pack loose objects");
                }
            }
            return result;
        }
    }

    /// Runs `f` on a read handle of the bare cache for `url`, without waiting for writers.
    pub(crate) fn read<T>(
        &self,
        url: &RepoUrl,
        f: impl FnOnce(&Repository) -> Result<T, GitError>,
    ) -> Result<T, GitError> {
        let key = url.cache_key();
        loop {
            let slot = self.slot(&key);
            let pooled = lock(&slot.readers).pop().filter(|r| r.path().exists());
            let repo = match pooled {
                Some(repo) => repo,
                None => {
                    let dir = self.dir(&key);
                    if !dir.exists() {
                        self.with(url, |_| Ok(()))?;
                    }
                    Repository::open_bare(&dir).map_err(|e| cache_err(&dir, e.message()))?
                }
            };
            if slot.retired.load(Ordering::Acquire) {
                continue;
            }
            let result = f(&repo);
            let mut readers = lock(&slot.readers);
            if readers.len() < POOLED_READERS && !slot.retired.load(Ordering::Acquire) {
                readers.push(repo);
            }
            return result;
        }
    }

    /// Removes every cache whose key is not in `keep` (open ones and ones left on disk by an
    /// earlier run) and returns how many were removed. Kept caches are not touched, so their
    /// operations go on; a removed cache waits for its writer to finish first.
    pub(crate) fn retain(&self, keep: &HashSet<String>) -> Result<usize, GitError> {
        let mut keys: HashSet<String> = HashSet::new();
        let entries =
            fs::read_dir(&self.root).map_err(|e| cache_err(&self.root, &e.to_string()))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(key) = name.strip_suffix(".git") {
                keys.insert(key.to_owned());
            }
        }
        keys.extend(lock(&self.slots).keys().cloned());
        let mut removed = 0;
        for key in keys.into_iter().filter(|k| !keep.contains(k)) {
            let slot = lock(&self.slots).remove(&key);
            let slot = slot.unwrap_or_default();
            let mut writer = lock(&slot.writer);
            slot.retired.store(true, Ordering::Release);
            lock(&slot.readers).clear();
            *writer = None;
            let _file_lock = self.lock_file(&key)?;
            let dir = self.dir(&key);
            if dir.exists() {
                fs::remove_dir_all(&dir).map_err(|e| cache_err(&dir, &e.to_string()))?;
                removed += 1;
                info!(cache = %dir.display(), "removed repository cache no lane uses");
            }
            // The lock file goes too; a process still holding it keeps its own handle.
            let _ = fs::remove_file(self.root.join(format!("{key}.lock")));
        }
        Ok(removed)
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

/// The loose objects of a repository (those this engine wrote: blobs, trees and commits of the
/// promotions it built; fetches arrive as packs).
fn loose_objects(objects: &Path) -> Vec<(Oid, PathBuf)> {
    let mut found = Vec::new();
    let Ok(dirs) = fs::read_dir(objects) else {
        return found;
    };
    for dir in dirs.flatten() {
        let prefix = dir.file_name().to_string_lossy().into_owned();
        if prefix.len() != 2 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let Ok(files) = fs::read_dir(dir.path()) else {
            continue;
        };
        for file in files.flatten() {
            let rest = file.file_name().to_string_lossy().into_owned();
            if rest.len() == 38
                && let Ok(oid) = Oid::from_str(&format!("{prefix}{rest}"))
            {
                found.push((oid, file.path()));
            }
        }
    }
    found
}

/// Packs the loose objects into one pack and removes them, as `git gc` would, so a cache that
/// built thousands of commits does not hold thousands of files. Readers that miss a removed
/// loose object find it in the new pack when libgit2 rescans.
pub(crate) fn pack_loose_objects(repo: &Repository) -> Result<usize, String> {
    let objects = repo.path().join("objects");
    let loose = loose_objects(&objects);
    if loose.is_empty() {
        return Ok(0);
    }
    let mut pack = repo.packbuilder().map_err(|e| e.message().to_owned())?;
    for (oid, _) in &loose {
        pack.insert_object(*oid, None)
            .map_err(|e| e.message().to_owned())?;
    }
    pack.write(&objects.join("pack"), 0)
        .map_err(|e| e.message().to_owned())?;
    let odb = repo.odb().map_err(|e| e.message().to_owned())?;
    odb.refresh().map_err(|e| e.message().to_owned())?;
    for (_, path) in &loose {
        let _ = fs::remove_file(path);
    }
    debug!(objects = loose.len(), "packed loose objects");
    Ok(loose.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_objects_are_packed_and_stay_readable() {
        let dir = tempfile::tempdir().expect("tmp");
        let repo = Repository::init_bare(dir.path().join("r.git")).expect("init");
        let blobs: Vec<Oid> = (0..5)
            .map(|i| {
                repo.blob(format!("content {i}\n").as_bytes())
                    .expect("blob")
            })
            .collect();
        let objects = repo.path().join("objects");
        assert_eq!(loose_objects(&objects).len(), 5);
        assert_eq!(pack_loose_objects(&repo), Ok(5));
        assert!(loose_objects(&objects).is_empty());
        let reopened = Repository::open_bare(repo.path()).expect("open");
        for (i, oid) in blobs.iter().enumerate() {
            let blob = reopened.find_blob(*oid).expect("packed blob");
            assert_eq!(blob.content(), format!("content {i}\n").as_bytes());
        }
        assert_eq!(pack_loose_objects(&repo), Ok(0));
    }

    #[test]
    fn retain_removes_only_caches_not_kept() {
        let dir = tempfile::tempdir().expect("tmp");
        let cache = Cache::new(dir.path().to_path_buf(), 0).expect("cache");
        let keep = RepoUrl::parse("https://h/keep.git").expect("url");
        let drop = RepoUrl::parse("https://h/drop.git").expect("url");
        cache.with(&keep, |_| Ok(())).expect("init keep");
        cache.with(&drop, |_| Ok(())).expect("init drop");
        // One left over from an earlier run, never opened by this process.
        fs::create_dir(dir.path().join("old-0123456789abcdef.git")).expect("mkdir");
        let kept: HashSet<String> = [keep.cache_key()].into_iter().collect();
        assert_eq!(cache.retain(&kept), Ok(2));
        assert!(cache.dir(&keep.cache_key()).exists());
        assert!(!cache.dir(&drop.cache_key()).exists());
        // A removed cache comes back on next use.
        cache.read(&drop, |_| Ok(())).expect("recreated");
        assert!(cache.dir(&drop.cache_key()).exists());
    }
}
