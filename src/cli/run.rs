//! `phase run [PHASE…] [--once]`: runs the phases until a signal, or until quiescent.

use std::sync::Arc;

use super::{Context, Failure, Out, Outcome};
use crate::coordinator::{self, PhaseName, RunOptions};
use crate::status::TaskState;

/// Arguments of `phase run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Phases to run in this process: router, executor, recovery (default: all three).
    #[arg(value_name = "PHASE")]
    pub phases: Vec<String>,
    /// Stop when nothing is left to do (inbox empty, nothing runnable or running); exit 0
    /// only if every task of the run succeeded.
    #[arg(long)]
    pub once: bool,
    /// With --once, judge every task in the state directory, not only the current run's.
    #[arg(long, requires = "once")]
    pub all: bool,
    /// Poll the state directory instead of relying on file-system notifications (network
    /// file systems).
    #[arg(long)]
    pub poll: bool,
}

/// Runs the coordinator; with `--once` prints a one-line summary of the end state.
pub(super) fn run(args: &Args, ctx: &Context, out: &mut Out<'_>) -> Outcome {
    let phases = args
        .phases
        .iter()
        .map(|p| PhaseName::parse(p))
        .collect::<crate::Result<Vec<_>>>()
        .map_err(Failure::usage)?;
    let config = Arc::new(ctx.config().map_err(Failure::usage)?);
    if !ctx.state.root().is_dir() {
        return Err(Failure::usage(crate::Error::Usage(format!(
            "{}: no state directory here; run `phase init` first",
            ctx.state.root().display()
        ))));
    }
    let options = RunOptions {
        phases,
        once: args.once,
        poll: args.poll,
        // Without a file the defaults apply, and a command naming it would fail.
        config_file: (ctx.config_explicit || ctx.config_path.is_file())
            .then(|| ctx.config_path.clone()),
        all: args.all,
    };
    let report = coordinator::run(&ctx.state, config, &options)?;
    if let Some(snapshot) = &report.snapshot {
        let counts: Vec<String> = snapshot
            .counts
            .iter()
            .map(|(state, n)| format!("{n} {state}"))
            .collect();
        out.line(format!(
            "{} tasks: {}",
            snapshot.tasks.len(),
            if counts.is_empty() {
                "none".to_string()
            } else {
                counts.join(", ")
            }
        ))?;
        for t in snapshot
            .tasks
            .iter()
            .filter(|t| t.state != TaskState::Succeeded)
        {
            let why = t.reason.as_deref().unwrap_or_default();
            out.line(format!("  {} {} {why}", t.id, t.state.as_str()))?;
        }
    }
    Ok(report.exit_code())
}
