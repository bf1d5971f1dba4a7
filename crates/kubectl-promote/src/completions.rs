//! `kubectl promote completions SHELL`: completion scripts for the plugin's commands.

use std::io::Write as _;

use clap::CommandFactory as _;
use clap_complete::Shell;

/// The binary's file name, which shells complete.
const BIN: &str = "kubectl-promote";

/// The shells completions are printed for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum CompletionShell {
    /// Bash: `source <(kubectl-promote completions bash)`.
    Bash,
    /// Zsh: `kubectl-promote completions zsh > "${fpath[1]}/_kubectl-promote"`.
    Zsh,
    /// Fish: `kubectl-promote completions fish > ~/.config/fish/completions/kubectl-promote.fish`.
    Fish,
}

/// Arguments of `completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to print a completion script for.
    #[arg(value_enum)]
    pub shell: CompletionShell,
}

/// Prints the completion script for the `kubectl-promote` binary.
pub fn run(args: &CompletionsArgs) {
    let shell = match args.shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    // Shells complete the binary by its file name; `kubectl promote` is kubectl's to complete.
    let mut command = crate::Cli::command().bin_name(BIN);
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, BIN, &mut script);
    // A closed pipe (`| head`) is not an error worth reporting.
    let _ = std::io::stdout().write_all(&script);
}
