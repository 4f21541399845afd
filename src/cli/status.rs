//! `phase status [IDS…] [--state S] [--kind K] [--json]`: every task's state, derived from
//! the files. One line per task (no rule between rows), cut to the terminal's width, in
//! colour on a terminal (not with `NO_COLOR`, nor when piped); times relative to now.

use std::collections::HashMap;
use std::io::IsTerminal;

use anstyle::{AnsiColor, Style};

use super::{Context, EXIT_OK, Failure, Out, Outcome};
use crate::Error;
use crate::model::{ExecutionResults, RoutingDecisions, StateDoc};
use crate::status::{LivePhases, TaskState, TaskView, relative_times, snapshot, waiting_on};
use crate::store::read_view;

/// Arguments of `phase status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only these tasks.
    #[arg(value_name = "ID")]
    pub ids: Vec<String>,
    /// Only tasks in these states (repeat, or comma-separate: `--state failed,blocked`).
    #[arg(long = "state", value_name = "STATE", value_delimiter = ',')]
    pub states: Vec<String>,
    /// Only tasks of these kinds (as routed; repeat, or comma-separate).
    #[arg(long = "kind", value_name = "KIND", value_delimiter = ',')]
    pub kinds: Vec<String>,
    /// Print JSON for programs (`{"tasks": [...], "counts": {...}, "agents": {...}}`).
    #[arg(long)]
    pub json: bool,
}

/// The attempts' Slurm states, as much of the results file as `status` needs.
#[derive(Debug, Default, serde::Deserialize)]
struct SlurmStatesView {
    #[serde(default)]
    results: Vec<ResultStates>,
}

#[derive(Debug, serde::Deserialize)]
struct ResultStates {
    task_id: String,
    #[serde(default)]
    attempts: Vec<AttemptState>,
}

#[derive(Debug, serde::Deserialize)]
struct AttemptState {
    #[serde(default)]
    slurm_state: Option<String>,
}

/// Task → Slurm's final state of its latest attempt's job (the attempt whose job id the
/// snapshot shows).
fn slurm_states(ctx: &Context) -> Result<HashMap<String, String>, Failure> {
    let view: SlurmStatesView = read_view(&ctx.state.file(ExecutionResults::FILE))?;
    Ok(view
        .results
        .into_iter()
        .filter_map(|r| Some((r.task_id, r.attempts.into_iter().last()?.slurm_state?)))
        .collect())
}

/// Prints the table (or JSON) and the counts. Exit 1 if a state file is invalid.
pub(super) fn run(args: &Args, ctx: &Context, out: &mut Out<'_>) -> Outcome {
    for s in &args.states {
        if !TaskState::ALL.iter().any(|t| t.as_str() == s) {
            let names: Vec<&str> = TaskState::ALL.iter().map(|t| t.as_str()).collect();
            return Err(Failure::usage(Error::Usage(format!(
                "--state: unknown state {s:?}; expected one of {}",
                names.join(", ")
            ))));
        }
    }
    let live = LivePhases::detect(&ctx.state)?;
    let mut snap = snapshot(&ctx.state, live)?;
    let decisions: RoutingDecisions = read_view(&ctx.state.file(RoutingDecisions::FILE))?;
    let routed: HashMap<&str, (&str, &[String])> = decisions
        .decisions
        .iter()
        .map(|d| {
            let deps: &[String] = &d.task.depends_on;
            (d.task_id.as_str(), (d.task_kind.as_str(), deps))
        })
        .collect();
    let total = snap.tasks.len();
    // Dependencies filtered out of the table still count for WAITING ON.
    let states: HashMap<String, TaskState> =
        snap.tasks.iter().map(|t| (t.id.clone(), t.state)).collect();
    snap.tasks.retain(|t| {
        (args.ids.is_empty() || args.ids.contains(&t.id))
            && (args.states.is_empty() || args.states.iter().any(|s| s == t.state.as_str()))
            && (args.kinds.is_empty()
                || routed
                    .get(t.id.as_str())
                    .is_some_and(|(kind, _)| args.kinds.iter().any(|k| k == kind)))
    });
    for id in args
        .ids
        .iter()
        .filter(|id| !routed.contains_key(id.as_str()))
    {
        if !snap.tasks.iter().any(|t| &t.id == id) {
            super::note(&format!("no task {id:?} here"));
        }
    }
    // What the AI coding agents' steps took and cost, summed (src/agent/cost.rs).
    let agents = crate::agent::cost::totals(&ctx.state)?;
    // Slurm's final state of each shown job's attempt (docs/SLURM.md); the results file
    // is read for it only when some task ran on Slurm.
    let slurm_states = match snap.tasks.iter().any(|t| t.job_id.is_some()) {
        true => slurm_states(ctx)?,
        false => HashMap::new(),
    };
    let slurm_state = |t: &TaskView| slurm_states.get(&t.id).cloned();
    if args.json {
        let render =
            |e: serde_json::Error| Failure::from(Error::Usage(format!("cannot render JSON: {e}")));
        let mut doc = serde_json::to_value(&snap).map_err(render)?;
        if let Some(tasks) = doc["tasks"].as_array_mut() {
            for (task, view) in tasks.iter_mut().zip(&snap.tasks) {
                if let Some(state) = slurm_state(view) {
                    task["slurm_state"] = serde_json::json!(state);
                }
            }
        }
        doc["agents"] = serde_json::to_value(agents).map_err(render)?;
        let text = serde_json::to_string_pretty(&doc).map_err(render)?;
        out.line(text)?;
        return Ok(EXIT_OK);
    }
    let color = anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never;
    let width = std::io::stdout()
        .is_terminal()
        .then(|| {
            console::Term::stdout()
                .size_checked()
                .map(|(_, w)| usize::from(w))
        })
        .flatten()
        // A pseudo-terminal nobody sized says 0 columns: as good as unknown.
        .filter(|w| *w > 0);
    if !snap.tasks.is_empty() {
        let states: HashMap<&str, TaskState> =
            states.iter().map(|(id, s)| (id.as_str(), *s)).collect();
        let now = jiff::Timestamp::now();
        let rows: Vec<[String; 6]> = snap
            .tasks
            .iter()
            .map(|t| {
                let deps = routed.get(t.id.as_str()).map_or(&[][..], |(_, d)| d);
                [
                    t.id.clone(),
                    t.state.as_str().to_string(),
                    // A Slurm attempt: its job id beside the tool (docs/SLURM.md).
                    match (&t.tool, &t.job_id, slurm_state(t)) {
                        (Some(tool), Some(job), Some(state)) => {
                            format!("{tool} (job {job}, {state})")
                        }
                        (Some(tool), Some(job), None) => format!("{tool} (job {job})"),
                        (tool, _, _) => tool.clone().unwrap_or_default(),
                    },
                    t.attempt.to_string(),
                    waiting_on(t, deps, &states),
                    relative_times(&detail(t), now),
                ]
            })
            .collect();
        let states_of: Vec<TaskState> = snap.tasks.iter().map(|t| t.state).collect();
        for line in render(&rows, &states_of, width, color) {
            out.line(line.trim_end())?;
        }
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
    let shown = if snap.tasks.len() == total {
        String::new()
    } else {
        format!("{} of ", snap.tasks.len())
    };
    // Before the counts: scripts and tests read the counts from the last line.
    out.line(format!("config: {}", ctx.config_shown().display()))?;
    out.line(format!(
        "{shown}{total} task{}{}{}; phases running: {}",
        if total == 1 { "" } else { "s" },
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

const HEADER: [&str; 6] = ["TASK", "STATE", "TOOL", "ATT", "WAITING ON", "DETAIL"];
/// Columns between cells.
const GAP: usize = 2;

/// The table's lines: the header and one line per row, cut to `width` when given (DETAIL
/// first, then WAITING ON, then TASK), the STATE cell coloured when `color`.
fn render(
    rows: &[[String; 6]],
    states: &[TaskState],
    width: Option<usize>,
    color: bool,
) -> Vec<String> {
    let len = |s: &str| s.chars().count();
    let mut widths: Vec<usize> = HEADER.iter().map(|h| len(h)).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(len(cell));
        }
    }
    if let Some(limit) = width {
        let total = |w: &[usize]| w.iter().sum::<usize>() + GAP * (w.len() - 1);
        // Shrink the wide columns in turn, each down to a floor that still reads.
        for (col, floor) in [(5, 12), (4, 12), (0, 12), (5, 6), (4, 6)] {
            let excess = total(&widths).saturating_sub(limit);
            let floor = floor.max(len(HEADER[col])).min(widths[col]);
            widths[col] -= excess.min(widths[col] - floor);
        }
    }
    let header = Style::new().bold();
    let line = |cells: [&str; 6], style: Option<Style>, head: bool| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let mut cell = fit(cell, widths[i]);
            if i + 1 < cells.len() {
                cell = format!("{cell:<w$}", w = widths[i] + GAP);
            }
            let style = if head {
                Some(header)
            } else {
                style.filter(|_| i == 1)
            };
            match style.filter(|_| color) {
                Some(s) => text.push_str(&format!("{s}{cell}{s:#}")),
                None => text.push_str(&cell),
            }
        }
        text
    };
    let mut lines = vec![line(HEADER, None, true)];
    for (row, state) in rows.iter().zip(states) {
        let cells = [0, 1, 2, 3, 4, 5].map(|i| row[i].as_str());
        lines.push(line(cells, Some(state_style(*state)), false));
    }
    lines
}

/// `text` cut to `width` characters, with `…` when cut.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Green for success, red for failures, yellow for waiting, cyan for moving.
fn state_style(state: TaskState) -> Style {
    let color = match state {
        TaskState::Succeeded => AnsiColor::Green,
        TaskState::Failed | TaskState::Quarantined | TaskState::DepFailed | TaskState::Rejected => {
            AnsiColor::Red
        }
        TaskState::Blocked | TaskState::RetryScheduled | TaskState::Queued => AnsiColor::Yellow,
        TaskState::Running | TaskState::Verifying | TaskState::Recovering | TaskState::Routed => {
            AnsiColor::Cyan
        }
        TaskState::Canceled | TaskState::Duplicate => return Style::new().dimmed(),
    };
    Style::new().fg_color(Some(color.into()))
}
