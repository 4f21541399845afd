//! `phase tools [--json]` and `phase tools reset NAME`: the tools' health as the router
//! records it in `tool_health.json` (circuits, rate-limit cool-downs, health checks), and
//! a reset of one tool (a pool: each of its instances) under the file's lock, which the
//! router adopts like any edit.

use std::io::IsTerminal;
use std::time::Duration;

use comfy_table::{Table, presets};
use serde_json::json;

use super::{Context, EXIT_OK, Failure, Out, Outcome};
use crate::config::Config;
use crate::events::EventLog;
use crate::model::{Circuit, EventType, ToolHealth, ToolState};
use crate::store::{LockWait, StateFile};
use crate::{Error, Result};

/// Arguments of `phase tools`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do; none: show every tool.
    #[command(subcommand)]
    pub action: Option<Action>,
    /// Print `tool_health.json`'s tools as JSON for programs.
    #[arg(long)]
    pub json: bool,
}

/// `phase tools` verbs.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Close a tool's circuit and forget its failures and cool-down (for a pool: every
    /// instance's). The router adopts it at once.
    Reset {
        /// The tool (or pool, or `pool@instance`).
        name: String,
    },
}

/// Shows the tools, or resets one.
pub(super) fn run(args: &Args, ctx: &Context, out: &mut Out<'_>) -> Outcome {
    let config = ctx.config().map_err(Failure::usage)?;
    match &args.action {
        Some(Action::Reset { name }) => reset(name, &config, ctx, out),
        None => show(args.json, &config, ctx, out),
    }
}

fn show(as_json: bool, config: &Config, ctx: &Context, out: &mut Out<'_>) -> Outcome {
    let health = StateFile::<ToolHealth>::new(&ctx.state).read()?;
    if as_json {
        let text = serde_json::to_string_pretty(&health.tools)
            .map_err(|e| Failure::from(Error::Usage(format!("cannot render JSON: {e}"))))?;
        out.line(text)?;
        return Ok(EXIT_OK);
    }
    let mut table = Table::new();
    table.load_preset(if std::io::stdout().is_terminal() {
        presets::UTF8_HORIZONTAL_ONLY
    } else {
        presets::NOTHING
    });
    table.set_header(["TOOL", "CIRCUIT", "FAILURES", "UNTIL", "HEALTH", "NOTE"]);
    let default = ToolState::default();
    let mut names: Vec<&String> = config.tools.keys().chain(health.tools.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let members = config.pool_members(name);
        if members.first().is_some_and(|m| m != name) {
            // A pool has no health of its own: its instances do.
            let note = format!("pool of {}", members.join(", "));
            table.add_row([
                name.clone(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                note,
            ]);
            continue;
        }
        let s = health.tools.get(name).unwrap_or(&default);
        let health_text = match &s.last_check {
            Some(c) if c.ok => "ok",
            Some(_) => "failing",
            None => "-",
        };
        table.add_row([
            name.clone(),
            s.circuit.as_str().to_string(),
            s.consecutive_failures.to_string(),
            until(s).unwrap_or_else(|| "-".to_string()),
            health_text.to_string(),
            note(s),
        ]);
    }
    out.line(table.to_string().trim_end())?;
    Ok(EXIT_OK)
}

/// One line per tool that takes no tasks now, or only a probe: for `phase status`. An
/// unreadable `tool_health.json` gives none (`phase validate` reports it).
pub(super) fn attention(state: &crate::store::StateDir) -> Vec<String> {
    let Ok(health) = StateFile::<ToolHealth>::new(state).read() else {
        return Vec::new();
    };
    let now = crate::model::now_rfc3339();
    health
        .tools
        .iter()
        .filter_map(|(name, s)| {
            let cooling = s.cooldown_until.as_ref().is_some_and(|t| *t > now);
            let what = match s.circuit {
                Circuit::Open => format!("circuit open until {}", until(s)?),
                Circuit::HalfOpen => "circuit half open (one probe task goes through)".into(),
                Circuit::Closed if cooling => format!("cooling down until {}", until(s)?),
                Circuit::Closed => return None,
            };
            let note = note(s);
            let note = if note.is_empty() {
                note
            } else {
                format!(" ({note})")
            };
            Some(format!("tool {name}: {what}{note}"))
        })
        .collect()
}

/// When the tool may take tasks again: the later of its circuit's and its cool-down's end.
fn until(s: &ToolState) -> Option<String> {
    let open = (s.circuit == Circuit::Open)
        .then(|| s.open_until.clone())
        .flatten();
    [open, s.cooldown_until.clone()].into_iter().flatten().max()
}

fn note(s: &ToolState) -> String {
    if let Some(p) = s.probe.as_ref().filter(|_| s.circuit == Circuit::HalfOpen) {
        return format!("probe: task {}", p.task_id);
    }
    if let Some(reason) = &s.cooldown_reason {
        return reason.clone();
    }
    if let Some(c) = s.last_check.as_ref().filter(|c| !c.ok) {
        return c.note.clone().unwrap_or_default();
    }
    match (&s.last_failure, s.circuit) {
        (Some(f), Circuit::Open) => format!("last failure: task {} ({})", f.task_id, f.reason),
        _ => String::new(),
    }
}

fn reset(name: &str, config: &Config, ctx: &Context, out: &mut Out<'_>) -> Outcome {
    let run_id = format!("cli-{}", std::process::id());
    let mut file = StateFile::<ToolHealth>::new(&ctx.state);
    let mut locked = file.lock(LockWait::AtMost(Duration::from_millis(
        config.state.lock_timeout_ms,
    )))?;
    let mut doc = match locked.take_external() {
        Some(doc) => doc,
        None => StateFile::<ToolHealth>::new(&ctx.state).read()?,
    };
    let names = reset_targets(name, config, &doc)?;
    let events = EventLog::new(&ctx.state, &run_id);
    for tool in &names {
        let state = doc.tools.entry(tool.clone()).or_default();
        if state.circuit != Circuit::Closed {
            events.emit(
                EventType::CircuitClosed,
                "cli",
                None,
                None,
                json!({ "tool": tool, "reason": "phase tools reset" }),
            );
        }
        // The health check's last word stays: it is a fact, not a verdict.
        *state = ToolState {
            last_check: state.last_check.take(),
            ..ToolState::default()
        };
    }
    events.flush()?;
    locked.commit(&mut doc, &run_id)?;
    for tool in names {
        out.line(format!("reset: {tool}"))?;
    }
    Ok(EXIT_OK)
}

/// The tools `name` stands for: a pool's instances, or the tool itself; a name neither
/// configured nor in the file is a usage error.
fn reset_targets(name: &str, config: &Config, doc: &ToolHealth) -> Result<Vec<String>> {
    if config.tools.contains_key(name) {
        return Ok(config.pool_members(name));
    }
    if doc.tools.contains_key(name) {
        return Ok(vec![name.to_string()]);
    }
    let known: Vec<&str> = config.tools.keys().map(String::as_str).collect();
    Err(Error::input(Error::Usage(format!(
        "no tool named {name:?} (configured: {})",
        known.join(", ")
    ))))
}
