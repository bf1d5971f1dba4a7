//! Reading files from trees and building new trees in memory, refusing anything that is not a
//! plain directory on the way or a regular file at the end.

use std::collections::BTreeMap;

use git2::{Oid, Repository, Tree};

use crate::GitError;
use crate::path::RepoPath;

const MODE_TREE: i32 = 0o040000;
const MODE_BLOB: i32 = 0o100644;
const MODE_BLOB_EXECUTABLE: i32 = 0o100755;
const MODE_SYMLINK: i32 = 0o120000;
const MODE_SUBMODULE: i32 = 0o160000;

/// One edit on its way down the tree: remaining components, blob, mode, full path.
type Item<'a> = (&'a [String], Oid, i32, &'a RepoPath);

/// A regular file found at a path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FileEntry {
    pub oid: Oid,
    pub mode: i32,
}

fn refuse(path: &RepoPath, reason: String) -> GitError {
    GitError::InvalidPath {
        path: path.to_string(),
        reason,
    }
}

/// Finds the regular file at `path`; `None` when some component does not exist.
pub(crate) fn lookup(
    repo: &Repository,
    root: &Tree<'_>,
    path: &RepoPath,
    repo_name: &str,
) -> Result<Option<FileEntry>, GitError> {
    let components = path.components();
    let mut tree = root.clone();
    for (i, name) in components.iter().enumerate() {
        let Some((mode, id)) = tree.get_name(name).map(|e| (e.filemode(), e.id())) else {
            return Ok(None);
        };
        let so_far = components[..=i].join("/");
        let last = i + 1 == components.len();
        match mode {
            MODE_SYMLINK => {
                return Err(refuse(
                    path,
                    format!(
                        "{so_far} is a symbolic link; values are never read or written through links"
                    ),
                ));
            }
            MODE_SUBMODULE => return Err(refuse(path, format!("{so_far} is a submodule"))),
            MODE_BLOB | MODE_BLOB_EXECUTABLE if last => {
                return Ok(Some(FileEntry { oid: id, mode }));
            }
            MODE_TREE if !last => {
                tree = repo.find_tree(id).map_err(|e| local(repo_name, &e))?;
            }
            MODE_TREE => return Err(refuse(path, "it is a directory, not a values file".into())),
            _ if last => {
                return Err(refuse(
                    path,
                    format!("it is not a regular file (mode {mode:o})"),
                ));
            }
            _ => return Err(refuse(path, format!("{so_far} is a file, not a directory"))),
        }
    }
    Ok(None)
}

/// The content of the regular file at `path`, or `NotFound`. A file over `max` bytes is
/// refused before its content is loaded: values files are small, and a huge one is a mistake
/// (or an attack on the engine's memory).
pub(crate) fn read(
    repo: &Repository,
    root: &Tree<'_>,
    path: &RepoPath,
    repo_name: &str,
    max: usize,
) -> Result<(Vec<u8>, i32), GitError> {
    let entry = lookup(repo, root, path, repo_name)?.ok_or_else(|| GitError::NotFound {
        repo: repo_name.to_string(),
        what: format!("file {path}"),
    })?;
    let odb = repo.odb().map_err(|e| local(repo_name, &e))?;
    let (size, _) = odb
        .read_header(entry.oid)
        .map_err(|e| local(repo_name, &e))?;
    if size > max {
        return Err(GitError::InvalidValues {
            path: path.to_string(),
            message: format!(
                "the file is {size} bytes; values files over {max} bytes are refused (max_values_file)"
            ),
        });
    }
    let blob = repo
        .find_blob(entry.oid)
        .map_err(|e| local(repo_name, &e))?;
    Ok((blob.content().to_vec(), entry.mode))
}

/// Writes a new root tree: `base` with each `(path, blob, mode)` replaced. Only the trees on the
/// edited paths are rewritten; every other subtree is shared with `base`.
pub(crate) fn write(
    repo: &Repository,
    base: &Tree<'_>,
    edits: &[(RepoPath, Oid, i32)],
    repo_name: &str,
) -> Result<Oid, GitError> {
    let items: Vec<Item<'_>> = edits
        .iter()
        .map(|(p, oid, mode)| (p.components(), *oid, *mode, p))
        .collect();
    rebuild(repo, base, &items, repo_name)
}

fn rebuild(
    repo: &Repository,
    base: &Tree<'_>,
    items: &[Item<'_>],
    repo_name: &str,
) -> Result<Oid, GitError> {
    let mut builder = repo
        .treebuilder(Some(base))
        .map_err(|e| local(repo_name, &e))?;
    let mut groups: BTreeMap<&str, Vec<Item<'_>>> = BTreeMap::new();
    for (components, oid, mode, path) in items {
        if let Some((first, rest)) = components.split_first() {
            groups
                .entry(first.as_str())
                .or_default()
                .push((rest, *oid, *mode, path));
        }
    }
    for (name, group) in groups {
        if let Some((_, oid, mode, _)) = group.iter().find(|(rest, ..)| rest.is_empty()) {
            builder
                .insert(name, *oid, *mode)
                .map_err(|e| local(repo_name, &e))?;
            continue;
        }
        let path = group[0].3;
        let sub = base
            .get_name(name)
            .filter(|e| e.filemode() == MODE_TREE)
            .ok_or_else(|| refuse(path, format!("{name} is not a directory on the branch")))?;
        let sub_tree = repo.find_tree(sub.id()).map_err(|e| local(repo_name, &e))?;
        let oid = rebuild(repo, &sub_tree, &group, repo_name)?;
        builder
            .insert(name, oid, MODE_TREE)
            .map_err(|e| local(repo_name, &e))?;
    }
    builder.write().map_err(|e| local(repo_name, &e))
}

/// A libgit2 failure on the local cache.
pub(crate) fn local(repo_name: &str, e: &git2::Error) -> GitError {
    GitError::Git {
        repo: repo_name.to_string(),
        message: e.message().to_string(),
    }
}
