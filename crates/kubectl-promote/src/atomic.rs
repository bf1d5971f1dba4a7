//! Replacing a file atomically: a temporary file in the same directory, fsync, rename,
//! fsync of the directory. Readers see the old bytes or the new, never a mix.
//!
//! A symlink is followed and its target replaced (the link stays a link). Permissions are
//! kept, and so are owner and group when they differ from ours and we may set them;
//! extended attributes and hard links are not (a rename gives the path a new inode).

use std::fs::{self, File};
use std::io::{Read as _, Write as _};
use std::path::Path;

use anyhow::{Context as _, bail};

/// Replaces the file at `path` with `parts` written one after the other, provided it still
/// holds `expected`. Taking pieces lets an edit be written without joining it into a second
/// file-sized buffer.
pub fn replace<P: AsRef<[u8]>>(path: &Path, expected: &[u8], parts: &[P]) -> anyhow::Result<()> {
    let target =
        fs::canonicalize(path).with_context(|| format!("cannot resolve {}", path.display()))?;
    let meta =
        fs::metadata(&target).with_context(|| format!("cannot stat {}", target.display()))?;
    if !meta.is_file() {
        bail!("{} is not a regular file", target.display());
    }
    let dir = target
        .parent()
        .with_context(|| format!("{} has no parent directory", target.display()))?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    parts
        .iter()
        .try_for_each(|part| tmp.write_all(part.as_ref()))
        .and_then(|()| tmp.as_file().set_permissions(meta.permissions()))
        .with_context(|| format!("cannot write a temporary file in {}", dir.display()))?;
    keep_owner(tmp.as_file(), &meta).with_context(|| {
        format!(
            "cannot give the new file the owner and group of {}",
            target.display()
        )
    })?;
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("cannot sync a temporary file in {}", dir.display()))?;
    // Someone may have written the file since we read it: do not overwrite their edit.
    let same =
        holds(&target, expected).with_context(|| format!("cannot re-read {}", target.display()))?;
    if !same {
        bail!(
            "{} changed while it was being edited; nothing was written, run the command again",
            path.display()
        );
    }
    tmp.persist(&target)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot replace {}", target.display()))?;
    // The rename is durable only once the directory entry is.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync directory {}", dir.display()))?;
    Ok(())
}

/// Whether the file at `path` holds exactly `expected`, compared a chunk at a time rather
/// than read into another file-sized buffer.
fn holds(path: &Path, expected: &[u8]) -> std::io::Result<bool> {
    let mut file = File::open(path)?;
    let mut buf = vec![0; (expected.len() + 1).min(64 * 1024)];
    let mut rest = expected;
    loop {
        let n = match file.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(rest.is_empty());
        }
        match rest.split_at_checked(n) {
            Some((head, tail)) if head == &buf[..n] => rest = tail,
            _ => return Ok(false),
        }
    }
}

#[cfg(unix)]
fn keep_owner(file: &File, meta: &fs::Metadata) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt as _;
    let ours = file.metadata()?;
    if ours.uid() == meta.uid() && ours.gid() == meta.gid() {
        return Ok(());
    }
    std::os::unix::fs::fchown(file, Some(meta.uid()), Some(meta.gid()))
}

#[cfg(not(unix))]
fn keep_owner(_file: &File, _meta: &fs::Metadata) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_when_the_file_changed_since_it_was_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("v.yaml");
        fs::write(&file, "tag: v2\n").expect("write");
        let err = replace(&file, b"tag: v1\n", &[b"tag: v3\n"]).expect_err("stale read");
        assert!(
            err.to_string()
                .contains("changed while it was being edited"),
            "{err}"
        );
        assert_eq!(fs::read(&file).expect("read"), b"tag: v2\n");
        assert_eq!(
            fs::read_dir(dir.path()).expect("readdir").count(),
            1,
            "temporary file left"
        );
    }

    #[cfg(unix)]
    #[test]
    fn writes_the_pieces_in_order_and_keeps_the_mode() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("v.yaml");
        fs::write(&file, "image:\n  tag: v1 # CI\n").expect("write");
        fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).expect("chmod");
        let parts: [&[u8]; 4] = [b"image:\n  tag: ", b"", b"v2", b" # CI\n"];
        replace(&file, b"image:\n  tag: v1 # CI\n", &parts).expect("replace");
        assert_eq!(fs::read(&file).expect("read"), b"image:\n  tag: v2 # CI\n");
        let mode = fs::metadata(&file).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
        assert_eq!(
            fs::read_dir(dir.path()).expect("readdir").count(),
            1,
            "temporary file left"
        );
    }

    #[test]
    fn compares_the_file_to_what_was_read_chunk_by_chunk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("v.yaml");
        // Larger than one chunk, so the comparison crosses chunk boundaries.
        let long: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        fs::write(&file, &long).expect("write");
        assert!(holds(&file, &long).expect("read"));
        assert!(
            !holds(&file, &long[..long.len() - 1]).expect("read"),
            "grown"
        );
        let mut longer = long.clone();
        longer.push(b'z');
        assert!(!holds(&file, &longer).expect("read"), "shrunk");
        let mut changed = long.clone();
        changed[150_000] = b'!';
        assert!(
            !holds(&file, &changed).expect("read"),
            "changed past a chunk"
        );
        fs::write(&file, "").expect("write");
        assert!(holds(&file, b"").expect("read"));
        assert!(!holds(&file, b"x").expect("read"));
    }

    #[test]
    fn refuses_what_is_not_a_regular_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = replace(dir.path(), b"", &[b"x"]).expect_err("a directory");
        assert!(err.to_string().contains("not a regular file"), "{err}");
        let err = replace(&dir.path().join("absent"), b"", &[b"x"]).expect_err("missing");
        assert!(err.to_string().contains("cannot resolve"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn keeps_owner_and_group_when_allowed() {
        use std::os::unix::fs::MetadataExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("v.yaml");
        fs::write(&file, "tag: v1\n").expect("write");
        // Only root may give a file away; elsewhere this test has nothing to check.
        if std::os::unix::fs::chown(&file, Some(4242), Some(4343)).is_err() {
            return;
        }
        replace(&file, b"tag: v1\n", &[b"tag: v2\n"]).expect("replace");
        let meta = fs::metadata(&file).expect("stat");
        assert_eq!((meta.uid(), meta.gid()), (4242, 4343));
        assert_eq!(fs::read(&file).expect("read"), b"tag: v2\n");
    }
}
