//! `.state/reports/<run_id>.md`: what a run did, written when `phase run` ends (seed 004's
//! completion report). A run stopped before its end (Ctrl-C, SIGTERM) gets the same report
//! as a handoff (seed 003): what is done, in progress, blocked, and what to do next.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::dashboard::{Records, fix_line, human};
use crate::Result;
use crate::lifecycle::{LivePhases, Snapshot, TaskState, TaskView};
use crate::store::{StateDir, write_atomic};

/// The directory of the reports in the state directory.
pub const REPORTS_DIR: &str = "reports";

/// Renders the report of run `run_id`; `stopped` when a signal ended it early.
pub fn render(state: &StateDir, run_id: &str, stopped: bool) -> Result<String> {
    // No phase runs any more as the report is written: states are as a reader sees them.
    let snapshot = crate::status::snapshot(state, LivePhases::default())?;
    let records = Records::read(state)?;
    Ok(render_from(state, run_id, stopped, &snapshot, &records))
}

/// Writes the report atomically; returns its path.
pub fn write(state: &StateDir, run_id: &str, stopped: bool) -> Result<PathBuf> {
    let text = render(state, run_id, stopped)?;
    let dir = state.root().join(REPORTS_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| crate::Error::io(&dir, "create", e))?;
    let path = dir.join(format!("{run_id}.md"));
    write_atomic(&path, text.as_bytes())?;
    Ok(path)
}

fn render_from(
    state: &StateDir,
    run_id: &str,
    stopped: bool,
    snap: &Snapshot,
    rec: &Records,
) -> String {
    let mut out = String::new();
    let kind = if stopped {
        "Handoff (the run was stopped before its end)"
    } else {
        "Completion report"
    };
    let _ = writeln!(out, "# Run {run_id}: {kind}\n");
    let _ = writeln!(out, "Written {}.\n", crate::model::now_rfc3339());
    let counts: Vec<String> = snap
        .counts
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    let _ = writeln!(out, "{} tasks: {}.\n", snap.tasks.len(), counts.join(", "));

    let groups: [(&str, &[TaskState]); 4] = [
        ("Done", &[TaskState::Succeeded, TaskState::Duplicate]),
        (
            "In progress",
            &[
                TaskState::Queued,
                TaskState::Routed,
                TaskState::Running,
                TaskState::Verifying,
                TaskState::Recovering,
                TaskState::RetryScheduled,
            ],
        ),
        ("Blocked", &[TaskState::Blocked]),
        (
            "Needs a person",
            &[
                TaskState::Failed,
                TaskState::Quarantined,
                TaskState::DepFailed,
                TaskState::Canceled,
                TaskState::Rejected,
            ],
        ),
    ];
    for (title, states) in groups {
        let ids: Vec<String> = snap
            .tasks
            .iter()
            .filter(|t| states.contains(&t.state))
            .map(|t| format!("`{}`", t.id))
            .collect();
        let list = if ids.is_empty() {
            "none".to_string()
        } else {
            ids.join(", ")
        };
        let _ = writeln!(out, "- **{title}**: {list}");
    }

    let _ = writeln!(out, "\n## Tasks\n");
    for t in &snap.tasks {
        task_section(&mut out, state, t, rec);
    }

    let _ = writeln!(out, "## Next\n");
    let next = next_steps(state, snap);
    if next.is_empty() {
        let _ = writeln!(out, "Nothing: every task succeeded.");
    }
    for line in next {
        let _ = writeln!(out, "- {line}");
    }
    out
}

fn task_section(out: &mut String, state: &StateDir, t: &TaskView, rec: &Records) {
    let _ = write!(out, "### `{}`: {}", t.id, t.state.as_str());
    if let Some(tool) = &t.tool {
        let _ = write!(out, " (tool {tool})");
    }
    let _ = writeln!(out, "\n");
    if let Some(r) = &t.reason {
        let _ = writeln!(out, "{r}\n");
    }
    if let Some(result) = rec.results.get(&t.id).filter(|r| !r.attempts.is_empty()) {
        let total: u64 = result.attempts.iter().filter_map(|a| a.duration_ms).sum();
        let _ = writeln!(
            out,
            "Attempts: {} (total {}).\n",
            result.attempts.len(),
            human(total)
        );
        for a in &result.attempts {
            let _ = write!(out, "- attempt {}: {}", a.attempt, a.status.as_str());
            if let Some(code) = a.exit_code {
                let _ = write!(out, ", exit {code}");
            }
            if let Some(ms) = a.duration_ms {
                let _ = write!(out, ", {}", human(ms));
            }
            if !a.tool_id.is_empty() {
                let _ = write!(out, ", on {}", a.tool_id);
            }
            if let Some(r) = &a.reason {
                let _ = write!(out, ": {}", one_line(r));
            }
            let _ = writeln!(out);
        }
    }
    for p in rec.patches.patches.iter().filter(|p| p.task_id == t.id) {
        let _ = writeln!(out, "- fix: {}", fix_line(p));
    }
    for g in rec.patches.gates.iter().filter(|g| g.task_id == t.id) {
        let verdict = if g.passed { "passed" } else { "failed" };
        let _ = write!(
            out,
            "- gate after attempt {}: {verdict}",
            g.attempt.unwrap_or(0)
        );
        if let Some(step) = &g.failed_step {
            let _ = write!(out, " at {step}");
        }
        let _ = writeln!(out);
    }
    if state.escalations().join(format!("{}.md", t.id)).is_file() {
        let _ = writeln!(
            out,
            "- escalation: [escalations/{0}.md](../escalations/{0}.md)",
            t.id
        );
    }
    let _ = writeln!(out);
}

/// What a person must do, one line per task that needs one.
fn next_steps(state: &StateDir, snap: &Snapshot) -> Vec<String> {
    let mut next = Vec::new();
    for t in &snap.tasks {
        let id = &t.id;
        let line = match t.state {
            TaskState::Quarantined => {
                let report = state.escalations().join(format!("{id}.md"));
                format!(
                    "`{id}`: read {}, fix the cause, then `phase retry {id}`",
                    report.display()
                )
            }
            TaskState::Failed | TaskState::Canceled => {
                format!("`{id}`: look at `phase logs {id}`, then `phase retry {id}`")
            }
            TaskState::DepFailed => {
                format!("`{id}`: runs again once its failed dependency is retried and succeeds")
            }
            TaskState::Rejected => format!("`{id}`: the task file was invalid; see rejected/"),
            TaskState::Blocked | TaskState::Running | TaskState::Routed | TaskState::Queued => {
                format!("`{id}`: not finished; `phase run` resumes it")
            }
            TaskState::Recovering | TaskState::RetryScheduled | TaskState::Verifying => {
                format!("`{id}`: waits for recovery or its gate; `phase run` resumes it")
            }
            TaskState::Succeeded | TaskState::Duplicate => continue,
        };
        next.push(line);
    }
    next
}

fn one_line(s: &str) -> String {
    let first = s.lines().next().unwrap_or("");
    if first.chars().count() > 200 {
        first.chars().take(200).collect::<String>() + "…"
    } else {
        first.to_string()
    }
}
