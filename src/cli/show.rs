//! `phase show ID [--json]`: everything the files say about one task — its file, kind and
//! tool, the router's decision, every attempt, analyses, fixes, gate verdicts, the
//! escalation report, its logs, and what it waits on. `--json` follows
//! `schemas/show.schema.json`.

mod shape;
mod text;
mod view;

pub(crate) use view::log_files;

use super::{Context, EXIT_OK, Failure, Out, Outcome};
use crate::Error;
use crate::status::{LivePhases, snapshot};

/// Arguments of `phase show`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The task.
    #[arg(value_name = "ID")]
    pub id: String,
    /// Print JSON for programs (schemas/show.schema.json).
    #[arg(long)]
    pub json: bool,
}

/// Prints the task; an unknown id is a usage error (exit 2) naming it.
pub(super) fn run(args: &Args, ctx: &Context, out: &mut Out<'_>) -> Outcome {
    let live = LivePhases::detect(&ctx.state)?;
    let snap = snapshot(&ctx.state, live)?;
    // The config only adds the tool's argv template: a broken one does not hide the task.
    let config = ctx.config().ok();
    let Some(task) = view::gather(&ctx.state, &snap, config.as_ref(), &args.id)? else {
        return Err(Failure::usage(Error::Usage(format!(
            "no task {:?} in {} (`phase status` lists them)",
            args.id,
            ctx.state.root().display()
        ))));
    };
    if args.json {
        let text = serde_json::to_string_pretty(&task)
            .map_err(|e| Failure::from(Error::Usage(format!("cannot render JSON: {e}"))))?;
        out.line(text)?;
    } else {
        out.text(&text::render(&task))?;
    }
    Ok(EXIT_OK)
}
