//! `kubectl-promote`: the kubectl plugin for Promote (`kubectl promote …` once it is on PATH).
//!
//! One module per subcommand; `main` parses arguments and turns results into exit codes:
//! 0 on success, 1 when the command refused or failed (message on stderr), 2 on bad usage.
//! The plugin must not depend on the operator's runtime crates; it talks to files (and,
//! later, to the cluster) directly.

mod atomic;
mod values;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Promote releases between GitOps environments.
#[derive(Debug, Parser)]
#[command(name = "kubectl-promote", bin_name = "kubectl promote", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read or edit one value in a YAML values file, changing nothing else.
    #[command(subcommand)]
    Values(values::ValuesCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Values(command) => values::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
