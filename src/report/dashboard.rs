//! `.state/dashboard.md`: the project at a glance for a person, kept current while
//! `phase run` runs (seed 001's `PROJECT_HQ.md`). Like the metrics it is derived from the
//! state files each time it is written — task states come from the same derivation
//! `phase status` uses — so any process can write it and a restart changes nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::Result;
use crate::lifecycle::{LivePhases, Snapshot, TaskState};
use crate::model::{ExecutionResults, FixPatches, StateDoc, Status, ToolHealth};
use crate::store::{StateDir, read_view, write_atomic_unsynced};

/// The file's name in the state directory.
pub const DASHBOARD_FILE: &str = "dashboard.md";

/// At most one write per this interval: people read it, nothing waits on it.
const INTERVAL: Duration = Duration::from_secs(1);

/// How many recent fixes the dashboard lists.
const RECENT_FIXES: usize = 10;

/// The records beyond the derived states that the dashboard and the run report show,
/// read leniently (only the fields they need; `phase validate` checks the rest).
#[derive(Debug, Default)]
pub(crate) struct Records {
    /// `execution_results.json`, by task id.
    pub results: BTreeMap<String, ResultView>,
    /// `fix_patches.json`.
    pub patches: PatchesView,
    /// `tool_health.json`; empty when absent or unreadable (another phase's file).
    pub health: HealthView,
}

impl Records {
    /// Reads the files.
    pub(crate) fn read(state: &StateDir) -> Result<Records> {
        let results: ResultsView = read_view(&state.file(ExecutionResults::FILE))?;
        Ok(Records {
            results: results
                .results
                .into_iter()
                .map(|r| (r.task_id.clone(), r))
                .collect(),
            ..Records::read_without_results(state)?
        })
    }

    /// Reads the files but `execution_results.json` (`results` stays empty).
    fn read_without_results(state: &StateDir) -> Result<Records> {
        Ok(Records {
            results: BTreeMap::new(),
            patches: read_view(&state.file(FixPatches::FILE))?,
            health: read_view(&state.file(ToolHealth::FILE)).unwrap_or_default(),
        })
    }
}

#[derive(Debug, Default, Deserialize)]
struct ResultsView {
    #[serde(default)]
    results: Vec<ResultView>,
}

/// One task's entry in `execution_results.json`, for the run report.
#[derive(Debug, Deserialize)]
pub(crate) struct ResultView {
    pub task_id: String,
    #[serde(default)]
    pub attempts: Vec<AttemptView>,
}

/// One attempt.
#[derive(Debug, Deserialize)]
pub(crate) struct AttemptView {
    pub attempt: u32,
    pub status: Status,
    #[serde(default)]
    pub tool_id: String,
    #[serde(default)]
    pub duration_ms: Option<u64>,
    #[serde(default)]
    pub exit_code: Option<i64>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// `fix_patches.json`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PatchesView {
    #[serde(default)]
    pub patches: Vec<PatchView>,
    #[serde(default)]
    pub gates: Vec<GateView>,
}

/// One patch.
#[derive(Debug, Deserialize)]
pub(crate) struct PatchView {
    pub task_id: String,
    #[serde(default)]
    pub attempt: Option<u32>,
    #[serde(default)]
    pub fixer: String,
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub applied: bool,
    #[serde(default)]
    pub validated: bool,
    #[serde(default)]
    pub created_at: Option<String>,
}

/// One acceptance gate verdict.
#[derive(Debug, Deserialize)]
pub(crate) struct GateView {
    pub task_id: String,
    #[serde(default)]
    pub attempt: Option<u32>,
    pub passed: bool,
    #[serde(default)]
    pub failed_step: Option<String>,
}

/// `tool_health.json`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct HealthView {
    #[serde(default)]
    pub tools: BTreeMap<String, ToolView>,
}

/// One tool's health.
#[derive(Debug, Deserialize)]
pub(crate) struct ToolView {
    #[serde(default)]
    pub circuit: String,
    #[serde(default)]
    pub consecutive_failures: u32,
}

/// Renders the dashboard from the files, at `now` (for elapsed times).
pub fn render(state: &StateDir, live: LivePhases) -> Result<String> {
    // Of the results, the dashboard shows only when running attempts started, which the
    // facts the states are derived from hold: a second read of every result with its
    // attempts was the largest thing in memory while the phases held their documents.
    let facts = crate::status::read_facts(state)?;
    let snapshot = crate::lifecycle::derive(&facts, live);
    let running: HashSet<&str> = snapshot
        .tasks
        .iter()
        .filter(|t| t.state == TaskState::Running)
        .map(|t| t.id.as_str())
        .collect();
    let started = facts.latest_starts(|id| running.contains(id));
    let records = Records::read_without_results(state)?;
    Ok(render_from(state, &snapshot, &started, &records, live))
}

/// Renders and replaces `dashboard.md` atomically.
pub fn write(state: &StateDir, live: LivePhases) -> Result<()> {
    let text = render(state, live)?;
    write_atomic_unsynced(&state.file(DASHBOARD_FILE), text.as_bytes())?;
    Ok(())
}

/// Paces the writes of the reporting loop: at most one per [`INTERVAL`], and a write may
/// take at most 1 in [`DUTY`] of the time (on a large state directory the interval grows,
/// so the engine's throughput stays).
#[derive(Debug, Default)]
pub struct Pacer {
    next: Option<Instant>,
}

/// The share of the time writing the dashboard may take (1/50, as the metrics).
const DUTY: u32 = 50;

impl Pacer {
    /// Writes the dashboard if it is due; a failure is logged, never fatal (nothing waits
    /// on this file).
    pub fn tick(&mut self, state: &StateDir, live: LivePhases) {
        let started = Instant::now();
        if self.next.is_some_and(|t| started < t) {
            return;
        }
        if let Err(e) = write(state, live) {
            tracing::warn!("cannot write {DASHBOARD_FILE}: {e}");
        }
        self.next = Some(Instant::now() + INTERVAL.max(started.elapsed() * DUTY));
    }
}

/// `started`: when each running task's latest attempt started, by task id.
fn render_from(
    state: &StateDir,
    snap: &Snapshot,
    started: &HashMap<&str, &str>,
    rec: &Records,
    live: LivePhases,
) -> String {
    let mut out = String::new();
    let now = crate::model::now_rfc3339();
    let total = snap.tasks.len();
    let ended = snap.tasks.iter().filter(|t| t.state.has_ended()).count();
    let _ = writeln!(out, "# Dashboard\n\nUpdated {now}.\n");
    let phases: Vec<&str> = [
        ("router", live.router),
        ("executor", live.executor),
        ("recovery", live.recovery),
    ]
    .iter()
    .filter(|(_, on)| *on)
    .map(|(n, _)| *n)
    .collect();
    let phases = if phases.is_empty() {
        "none".to_string()
    } else {
        phases.join(", ")
    };
    let _ = writeln!(out, "## Progress\n\n{ended} of {total} tasks ended.");
    let counts: Vec<String> = snap
        .counts
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    let _ = writeln!(out, "{}.\nPhases running: {phases}.\n", counts.join(", "));

    section(&mut out, "Running", snap, &[TaskState::Running], |t| {
        let since = started.get(t.id.as_str()).copied();
        let elapsed = since.and_then(elapsed).unwrap_or_default();
        format!(
            "`{}` attempt {} on {}, {elapsed}",
            t.id,
            t.attempt,
            t.tool.as_deref().unwrap_or("?")
        )
    });
    section(&mut out, "Blocked", snap, &[TaskState::Blocked], |t| {
        let why = t.reason.as_deref().unwrap_or("its dependencies");
        format!("`{}` waits on {why}", t.id)
    });
    let bad = [
        TaskState::Failed,
        TaskState::Quarantined,
        TaskState::DepFailed,
        TaskState::Canceled,
        TaskState::Rejected,
    ];
    section(&mut out, "Failures and escalations", snap, &bad, |t| {
        let mut line = format!("`{}` {}", t.id, t.state.as_str());
        if let Some(r) = &t.reason {
            let _ = write!(line, ": {r}");
        }
        if state.escalations().join(format!("{}.md", t.id)).is_file() {
            let _ = write!(line, " — [report](escalations/{}.md)", t.id);
        }
        line
    });

    let _ = writeln!(out, "## Recent fixes\n");
    let mut fixes: Vec<&PatchView> = rec.patches.patches.iter().collect();
    fixes.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    if fixes.is_empty() {
        let _ = writeln!(out, "None.");
    }
    for p in fixes.iter().take(RECENT_FIXES) {
        let _ = writeln!(out, "- {}", fix_line(p));
    }
    let _ = writeln!(out, "\n## Tools\n");
    if rec.health.tools.is_empty() {
        let _ = writeln!(out, "No health recorded.");
    }
    for (name, t) in &rec.health.tools {
        let _ = writeln!(
            out,
            "- {name}: circuit {}, {} consecutive failures",
            t.circuit, t.consecutive_failures
        );
    }
    out
}

/// One patch in words: task, fixer, file, and whether it held.
pub(crate) fn fix_line(p: &PatchView) -> String {
    let outcome = match (p.applied, p.validated) {
        (true, true) => "applied, validated",
        (true, false) => "applied",
        _ => "not applied",
    };
    format!(
        "`{}`{} by {} on {}: {outcome}",
        p.task_id,
        p.attempt
            .map(|a| format!(" (after attempt {a})"))
            .unwrap_or_default(),
        if p.fixer.is_empty() { "?" } else { &p.fixer },
        p.file.as_deref().unwrap_or("?"),
    )
}

/// A `## title` section listing the tasks in `states`, or "None.".
fn section(
    out: &mut String,
    title: &str,
    snap: &Snapshot,
    states: &[TaskState],
    line: impl Fn(&crate::lifecycle::TaskView) -> String,
) {
    let _ = writeln!(out, "## {title}\n");
    let mut any = false;
    for t in snap.tasks.iter().filter(|t| states.contains(&t.state)) {
        any = true;
        let _ = writeln!(out, "- {}", line(t));
    }
    if !any {
        let _ = writeln!(out, "None.");
    }
    let _ = writeln!(out);
}

/// Time since an RFC 3339 instant, as `1m 05s`; `None` when it does not parse.
fn elapsed(since: &str) -> Option<String> {
    let t: jiff::Timestamp = since.parse().ok()?;
    let secs = jiff::Timestamp::now().duration_since(t).as_secs().max(0) as u64;
    Some(human(secs * 1000))
}

/// A duration in milliseconds, for people.
pub(crate) fn human(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0 => format!("{ms} ms"),
        1..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}
