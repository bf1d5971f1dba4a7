//! `kubectl-promote`: the kubectl plugin for Promote (`kubectl promote …` once it is on PATH).
//!
//! One module per subcommand; `main` parses arguments and turns results into exit codes
//! (see [`EXIT_HELP`]). The cluster verbs read and patch Promotions through the Kubernetes
//! API with the contract types of `promote-api`; `values`, `local` and `demo` work on files
//! and Git repositories directly, without a cluster. The plugin must not depend on the
//! operator's runtime crates (`promote-controller`, `promote-lane`).

mod atomic;
mod cluster;
mod completions;
mod demo;
mod local;
mod values;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit statuses, shown by `--help`.
const EXIT_HELP: &str = "\
Exit status:
  0   success (also: nothing to change)
  1   error, or a refusal (invalid version, approval of a version the source does not hold)
  2   usage (unknown flag, missing argument)
  3   conflict, nothing written (local: the target changed; approve: the Promotion kept changing)
  4   the Promotion does not exist, or the cluster does not serve Promotions
  75  temporary failure (network, API server unavailable): try again";

/// Promote releases between GitOps environments.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-promote",
    bin_name = "kubectl promote",
    version,
    about,
    after_help = EXIT_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Cluster(cluster::ClusterCommand),
    /// Read or edit one value in a YAML values file, changing nothing else.
    #[command(subcommand)]
    Values(values::ValuesCommand),
    /// Promote between two values files in a Git repository, without a cluster.
    Local(local::LocalArgs),
    /// Show a promotion end to end on a throwaway repository (no cluster, no network).
    Demo(demo::DemoArgs),
    /// Print a shell completion script (bash, zsh or fish).
    Completions(completions::CompletionsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Values(command) => values::run(command),
        // These report their own outcome: their exit codes carry more than success or failure.
        Command::Cluster(command) => return cluster::run(command),
        Command::Local(args) => return local::run(args),
        Command::Demo(args) => return demo::run(args),
        Command::Completions(args) => {
            completions::run(&args);
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
