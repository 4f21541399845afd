//! `phase logs ID [--attempt N] [--stderr]`: a task attempt's captured output.

use super::{Context, EXIT_OK, Failure, Out, Outcome};
use crate::Error;
use crate::model::{ExecutionResults, is_valid_task_id};
use crate::store::StateFile;

/// Arguments of `phase logs`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The task.
    pub id: String,
    /// Which attempt (default: the latest).
    #[arg(long)]
    pub attempt: Option<u32>,
    /// Print stderr instead of stdout.
    #[arg(long)]
    pub stderr: bool,
}

/// Prints the log file's content.
pub(super) fn run(args: &Args, ctx: &Context, out: &mut Out<'_>) -> Outcome {
    if !is_valid_task_id(&args.id) {
        return Err(Failure::from(Error::Usage(format!(
            "{:?} is not a task id",
            args.id
        ))));
    }
    let attempt = match args.attempt {
        Some(n) => n,
        None => StateFile::<ExecutionResults>::new(&ctx.state)
            .read()?
            .results
            .iter()
            .find(|r| r.task_id == args.id)
            .map(|r| r.attempt)
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                Failure::from(Error::Usage(format!("task {:?} has not run yet", args.id)))
            })?,
    };
    let ext = if args.stderr { "err" } else { "out" };
    let path = ctx
        .state
        .task_logs(&args.id)
        .join(format!("{attempt}.{ext}"));
    // The executor creates a log on the first byte of output: no file, no output.
    // Never through a planted link (issue 8): one is an error naming it.
    let mut bytes = Vec::new();
    match crate::store::open_below(&path, 3, crate::store::Access::Read) {
        Ok(mut f) => {
            std::io::Read::read_to_end(&mut f, &mut bytes)
                .map_err(|e| Error::io(&path, "read", e))?;
        }
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    out.text(&String::from_utf8_lossy(&bytes))?;
    Ok(EXIT_OK)
}
