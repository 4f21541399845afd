//! `phase archive [--run ID]`: moves a finished run's records to `archive/<run_id>/`
//! (`crate::runs::archive`); with `state.retention_days`, removes archives older than
//! that.

use super::{Context, EXIT_OK, Failure, Out, Outcome};
use crate::Error;
use crate::events::EventLog;

/// Arguments of `phase archive`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run to archive (see runs.json); default: the latest finished run not archived
    /// yet.
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,
}

/// Archives the run; prints what moved where.
pub(super) fn run(args: &Args, ctx: &Context, out: &mut Out<'_>) -> Outcome {
    if !ctx.state.root().is_dir() {
        return Err(Failure::usage(Error::invalid(
            ctx.state.root(),
            "no state directory here (run `phase init`, or pass --state-dir)",
        )));
    }
    let config = ctx.config().map_err(Failure::usage)?;
    let writer = format!("cli-{}", std::process::id());
    let events = EventLog::new(&ctx.state, &writer);
    let archived = crate::runs::archive::archive(
        &ctx.state,
        args.run.as_deref(),
        config.state.retention_days,
        &writer,
        &events,
        "cli",
    )?;
    out.line(format!(
        "archived run {}: {} tasks, {} rejected files -> {}",
        archived.run_id,
        archived.tasks.len(),
        archived.rejected.len(),
        archived.dir.display()
    ))?;
    for id in &archived.pruned {
        out.line(format!(
            "removed archive/{id} (older than state.retention_days = {})",
            config.state.retention_days
        ))?;
    }
    Ok(EXIT_OK)
}
