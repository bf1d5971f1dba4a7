//! `kubectl promote values get|set`: byte-exact reads and edits of one value in a values file.

use std::fs;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;

use crate::atomic;

/// The `values` subcommands.
#[derive(Debug, Subcommand)]
pub enum ValuesCommand {
    /// Print the value at PATH in FILE.
    ///
    /// Exits 1 when the path does not exist or the value cannot be read exactly: a plain
    /// value that YAML readers take for a number, bool or null (`1.30`, `yes`, `~`), duplicate
    /// keys, several documents, or a file that is not valid YAML.
    Get {
        /// The values file.
        file: PathBuf,
        /// Where the value is: dotted keys (image.tag), indexes (sidecars[1].tag), and
        /// double-quoted keys that hold dots or brackets (labels."app.kubernetes.io/version").
        path: String,
    },
    /// Set the value at PATH in FILE to VERSION, changing only that value's bytes.
    ///
    /// Comments, quoting, key order, indentation, blank lines, CRLF and a BOM are kept. A
    /// value that readers would take for a number, bool or null is written quoted. The
    /// file is replaced atomically (same directory, fsync, rename) with its permissions
    /// kept; a symlink is followed and its target replaced. On any refusal (the key is
    /// missing, the value is an alias, anchored, a block scalar, or the version is invalid)
    /// it exits 1 and the file is left byte-identical.
    Set {
        /// The values file.
        file: PathBuf,
        /// Where the value is: dotted keys (image.tag), indexes (sidecars[1].tag), and
        /// double-quoted keys that hold dots or brackets (labels."app.kubernetes.io/version").
        path: String,
        /// The new version: an OCI tag, sha256:<64 hex>, or tag@sha256:<64 hex>.
        value: String,
    },
}

/// Runs one `values` subcommand.
pub fn run(command: ValuesCommand) -> anyhow::Result<()> {
    match command {
        ValuesCommand::Get { file, path } => {
            let content =
                fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let value = promote_values::get(&file.display().to_string(), &content, &path)?;
            println!("{value}");
            Ok(())
        }
        ValuesCommand::Set { file, path, value } => {
            let label = file.display().to_string();
            let content = fs::read(&file).with_context(|| format!("cannot read {label}"))?;
            // The pieces (before the token, the token, after it) are written as they are: a
            // joined copy would be a second file-sized buffer.
            let edit = promote_values::set_parts(&label, &content, &path, &value)?;
            if !edit.changed {
                println!("{label}: {path}: unchanged ({value})");
                return Ok(());
            }
            atomic::replace(&file, &content, &edit.parts)?;
            println!(
                "{label}: {path}: {} -> {value}",
                display_previous(&edit.previous)
            );
            Ok(())
        }
    }
}

/// An empty previous value is shown as such rather than as nothing.
fn display_previous(previous: &str) -> &str {
    if previous.is_empty() {
        "(empty)"
    } else {
        previous
    }
}
