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

/// Writes the prompt file; returns its absolute path and its text.
pub fn write(
    state: &StateDir,
    ws: &Workspace,
    analysis: &ErrorAnalysis,
    attempt: Option<&Attempt>,
    tier: &str,
) -> Result<(PathBuf, String)> {
    let path = path(state, ws.task_id(), ws.attempt, tier);
    let dir = state.task_logs(ws.task_id());
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, "create directory", e))?;
    let mut text = render(ws, analysis, attempt);
    if let Some(out) = attempt.and_then(|a| stdout_tail(state, a)) {
        let at = text.find("\n## What to do").unwrap_or(text.len());
        text.insert_str(
            at,
            &format!("\n## Last output (end of stdout)\n\n```text\n{out}\n```\n"),
        );
    }
    crate::store::write_atomic(&path, text.as_bytes())?;
    // The agent runs in the task's workdir: a relative state directory would not resolve.
    Ok((std::path::absolute(&path).unwrap_or(path), text))
}

/// How much of the end of the attempt's stdout the prompt shows.
const STDOUT_TAIL_BYTES: u64 = 2048;

/// The end of the attempt's stdout log, when it said anything.
fn stdout_tail(state: &StateDir, attempt: &Attempt) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    if attempt.log_out.is_empty() {
        return None;
    }
    let mut file = std::fs::File::open(state.root().join(&attempt.log_out)).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(STDOUT_TAIL_BYTES)))
        .ok()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim_end();
    (!text.trim().is_empty()).then(|| text.to_string())
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
    crate::agent::prompt::task_section(&mut s, task, &ws.workdir);
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
