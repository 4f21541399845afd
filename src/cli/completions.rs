//! `phase completions SHELL`: a completion script for the shell, generated from the same
//! clap definitions the parser uses, so it never lags behind a new verb or flag.

use clap::CommandFactory;
use clap_complete::Shell;

use super::{Cli, EXIT_OK, Out, Outcome};

/// Arguments of `phase completions`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell: bash, zsh, fish, elvish or powershell. Install, e.g. for bash:
    /// `phase completions bash > ~/.local/share/bash-completion/completions/phase`.
    #[arg(value_name = "SHELL")]
    pub shell: Shell,
}

/// Prints the script on stdout.
pub(super) fn run(args: &Args, out: &mut Out<'_>) -> Outcome {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "phase", &mut script);
    out.text(&String::from_utf8_lossy(&script))?;
    Ok(EXIT_OK)
}
