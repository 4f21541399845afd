//! `escalations/<id>.md`: what a person needs to take over a quarantined task — the task,
//! the dependents it blocks, every attempt with the ends of its stderr and stdout, what
//! was tried with which diff, the changes made out of scope, the files changed, what to do
//! next, and the commands (with the state directory and config in use) to look and retry.
//! When the task later succeeds, the report is marked resolved and kept.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::commands::Commands;
use super::output::shown_tail;
use super::workspace::Workspace;
use crate::Result;
use crate::model::{ErrorAnalysis, FixPatches, Issue, TaskResult};
use crate::store::StateDir;

/// How much of the end of each attempt's stdout the report shows.
const STDOUT_TAIL_BYTES: u64 = 2048;

/// Everything the report is made of.
#[derive(Debug)]
pub(super) struct Report<'a> {
    /// The task and its workdir.
    pub ws: &'a Workspace,
    /// The state directory (the attempts' logs are relative to it).
    pub state: &'a StateDir,
    /// The tool that ran the task.
    pub tool: &'a str,
    /// The executor's record (every attempt).
    pub result: &'a TaskResult,
    /// This task's analyses, oldest first.
    pub analyses: Vec<&'a ErrorAnalysis>,
    /// The patches file (filtered by task here).
    pub patches: &'a FixPatches,
    /// The analysis that quarantined it.
    pub verdict: &'a ErrorAnalysis,
    /// Tasks that wait on it, directly or not.
    pub dependents: &'a [String],
    /// Commands with the state directory and config in use.
    pub commands: &'a Commands,
}

impl Report<'_> {
    /// The task's changes made out of scope, as `file` (`patch id`, attempt N).
    pub(super) fn out_of_scope(&self) -> Vec<String> {
        self.patches
            .patches
            .iter()
            .filter(|p| p.task_id == self.ws.task_id() && p.out_of_scope)
            .map(|p| format!("{} ({}, attempt {})", p.file, p.patch_id, p.attempt))
            .collect()
    }
}

/// `escalations/<id>.md`.
pub(super) fn path(state: &StateDir, task_id: &str) -> PathBuf {
    state.escalations().join(format!("{task_id}.md"))
}

/// Writes the report atomically; returns its path.
pub(super) fn write(state: &StateDir, report: &Report<'_>) -> Result<PathBuf> {
    let dir = state.escalations();
    // Made (or opened) without following a planted link (issue 8).
    crate::store::dir_below(&dir, 1, true)?;
    let path = path(state, report.ws.task_id());
    crate::store::write_atomic(&path, render(report).as_bytes())?;
    Ok(path)
}

/// The name a value has in the files (`agent_fixable`, `mechanical_fix`).
pub(super) fn wire_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// `file:line:col [rule] message (detector)`.
pub(super) fn describe_issue(i: &Issue) -> String {
    let mut at = i.file.clone().unwrap_or_default();
    for n in [i.line, i.column].into_iter().flatten() {
        let _ = write!(at, ":{n}");
    }
    let rule = i
        .rule
        .as_deref()
        .map(|r| format!("{r} "))
        .unwrap_or_default();
    let fix = if i.fixable { ", fixable" } else { "" };
    let at = if at.is_empty() {
        String::new()
    } else {
        format!("{at}: ")
    };
    format!("{at}{rule}{} ({}{fix})", i.message, i.detector)
}

/// The report's Markdown.
pub(super) fn render(r: &Report<'_>) -> String {
    let task = &r.ws.task;
    let id = task.id();
    let mut s = String::new();
    let _ = writeln!(s, "# Task `{id}` quarantined\n");
    let _ = writeln!(s, "**Why:** {}\n", r.verdict.summary);
    let steps: Vec<&str> = r.analyses.iter().map(|a| a.ladder_step.as_str()).collect();
    let _ = writeln!(
        s,
        "**Progress:** {} attempt(s); steps taken: {}\n",
        r.result.attempts.len().max(1),
        steps.join(" → ")
    );
    if let Some(last) = r.result.latest() {
        let said = last
            .stderr_tail
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty());
        let reason = last.reason.as_deref().unwrap_or(last.status.as_str());
        let said = said.map(|l| format!(": `{l}`")).unwrap_or_default();
        let _ = writeln!(
            s,
            "**Last error:** attempt {}, {reason}{said}\n",
            last.attempt
        );
    }
    // What the AI coding agents took and cost for this task (src/agent/cost.rs).
    let mut agents = crate::agent::cost::AgentTotals::default();
    agents.add_task(Some(r.result), r.analyses.iter().copied());
    if agents.steps > 0 {
        let _ = writeln!(s, "**Agents:** {}\n", agents.line());
    }
    let _ = writeln!(s, "## Task\n");
    let _ = writeln!(s, "- id: `{id}`");
    let _ = writeln!(s, "- kind: {}", task.kind);
    let _ = writeln!(s, "- tool: {}", r.tool);
    if !task.description.is_empty() {
        let _ = writeln!(s, "- description: {}", task.description);
    }
    let _ = writeln!(
        s,
        "- command: `{}`",
        serde_json::Value::from(task.command.clone())
    );
    let _ = writeln!(s, "- workdir: {}", r.ws.workdir.display());
    if !task.files.is_empty() {
        let _ = writeln!(s, "- files: {}", task.files.join(", "));
    }
    if !r.dependents.is_empty() {
        let _ = writeln!(
            s,
            "\n**Blocked:** {} task(s) wait on this one and cannot run until it succeeds: {}",
            r.dependents.len(),
            r.dependents.join(", ")
        );
    }
    let _ = writeln!(s, "\n## Attempts\n");
    for a in &r.result.attempts {
        let _ = writeln!(s, "### Attempt {} — {}\n", a.attempt, a.status.as_str());
        let _ = writeln!(s, "- tool: {}", a.tool_id);
        let finished = a.finished_at.as_deref().unwrap_or("?");
        let _ = writeln!(
            s,
            "- ran: {} → {finished} ({} ms)",
            a.started_at, a.duration_ms
        );
        let code = a.exit_code.map_or("none".to_string(), |c| c.to_string());
        let _ = writeln!(s, "- exit code: {code}");
        if let Some(sig) = a.signal {
            let _ = writeln!(s, "- signal: {sig}");
        }
        if let Some(reason) = &a.reason {
            let _ = writeln!(s, "- reason: {reason}");
        }
        let _ = writeln!(s, "- logs: `{}`, `{}`", a.log_out, a.log_err);
        if let Some(p) = &a.patch_id {
            let _ = writeln!(s, "- ran after patch: {p}");
        }
        if !a.stderr_tail.trim().is_empty() {
            let _ = writeln!(
                s,
                "\nEnd of stderr:\n\n```text\n{}\n```",
                a.stderr_tail.trim_end()
            );
        }
        if let Some(out) = shown_tail(r.state, &a.log_out, STDOUT_TAIL_BYTES) {
            let _ = writeln!(s, "\nEnd of stdout:\n\n```text\n{out}\n```");
        }
        if let Some(gate) = super::gate::failure::section(r.state, id, a) {
            let _ = writeln!(s, "\n{gate}");
        }
        let _ = writeln!(s);
    }
    tried(&mut s, r);
    out_of_scope(&mut s, r);
    files_changed(&mut s, r);
    let _ = writeln!(s, "## Recommended next steps\n");
    for step in super::advice::next_steps(r.verdict) {
        let _ = writeln!(s, "- {step}");
    }
    commands(&mut s, r);
    s
}

/// The commands to look into the last attempt and to retry, ready to paste.
fn commands(s: &mut String, r: &Report<'_>) {
    let id = r.ws.task_id();
    let _ = writeln!(s, "\n## Commands\n\n```sh");
    for (what, cmd) in r.commands.for_task(id, r.result.attempt) {
        let _ = writeln!(s, "# {what}\n{cmd}");
    }
    let _ = writeln!(s, "```");
    let _ = writeln!(
        s,
        "\nAfter fixing, the last one runs the task again (this restarts its retry budget \
         and its ladder; its dependents follow)."
    );
}

/// Changes fix steps made outside their scope: kept on disk, for a person to keep or undo.
fn out_of_scope(s: &mut String, r: &Report<'_>) {
    let outside = r.out_of_scope();
    if outside.is_empty() {
        return;
    }
    let _ = writeln!(s, "## Changed out of scope\n");
    let _ = writeln!(
        s,
        "A fix step changed these files outside its scope (the task's files; an agent tier's \
         workdir). The changes are still on disk; their diffs are under \"What was tried\". \
         To undo one, apply its diff in reverse in the task's workdir (`patch -R -p1`).\n"
    );
    for f in &outside {
        let _ = writeln!(s, "- `{f}`");
    }
    s.push('\n');
}

fn tried(s: &mut String, r: &Report<'_>) {
    let _ = writeln!(s, "## What was tried\n");
    if r.analyses.is_empty() {
        let _ = writeln!(s, "Nothing.\n");
    }
    for a in &r.analyses {
        let _ = writeln!(
            s,
            "### Attempt {}: {} ({}, {})\n\n{}\n",
            a.attempt,
            a.ladder_step,
            wire_name(&a.classification),
            a.error_type,
            a.summary
        );
        if !a.plugins_run.is_empty() {
            let _ = writeln!(s, "Detectors run: {}\n", a.plugins_run.join(", "));
        }
        for issue in a.issues.iter().take(20) {
            let _ = writeln!(s, "- {}", describe_issue(issue));
        }
        if a.issues.len() > 20 {
            let _ = writeln!(s, "- … and {} more", a.issues.len() - 20);
        }
        if let Some(retry) = r
            .patches
            .retries
            .iter()
            .find(|x| x.task_id == a.task_id && x.attempt == a.attempt)
        {
            let _ = writeln!(s, "\nOutcome ({}): {}\n", retry.ladder_step, retry.reason);
        }
        for p in r
            .patches
            .patches
            .iter()
            .filter(|p| p.task_id == a.task_id && p.attempt == a.attempt)
        {
            let check = if p.validated {
                "validated"
            } else {
                "not validated"
            };
            let scope = if p.out_of_scope {
                ", **out of scope**"
            } else {
                ""
            };
            let _ = writeln!(
                s,
                "Patch `{}` by {} to `{}` ({check}{scope}):\n\n```diff\n{}\n```\n",
                p.patch_id,
                p.fixer,
                p.file,
                p.diff.trim_end()
            );
        }
    }
}

fn files_changed(s: &mut String, r: &Report<'_>) {
    let mut files: Vec<&str> = r
        .patches
        .patches
        .iter()
        .filter(|p| p.task_id == r.ws.task_id() && p.applied)
        .map(|p| p.file.as_str())
        .collect();
    files.sort_unstable();
    files.dedup();
    if !s.ends_with("\n\n") {
        s.push('\n');
    }
    let _ = writeln!(s, "## Files changed\n");
    if files.is_empty() {
        let _ = writeln!(s, "None.\n");
    }
    for f in &files {
        let _ = writeln!(s, "- `{f}`");
    }
    if !files.is_empty() {
        s.push('\n');
    }
}
