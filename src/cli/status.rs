//! `phase status [--json]`: every task's state, derived from the files.

use std::io::IsTerminal;

use comfy_table::{Table, presets};

use super::{Context, EXIT_OK, Failure, Out, Outcome};
use crate::Error;
use crate::status::{LivePhases, TaskView, snapshot};

/// Arguments of `phase status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON for programs (`{"tasks": [...], "counts": {...}, "agents": {...}}`).
    #[arg(long)]
    pub json: bool,
}

/// Prints the table (or JSON) and the counts. Exit 1 if a state file is invalid.
pub(super) fn run(args: &Args, ctx: &Context, out: &mut Out<'_>) -> Outcome {
    let live = LivePhases::detect(&ctx.state)?;
    let snap = snapshot(&ctx.state, live)?;
    // What the AI coding agents' steps took and cost, summed (src/agent/cost.rs).
    let agents = crate::agent::cost::totals(&ctx.state)?;
    if args.json {
        let render =
            |e: serde_json::Error| Failure::from(Error::Usage(format!("cannot render JSON: {e}")));
        let mut doc = serde_json::to_value(&snap).map_err(render)?;
        doc["agents"] = serde_json::to_value(agents).map_err(render)?;
        let text = serde_json::to_string_pretty(&doc).map_err(render)?;
        out.line(text)?;
        return Ok(EXIT_OK);
    }
    let mut table = Table::new();
    table.load_preset(if std::io::stdout().is_terminal() {
        presets::UTF8_HORIZONTAL_ONLY
    } else {
        presets::NOTHING
    });
    table.set_header(["TASK", "STATE", "TOOL", "ATTEMPT", "DETAIL"]);
    for t in &snap.tasks {
        table.add_row([
            t.id.clone(),
            t.state.as_str().to_string(),
            t.tool.clone().unwrap_or_default(),
            t.attempt.to_string(),
            detail(t),
        ]);
    }
    if !snap.tasks.is_empty() {
        out.line(table.to_string().trim_end())?;
    }
    let counts: Vec<String> = snap
        .counts
        .iter()
        .map(|(state, n)| format!("{n} {state}"))
        .collect();
    let running: Vec<&str> = [
        (live.router, "router"),
        (live.executor, "executor"),
        (live.recovery, "recovery"),
    ]
    .iter()
    .filter(|(alive, _)| *alive)
    .map(|(_, name)| *name)
    .collect();
    out.line(format!(
        "{} tasks{}{}; phases running: {}",
        snap.tasks.len(),
        if counts.is_empty() { "" } else { ": " },
        counts.join(", "),
        if running.is_empty() {
            "none".to_string()
        } else {
            running.join(", ")
        }
    ))?;
    if agents.steps > 0 {
        out.line(format!("agents: {}", agents.line()))?;
    }
    // Tools that take no tasks now (an open circuit, a rate-limit cool-down).
    for line in super::tools::attention(&ctx.state) {
        out.line(line)?;
    }
    Ok(EXIT_OK)
}

/// The DETAIL column: the reason, and a request the executor has not carried out yet.
fn detail(t: &TaskView) -> String {
    match (&t.reason, t.request_pending) {
        (Some(reason), true) => format!("{reason} (request pending)"),
        (None, true) => "request pending".to_string(),
        (reason, false) => reason.clone().unwrap_or_default(),
    }
}
