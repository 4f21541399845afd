//! `phase run [PHASE…] [--once]`: runs the phases until a signal, or until quiescent.

use std::sync::Arc;
use std::time::Duration;

use super::progress::{Monitor, Show};
use super::{Context, Failure, Out, Outcome};
use crate::config::Config;
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
    /// Run nothing: print each task's tool, expanded argv, workdir and dependencies, in
    /// the order the executor would start them.
    #[arg(long, conflicts_with_all = ["once", "all", "poll"])]
    pub dry_run: bool,
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
    if args.dry_run {
        return super::dag::print_plan(ctx, &config, out);
    }
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
    if ctx.quiet == 0 {
        eprintln!("{}", start_line(ctx, &options, &config));
    }
    let show = Show::from_flags(args.once, ctx.quiet, ctx.verbose);
    let grace = Duration::from_millis(config.execution.shutdown_grace_ms);
    let monitor = Monitor::start(&ctx.state, show, grace);
    let report = coordinator::run(&ctx.state, config, &options);
    monitor.stop();
    let report = report?;
    if let Some(snapshot) = &report.snapshot {
        let counts: Vec<String> = snapshot
            .counts
            .iter()
            .map(|(state, n)| format!("{n} {state}"))
            .collect();
        out.line(format!(
            "{} task{}: {}",
            snapshot.tasks.len(),
            if snapshot.tasks.len() == 1 { "" } else { "s" },
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

/// `phase: running router, executor, recovery on .state (config …; up to 4 attempts at
/// once)`: what this process is about to do, so a wrong directory or config shows at once.
fn start_line(ctx: &Context, options: &RunOptions, config: &Config) -> String {
    let phases: Vec<&str> = if options.phases.is_empty() {
        PhaseName::ALL.iter().map(|p| p.as_str()).collect()
    } else {
        options.phases.iter().map(|p| p.as_str()).collect()
    };
    let config_text = match &options.config_file {
        Some(path) => path.display().to_string(),
        None => format!(
            "built-in defaults; {} does not exist",
            ctx.config_path.display()
        ),
    };
    let parallel = config.execution.parallelism();
    format!(
        "phase: running {} on {} (config {config_text}; up to {parallel} attempt{} at once{})",
        phases.join(", "),
        ctx.state.root().display(),
        if parallel == 1 { "" } else { "s" },
        if options.once {
            "; until nothing is left to do"
        } else {
            "; Ctrl-C stops"
        },
    )
}
