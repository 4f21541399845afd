//! `phase man`: the manual page in roff, generated from the clap definitions (every verb
//! and flag, as `--help` shows them). Read it with `phase man | man -l -`, or install it as
//! `man1/phase.1`.

use clap::CommandFactory;

use super::{Cli, EXIT_OK, Failure, Out, Outcome};
use crate::Error;

/// Arguments of `phase man` (none).
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Prints the page on stdout.
pub(super) fn run(_args: &Args, out: &mut Out<'_>) -> Outcome {
    let page = clap_mangen::Man::new(Cli::command());
    let mut roff = Vec::new();
    page.render(&mut roff)
        .map_err(|e| Failure::from(Error::Runtime(format!("cannot render the man page: {e}"))))?;
    out.text(&String::from_utf8_lossy(&roff))?;
    Ok(EXIT_OK)
}
