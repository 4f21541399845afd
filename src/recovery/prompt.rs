//! The prompt file handed to an agent tier (`{prompt_file}`): the task, the analysis and
//! the last error, in Markdown. A log-like artefact under `logs/<id>/`, not a state file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::workspace::Workspace;
use crate::model::{Attempt, ErrorAnalysis};
use crate::store::StateDir;
use crate::{Error, Result};

/// `logs/<id>/<attempt>.<tier>.prompt.md`.
pub fn path(state: &StateDir, task_id: &str, attempt: u32, tier: &str) -> PathBuf {
    state
        .task_logs(task_id)
        .join(format!("{attempt}.{tier}.prompt.md"))
}

/// The one-line request given as `{description}`.
pub fn request(ws: &Workspace, analysis: &ErrorAnalysis, prompt_file: &Path) -> String {
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

/// Writes the prompt file and returns its absolute path.
pub fn write(
    state: &StateDir,
    ws: &Workspace,
    analysis: &ErrorAnalysis,
    attempt: Option<&Attempt>,
    tier: &str,
) -> Result<PathBuf> {
    let path = path(state, ws.task_id(), ws.attempt, tier);
    let dir = state.task_logs(ws.task_id());
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, "create directory", e))?;
    crate::store::write_atomic(&path, render(ws, analysis, attempt).as_bytes())?;
    // The agent runs in the task's workdir: a relative state directory would not resolve.
    Ok(std::path::absolute(&path).unwrap_or(path))
}

/// The prompt's text.
pub fn render(ws: &Workspace, analysis: &ErrorAnalysis, attempt: Option<&Attempt>) -> String {
    let task = &ws.task;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Fix request: task `{}`, attempt {}\n",
        task.id(),
        ws.attempt
    );
    let _ = writeln!(s, "## The task\n");
    let _ = writeln!(s, "- kind: {}", task.kind);
    if !task.description.is_empty() {
        let _ = writeln!(s, "- description: {}", task.description);
    }
    if !task.command.is_empty() {
        let _ = writeln!(
            s,
            "- command (argv): `{}`",
            serde_json::Value::from(task.command.clone())
        );
    }
    let _ = writeln!(s, "- working directory: {}", ws.workdir.display());
    if !task.files.is_empty() {
        let _ = writeln!(s, "- files: {}", task.files.join(", "));
    }
    let _ = writeln!(s, "\n## What went wrong\n");
    if let Some(a) = attempt {
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
    if let Some(a) = attempt.filter(|a| !a.stderr_tail.trim().is_empty()) {
        let _ = writeln!(
            s,
            "\n## Last error (end of stderr)\n\n```text\n{}\n```",
            a.stderr_tail.trim_end()
        );
    }
    let _ = writeln!(
        s,
        "\n## What to do\n\nEdit the files in the working directory so that the task's command \
         succeeds. Change only what the failure needs; the engine records your changes as a \
         diff and runs the task again."
    );
    s
}
