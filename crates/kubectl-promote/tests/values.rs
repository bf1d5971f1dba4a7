//! The `values` commands through the real binary: output, exit codes, and what happens to
//! the file (bytes, permissions, inode, symlinks) on success and on refusal.

use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-promote");

const RELEASE: &str = "\u{feff}# prod release: the tag comes from release-dev\r\nimage:\r\n  repository: ghcr.io/acme/web\r\n  tag: \"sha-4f2e1c0\" # promoted\r\n\r\ndefaults: &d {tag: v1}\r\ncopy: *d\r\n";

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn release_file(dir: &Path) -> PathBuf {
    let file = dir.join("release.yaml");
    fs::write(&file, RELEASE).expect("write fixture");
    file
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

#[test]
fn get_prints_the_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = release_file(dir.path());
    let out = run(&["values", "get", s(&file), "image.tag"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "sha-4f2e1c0\n");
    let out = run(&["values", "get", s(&file), "copy.tag"]);
    assert_eq!(stdout(&out), "v1\n", "reads follow aliases");
}

#[test]
fn get_fails_with_a_message_when_the_value_cannot_be_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = release_file(dir.path());
    let float = dir.path().join("float.yaml");
    fs::write(&float, "image:\n  tag: 1.30\n").expect("write");
    let missing = dir.path().join("missing.yaml");
    for (args, needle) in [
        (
            vec!["values", "get", s(&file), "image.digest"],
            "does not exist",
        ),
        (vec!["values", "get", s(&file), "image"], "not a scalar"),
        (
            vec!["values", "get", s(&float), "image.tag"],
            "reads as a float",
        ),
        (
            vec!["values", "get", s(&missing), "image.tag"],
            "cannot read",
        ),
        (
            vec!["values", "get", s(&file), "image..tag"],
            "invalid path",
        ),
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(stdout(&out), "", "{args:?}");
        let err = stderr(&out);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
    }
}

#[test]
fn set_edits_only_the_value_and_keeps_the_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = release_file(dir.path());
    fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).expect("chmod");
    let out = run(&["values", "set", s(&file), "image.tag", "sha-9a8b7c6"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "{}: image.tag: sha-4f2e1c0 -> sha-9a8b7c6\n",
            file.display()
        )
    );
    let after = fs::read_to_string(&file).expect("read");
    assert_eq!(after, RELEASE.replace("\"sha-4f2e1c0\"", "\"sha-9a8b7c6\""));
    assert_eq!(
        fs::metadata(&file).expect("stat").permissions().mode() & 0o7777,
        0o640
    );
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .expect("readdir")
        .map(|e| e.expect("entry").file_name())
        .filter(|n| n != "release.yaml")
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files left behind: {leftovers:?}"
    );
}

#[test]
fn set_quotes_values_that_would_read_as_numbers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("v.yaml");
    fs::write(&file, "image:\n  tag: v1 # plain\n").expect("write");
    let out = run(&["values", "set", s(&file), "image.tag", "1.30"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        fs::read_to_string(&file).expect("read"),
        "image:\n  tag: \"1.30\" # plain\n"
    );
    let out = run(&["values", "get", s(&file), "image.tag"]);
    assert_eq!(stdout(&out), "1.30\n");
}

#[test]
fn set_to_the_current_value_does_not_touch_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = release_file(dir.path());
    let before = fs::metadata(&file).expect("stat");
    let out = run(&["values", "set", s(&file), "image.tag", "sha-4f2e1c0"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("unchanged"), "{}", stdout(&out));
    let after = fs::metadata(&file).expect("stat");
    assert_eq!(after.ino(), before.ino(), "the file was replaced");
    assert_eq!(fs::read_to_string(&file).expect("read"), RELEASE);
}

#[test]
fn refusals_leave_bytes_mode_and_inode_identical() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = release_file(dir.path());
    fs::set_permissions(&file, fs::Permissions::from_mode(0o604)).expect("chmod");
    let before = fs::metadata(&file).expect("stat");
    for (path, value, needle) in [
        ("image.digest", "v2", "does not exist"),
        ("image.tag", "not a version", "refusing to write"),
        ("image.tag", "v1:2", "refusing to write"),
        ("defaults.tag", "v2", "aliased elsewhere"),
        ("copy.tag", "v2", "alias"),
        ("image", "v2", "not a scalar"),
        ("image[0]", "v2", "expects a sequence"),
    ] {
        let out = run(&["values", "set", s(&file), path, value]);
        assert_eq!(out.status.code(), Some(1), "{path} {value}");
        assert_eq!(stdout(&out), "", "{path}");
        let err = stderr(&out);
        assert!(err.contains(needle), "{path} {value}: {err}");
        assert!(
            err.contains(&format!("{}: {path}: ", file.display())),
            "names file and path: {err}"
        );
        let after = fs::metadata(&file).expect("stat");
        assert_eq!(fs::read_to_string(&file).expect("read"), RELEASE, "{path}");
        assert_eq!(
            after.permissions().mode(),
            before.permissions().mode(),
            "{path}"
        );
        assert_eq!(after.ino(), before.ino(), "{path}: the file was replaced");
    }
    let files = fs::read_dir(dir.path()).expect("readdir").count();
    assert_eq!(files, 1, "temporary files left behind");
}

#[test]
fn refuses_files_it_cannot_edit_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, content, needle) in [
        (
            "multi.yaml",
            &b"image:\n  tag: v1\n---\nimage:\n  tag: v2\n"[..],
            "2 YAML documents",
        ),
        ("bad.yaml", b"image: {tag: v1\n", "not valid YAML"),
        (
            "latin1.yaml",
            b"# caf\xe9\nimage:\n  tag: v1\n",
            "not valid UTF-8",
        ),
        ("block.yaml", b"image:\n  tag: |\n    v1\n", "block scalar"),
        (
            "dup.yaml",
            b"image:\n  tag: v1\n  tag: v2\n",
            "more than once",
        ),
    ] {
        let file = dir.path().join(name);
        fs::write(&file, content).expect("write");
        let out = run(&["values", "set", s(&file), "image.tag", "v3"]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert!(stderr(&out).contains(needle), "{name}: {}", stderr(&out));
        assert_eq!(fs::read(&file).expect("read"), content, "{name}");
    }
}

#[test]
fn set_through_a_symlink_replaces_the_target() {
    let dir = tempfile::tempdir().expect("tempdir");
    let real_dir = dir.path().join("real");
    fs::create_dir(&real_dir).expect("mkdir");
    let file = release_file(&real_dir);
    let link = dir.path().join("link.yaml");
    std::os::unix::fs::symlink(&file, &link).expect("symlink");
    let out = run(&["values", "set", s(&link), "image.tag", "v2"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        fs::symlink_metadata(&link)
            .expect("lstat")
            .file_type()
            .is_symlink(),
        "the link was replaced"
    );
    assert!(
        fs::read_to_string(&file)
            .expect("read")
            .contains("tag: \"v2\" # promoted")
    );
    assert_eq!(
        fs::read_dir(&real_dir).expect("readdir").count(),
        1,
        "temporary files left behind"
    );
}

#[test]
fn help_is_available_on_every_command() {
    for args in [
        vec!["--help"],
        vec!["values", "--help"],
        vec!["values", "get", "--help"],
        vec!["values", "set", "--help"],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(
            stdout(&out).contains("Usage: kubectl promote"),
            "{args:?}: {}",
            stdout(&out)
        );
    }
    let out = run(&["values", "set", "--help"]);
    assert!(stdout(&out).contains("sha256:<64 hex>"));
}

#[test]
fn bad_usage_exits_2() {
    let out = run(&["values", "set", "only-a-file"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["values", "frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}
