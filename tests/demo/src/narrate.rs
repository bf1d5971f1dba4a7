//! The demo's output: numbered steps, short explanations, and each command a user would type,
//! shown before its real output.

use std::ffi::OsStr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use tokio::process::Command;

/// The longest any one command may run (kubectl, git, the plugin).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Where explanations and command lines start.
const INDENT: &str = "   ";
/// Where a command's output starts.
const OUTPUT_INDENT: &str = "     ";

/// Prints the narrative and runs the commands it shows.
#[derive(Debug)]
pub struct Narrator {
    step: u32,
    started: Instant,
}

impl Narrator {
    /// A narrator at step 0.
    pub fn new() -> Self {
        Self {
            step: 0,
            started: Instant::now(),
        }
    }

    /// The next numbered step.
    pub fn step(&mut self, title: &str) {
        self.step += 1;
        println!("\n{}. {title}", self.step);
    }

    /// An explanation, one paragraph per line of `text`.
    pub fn say(&self, text: &str) {
        for line in text.lines() {
            println!("{INDENT}{line}");
        }
    }

    /// Lines that show a result, indented like a command's output.
    pub fn show(&self, text: &str) {
        for line in text.trim_end().lines() {
            println!("{OUTPUT_INDENT}{line}");
        }
    }

    /// Seconds since [`Narrator::restart_clock`] (or since the narrator was made).
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Starts the clock [`Narrator::elapsed`] reads.
    pub fn restart_clock(&mut self) {
        self.started = Instant::now();
    }

    /// Prints `$ <program> <args>` (quoted as a shell needs), runs `cmd` with those arguments,
    /// prints its output and returns its standard output. Fails when it exits unsuccessfully.
    pub async fn run(&self, program: &str, cmd: Command, args: &[&str]) -> Result<String> {
        let shown = shell_line(program, args);
        self.run_shown(&shown, cmd, args).await
    }

    /// [`Narrator::run`], showing `shown` as the command line (to keep a secret off screen).
    pub async fn run_shown(&self, shown: &str, mut cmd: Command, args: &[&str]) -> Result<String> {
        println!("{INDENT}$ {shown}");
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let out = tokio::time::timeout(COMMAND_TIMEOUT, cmd.output())
            .await
            .with_context(|| format!("`{shown}` did not finish within {COMMAND_TIMEOUT:?}"))?
            .with_context(|| format!("could not run `{shown}`"))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        self.show(&stdout);
        if !out.status.success() {
            bail!("`{shown}` failed ({}): {}", out.status, stderr.trim());
        }
        self.show(&stderr);
        Ok(stdout)
    }
}

/// `program` and `args` as one shell command line, each word quoted when it needs it.
pub fn shell_line(program: &str, args: &[&str]) -> String {
    std::iter::once(program)
        .chain(args.iter().copied())
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ")
}

/// One word as a POSIX shell reads it: bare when safe, else in single quotes.
fn quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c));
    if safe {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// A command for `path` (a binary found on disk), with `KUBECONFIG` set to `kubeconfig`.
pub fn command_with_kubeconfig(path: &std::path::Path, kubeconfig: &OsStr) -> Command {
    let mut cmd = Command::new(path);
    cmd.env("KUBECONFIG", kubeconfig);
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_only_when_a_shell_needs_it() {
        assert_eq!(
            shell_line("kubectl", &["get", "promotions", "-n", "ns-1"]),
            "kubectl get promotions -n ns-1"
        );
        assert_eq!(
            shell_line("kubectl", &["-p", r#"{"spec":{}}"#, "it's"]),
            r#"kubectl -p '{"spec":{}}' 'it'\''s'"#
        );
        assert_eq!(shell_line("git", &[""]), "git ''");
    }
}
