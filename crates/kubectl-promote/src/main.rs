//! `kubectl-promote`: the kubectl plugin for Promote (`kubectl promote …` once it is on PATH).
//!
//! One module per subcommand; `main` parses arguments and turns results into exit codes:
//! 0 on success, 1 when the command refused or failed (message on stderr), 2 on bad usage.
//! The plugin must not depend on the operator's runtime crates; it works on files and Git
//! repositories directly, without a cluster.

mod atomic;
mod demo;
mod local;
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
    /// Promote between two values files in a Git repository, without a cluster.
    Local(local::LocalArgs),
    /// Show a promotion end to end on a throwaway repository (no cluster, no network).
    Demo(demo::DemoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Values(command) => values::run(command),
        // These report their own outcome: their exit codes carry more than success or failure.
        Command::Local(args) => return local::run(args),
        Command::Demo(args) => return demo::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
