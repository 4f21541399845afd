//! The prompt file handed to an agent tier (`{prompt_file}`): the task, the analysis, the
//! ends of stderr and stdout, the dependents waiting on it, changes made out of scope, and
//! the commands to look further, in Markdown. A log-like artefact under `logs/<id>/`, not
//! a state file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::commands::Commands;
use super::output::shown_tail;
use super::workspace::Workspace;
use crate::Result;
use crate::model::{Attempt, ErrorAnalysis};
use crate::store::StateDir;

/// How much of the end of the attempt's stdout the prompt shows.
const STDOUT_TAIL_BYTES: u64 = 2048;

/// What the prompt says besides the task and its analysis.
#[derive(Debug)]
pub(super) struct Context<'a> {
    /// The failed attempt.
    pub attempt: Option<&'a Attempt>,
    /// Tasks that wait on this one, directly or not.
    pub dependents: Vec<String>,
    /// Files earlier fix steps changed outside their scope (`file (patch id)`).
    pub out_of_scope: Vec<String>,
    /// Commands with the state directory and config in use.
    pub commands: &'a Commands,
}

/// `logs/<id>/<attempt>.<tier>.prompt.md`.
pub(super) fn path(state: &StateDir, task_id: &str, attempt: u32, tier: &str) -> PathBuf {
    state
        .task_logs(task_id)
        .join(format!("{attempt}.{tier}.prompt.md"))
}

/// The one-line request given as `{description}`.
pub(super) fn request(ws: &Workspace, analysis: &ErrorAnalysis, prompt_file: &Path) -> String {
    let what = if ws.task.description.is_empty() {
        String::new()
    } else {
        format!(" The task: {}", ws.task.description)
    };
    format!(
        "Fix the failure of task {} (attempt {}): {}.{what} Details are in {}.",
        ws.task_id(),
        ws.attempt,
        analysis.summary,
        prompt_file.display()
    )
}

/// Writes the prompt file; returns its absolute path and its text.
pub(super) fn write(
    state: &StateDir,
    ws: &Workspace,
    analysis: &ErrorAnalysis,
    context: &Context<'_>,
    tier: &str,
) -> Result<(PathBuf, String)> {
    let path = path(state, ws.task_id(), ws.attempt, tier);
    let dir = state.task_logs(ws.task_id());
    // Made (or opened) without following a planted link (issue 8).
    crate::store::dir_below(&dir, 2, true)?;
    let stdout = context
        .attempt
        .and_then(|a| shown_tail(state, &a.log_out, STDOUT_TAIL_BYTES));
    let gate = context
        .attempt
        .and_then(|a| super::gate::failure::section(state, ws.task_id(), a));
    let text = render(ws, analysis, context, stdout.as_deref(), gate.as_deref());
    crate::store::write_atomic(&path, text.as_bytes())?;
    // The agent runs in the task's workdir: a relative state directory would not resolve.
    Ok((std::path::absolute(&path).unwrap_or(path), text))
}

/// The prompt's text; `stdout` is the end of the attempt's stdout, when it said anything;
/// `gate` the output of its failed acceptance gate, when it failed there.
pub(super) fn render(
    ws: &Workspace,
    analysis: &ErrorAnalysis,
    context: &Context<'_>,
    stdout: Option<&str>,
    gate: Option<&str>,
) -> String {
    let task = &ws.task;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Fix request: task `{}`, attempt {}\n",
        task.id(),
        ws.attempt
    );
    crate::agent::prompt::task_section(&mut s, task, &ws.workdir);
    let _ = writeln!(s, "\n## What went wrong\n");
    if let Some(a) = context.attempt {
        let _ = writeln!(s, "- status: {}", a.status.as_str());
        if let Some(code) = a.exit_code {
            let _ = writeln!(s, "- exit code: {code}");
        }
        if let Some(reason) = &a.reason {
            let _ = writeln!(s, "- reason: {reason}");
        }
    }
    let _ = writeln!(
        s,
        "- classification: {} ({})",
        super::escalation::wire_name(&analysis.classification),
        analysis.error_type
    );
    let _ = writeln!(s, "- summary: {}", analysis.summary);
    if !analysis.issues.is_empty() {
        let _ = writeln!(s, "\n## Issues found\n");
        for issue in analysis.issues.iter().take(50) {
            let _ = writeln!(s, "- {}", super::escalation::describe_issue(issue));
        }
    }
    if let Some(a) = context.attempt.filter(|a| !a.stderr_tail.trim().is_empty()) {
        let _ = writeln!(
            s,
            "\n## Last error (end of stderr)\n\n```text\n{}\n```",
            a.stderr_tail.trim_end()
        );
    }
    if let Some(out) = stdout {
        let _ = writeln!(s, "\n## Last output (end of stdout)\n\n```text\n{out}\n```");
    }
    if let Some(gate) = gate {
        let _ = writeln!(s, "\n## The acceptance gate\n\n{gate}");
    }
    if !context.dependents.is_empty() {
        let _ = writeln!(
            s,
            "\n## Waiting on this task\n\n{}",
            context.dependents.join(", ")
        );
    }
    if !context.out_of_scope.is_empty() {
        let _ = writeln!(
            s,
            "\n## Changed out of scope by earlier fixes\n\n{}",
            context.out_of_scope.join("\n")
        );
    }
    if let Some(a) = context.attempt {
        let _ = writeln!(s, "\n## To look further\n\n```sh");
        for (what, cmd) in context.commands.for_task(task.id(), a.attempt) {
            if !what.starts_with("run it again") {
                let _ = writeln!(s, "{cmd}   # {what}");
            }
        }
        let _ = writeln!(s, "```");
    }
    let _ = writeln!(
        s,
        "\n## What to do\n\nEdit the files in the working directory so that the task's command \
         succeeds. Change only what the failure needs, and only files in the working \
         directory; the engine records your changes as a diff and runs the task again."
    );
    s
}
