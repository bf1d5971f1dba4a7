//! Running programs: the isolated git environment, binary lookup, captured output.

use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::error::{Error, Result};

/// Author and committer name of every commit the fixture writes.
pub const AUTHOR_NAME: &str = "Promote Fixture";
/// Author and committer email of every commit the fixture writes.
pub const AUTHOR_EMAIL: &str = "fixture@promote.invalid";
/// Author and committer date of every commit the fixture writes (fixed, so hashes are stable).
pub const AUTHOR_DATE: &str = "1700000000 +0000";

/// A `git` command with a deterministic identity and no user or system configuration.
///
/// Uses the first `git` on `PATH`. Callers add arguments and a working directory.
pub fn git() -> Command {
    let mut cmd = Command::new("git");
    isolate_git(&mut cmd);
    cmd
}

/// Applies the fixture's git environment to any command that runs git.
pub(crate) fn isolate_git(cmd: &mut Command) {
    for var in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_NAMESPACE",
        "GIT_CEILING_DIRECTORIES",
        "GIT_CONFIG",
        "GIT_CONFIG_PARAMETERS",
        "GIT_CONFIG_COUNT",
        "GIT_SSH",
        "GIT_SSH_COMMAND",
        "GIT_ASKPASS",
        "SSH_ASKPASS",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", AUTHOR_NAME)
        .env("GIT_AUTHOR_EMAIL", AUTHOR_EMAIL)
        .env("GIT_AUTHOR_DATE", AUTHOR_DATE)
        .env("GIT_COMMITTER_NAME", AUTHOR_NAME)
        .env("GIT_COMMITTER_EMAIL", AUTHOR_EMAIL)
        .env("GIT_COMMITTER_DATE", AUTHOR_DATE)
        // English messages, so rejections can be recognised.
        .env("LC_ALL", "C")
        .env("LANGUAGE", "C")
        .stdin(Stdio::null());
}

/// Renders a command for error messages. Only call on commands whose arguments hold no secret.
pub(crate) fn describe(cmd: &Command) -> String {
    let mut out = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        out.push(' ');
        out.push_str(&arg.to_string_lossy());
    }
    out
}

/// Runs a command to completion and returns its output, whatever the exit status.
pub(crate) fn output(cmd: &mut Command, shown_as: &str) -> Result<Output> {
    cmd.stdin(Stdio::null());
    cmd.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            let program = cmd.get_program().to_string_lossy().into_owned();
            missing_binary_for(&program)
        } else {
            Error::io(format!("running `{shown_as}`"), e)
        }
    })
}

/// Runs a command and returns its standard output; a non-zero exit is an error.
pub(crate) fn run(cmd: &mut Command) -> Result<String> {
    let shown = describe(cmd);
    run_as(cmd, &shown)
}

/// Like [`run`], but errors show `shown_as` instead of the arguments (which may hold a secret).
pub(crate) fn run_as(cmd: &mut Command, shown_as: &str) -> Result<String> {
    let out = output(cmd, shown_as)?;
    check(&out, shown_as)?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Turns a failed [`Output`] into [`Error::Command`].
pub(crate) fn check(out: &Output, shown_as: &str) -> Result<()> {
    if out.status.success() {
        return Ok(());
    }
    Err(Error::Command {
        command: shown_as.to_owned(),
        status: out.status.to_string(),
        stderr: tail(&String::from_utf8_lossy(&out.stderr), 2000),
    })
}

/// The last `max` bytes of `text` (on a char boundary), trimmed.
pub(crate) fn tail(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.len() <= max {
        return text.to_owned();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

fn missing_binary_for(program: &str) -> Error {
    let name = Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (binary, package) = match name.as_str() {
        "lighttpd" => ("lighttpd", "lighttpd"),
        "sshd" => ("sshd", "openssh-server"),
        "ssh" => ("ssh", "openssh-client"),
        "ssh-keygen" => ("ssh-keygen", "openssh-client"),
        "id" => ("id", "coreutils"),
        _ => ("git", "git"),
    };
    Error::MissingBinary { binary, package }
}

/// Finds `name` on `PATH` or in the usual system directories (sbin is often not on `PATH`).
pub(crate) fn find_binary(name: &'static str, package: &'static str) -> Result<PathBuf> {
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let fixed = [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ];
    path_dirs
        .into_iter()
        .chain(fixed.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
        .ok_or(Error::MissingBinary {
            binary: name,
            package,
        })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Locates `git-http-backend`, preferring Debian's git (its exec path is `/usr/lib/git-core`).
pub(crate) fn find_http_backend() -> Result<PathBuf> {
    let mut candidates = Vec::new();
    for git_binary in ["/usr/bin/git", "git"] {
        let mut cmd = Command::new(git_binary);
        cmd.arg("--exec-path");
        if let Ok(out) = output(&mut cmd, "git --exec-path")
            && out.status.success()
        {
            let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            candidates.push(PathBuf::from(dir).join("git-http-backend"));
        }
    }
    candidates.push(PathBuf::from("/usr/lib/git-core/git-http-backend"));
    candidates
        .into_iter()
        .find(|c| is_executable(c))
        .ok_or(Error::MissingBinary {
            binary: "git-http-backend",
            package: "git",
        })
}

/// `n` random bytes from the kernel, hex-encoded.
pub(crate) fn random_hex(n: usize) -> Result<String> {
    let mut buf = vec![0u8; n];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| Error::io("reading /dev/urandom", e))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Checks that `path` is a plain relative path (no `..`, not absolute, not inside `.git`).
pub(crate) fn check_relative(what: &'static str, path: &str) -> Result<()> {
    let invalid = |reason| Error::Invalid {
        what,
        value: path.to_owned(),
        reason,
    };
    if path.is_empty() {
        return Err(invalid("empty"));
    }
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) if part == OsStr::new(".git") => {
                return Err(invalid("must not name .git"));
            }
            Component::Normal(_) => {}
            _ => return Err(invalid("must be relative, without `.` or `..`")),
        }
    }
    Ok(())
}

/// Quotes `s` for a POSIX shell.
pub(crate) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The name of the user this process runs as.
pub(crate) fn current_user() -> Result<String> {
    let name = run(Command::new("id").arg("-un"))?;
    Ok(name.trim().to_owned())
}

/// True when this process runs as root.
pub(crate) fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Writes `files` (relative path, content) under `dir`, creating parent directories.
pub(crate) fn write_files(dir: &Path, files: &[(&str, &str)]) -> Result<()> {
    for (path, content) in files {
        check_relative("file path", path)?;
        let full = dir.join(path);
        if let Some(parent) = full.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
        }
        fs::write(&full, content).map_err(|e| Error::io(format!("writing {path}"), e))?;
    }
    Ok(())
}

/// Writes a file with exactly `mode` (credential files, scripts).
pub(crate) fn write_with_mode(path: &Path, content: &str, mode: u32) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let context = |e| Error::io(format!("writing {}", path.display()), e);
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .and_then(|mut f| f.write_all(content.as_bytes()))
        .map_err(context)?;
    // open() applies the umask; set the mode exactly.
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binary_names_the_debian_package() {
        let err = find_binary("promote-no-such-binary", "promote-pkg").expect_err("absent");
        assert!(err.is_missing_binary());
        assert!(
            err.to_string().contains("Debian package `promote-pkg`"),
            "{err}"
        );
        let err = output(&mut Command::new("/nonexistent/sshd"), "sshd").expect_err("absent");
        assert!(err.to_string().contains("`openssh-server`"), "{err}");
    }

    #[test]
    fn relative_paths_only() {
        for ok in ["a", "a/b.yaml", "deploy/env/release-dev/web.yaml", "x.git"] {
            assert!(check_relative("path", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/a",
            "../a",
            "a/../../b",
            ".git",
            "a/.git/config",
            "./a",
        ] {
            assert!(check_relative("path", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tail_keeps_char_boundaries() {
        assert_eq!(tail("  short \n", 100), "short");
        let long = "é".repeat(100);
        let cut = tail(&long, 11);
        assert!(cut.starts_with('…') && cut.len() <= 11 + '…'.len_utf8());
    }

    #[test]
    fn shell_quote_survives_quotes() {
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
    }
}
