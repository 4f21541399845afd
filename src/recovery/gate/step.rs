//! Running one step of a gate: the argv from its template (the tools' placeholders), in
//! the task's workdir (contained: no link leads out of the project), with the task's own
//! environment, a timeout, and its output in `logs/<id>/<n>.<step>.{out,err}` — written
//! only when there is output (as the executor does: a gate that says nothing costs no
//! inodes on the hand-off path); the end of what it said is kept in the verdict.

use std::path::PathBuf;
use std::time::Duration;

use super::super::Engine;
use super::super::runner::{Abort, RunError};
use super::super::workspace::Workspace;
use crate::model::{Gate, GateRun, GateStep, TaskResult};
use crate::process::{Sink, Spec};
use crate::template::{self, Vars};

/// How much of the end of each log a verdict keeps.
const TAIL_BYTES: usize = 2048;

/// What every step of one gate shares: the engine, the task, the attempt, and where and
/// with what environment the steps run (or why they cannot).
pub(super) struct StepRun<'a> {
    pub(super) shared: &'a Engine,
    pub(super) ws: &'a Workspace,
    pub(super) result: &'a TaskResult,
    /// The contained workdir, or why there is none (`cannot start: …`).
    cwd: Result<PathBuf, String>,
    /// The task's own environment (its values are only in `tasks/<id>.json`).
    task_env: Result<Vec<(String, String)>, String>,
}

/// A command for one step, before it runs.
pub(super) struct Command<'a> {
    pub(super) step: GateStep,
    pub(super) tool: Option<&'a str>,
    pub(super) template: &'a [String],
    pub(super) description: &'a str,
    /// The prompt file's path and text (`{prompt_file}`, `{prompt}`).
    pub(super) prompt: Option<(&'a str, &'a str)>,
    /// Environment before the task's own (a tool's, an agent preset's).
    pub(super) env: Vec<(String, String)>,
    pub(super) timeout: Duration,
}

impl<'a> StepRun<'a> {
    /// The steps' shared setup for the job's attempt.
    pub(super) fn new(
        shared: &'a Engine,
        ws: &'a Workspace,
        result: &'a TaskResult,
    ) -> StepRun<'a> {
        let cwd = match crate::store::contain_task_paths(&shared.state, &ws.task) {
            Ok(Some(dir)) => Ok(dir),
            Ok(None) => Ok(shared.state.project_root()),
            Err(e) => Err(format!("cannot start: {e}")),
        };
        // An isolated attempt's change waits in its worktree for the gate (src/worktree.rs).
        let cwd = cwd.map(|dir| crate::worktree::gate_dir(result, ws.attempt, &dir).unwrap_or(dir));
        let task_env = if ws.task.env.is_empty() {
            Ok(Vec::new())
        } else {
            crate::store::read_accepted_task(&shared.state, ws.task_id())
                .map(|t| t.env.into_iter().collect())
                .map_err(|e| format!("cannot start: the task's env values: {e}"))
        };
        StepRun {
            shared,
            ws,
            result,
            cwd,
            task_env,
        }
    }

    /// The task's `verify` argv, with its own timeout (default
    /// `recovery.fix_timeout_seconds`).
    pub(super) fn verify(&self, gate: &Gate) -> Result<GateRun, Abort> {
        let seconds = gate
            .verify_timeout_seconds
            .unwrap_or(self.shared.config.recovery.fix_timeout_seconds);
        self.run(&Command {
            step: GateStep::Verify,
            tool: None,
            template: &gate.verify,
            description: &self.ws.task.description,
            prompt: None,
            env: Vec::new(),
            timeout: Duration::from_secs(seconds),
        })
    }

    /// The workdir, for prompts.
    pub(super) fn workdir(&self) -> PathBuf {
        self.cwd.clone().unwrap_or_else(|_| self.ws.workdir.clone())
    }

    /// Runs `cmd`; a step that cannot start is a failed step saying why.
    pub(super) fn run(&self, cmd: &Command<'_>) -> Result<GateRun, Abort> {
        let state = &self.shared.state;
        let id = self.ws.task_id();
        let n = self.ws.attempt;
        let name = cmd.step.as_str();
        let mut run = GateRun {
            step: cmd.step,
            tool: cmd.tool.map(str::to_string),
            ..GateRun::default()
        };
        let (argv, cwd, env) = match self.prepare(cmd) {
            Ok(p) => p,
            Err(why) => {
                run.outcome = why;
                return Ok(run);
            }
        };
        run.argv = argv.clone();
        let spec = Spec {
            argv,
            cwd,
            env,
            stdout: Sink::Capture,
            stderr: Sink::Capture,
            timeout: Some(cmd.timeout),
            kill_grace: Duration::from_millis(self.shared.config.execution.kill_grace_ms),
        };
        let finished = match self.shared.runner.run(&spec) {
            Ok(finished) => finished,
            Err(RunError::Spawn(e)) => {
                run.outcome = format!("cannot start: {e}");
                return Ok(run);
            }
            Err(RunError::Stopped) => return Err(Abort::Stopped),
        };
        run.passed = finished.success();
        run.exit_code = finished.exit_code;
        run.duration_ms = finished.duration.as_millis() as u64;
        run.outcome = finished.describe(Some(cmd.timeout));
        let mut said = Vec::new();
        for (ext, bytes) in [("out", &finished.stdout), ("err", &finished.stderr)] {
            if bytes.is_empty() {
                continue;
            }
            let rel = format!("logs/{id}/{n}.{name}.{ext}");
            write_log(&state.root().join(&rel), bytes);
            said.push(tail(bytes));
            match ext {
                "out" => run.log_out = rel,
                _ => run.log_err = rel,
            }
        }
        run.output = said.join("\n");
        Ok(run)
    }

    /// The argv, workdir and environment of `cmd`, or why it cannot start.
    #[allow(clippy::type_complexity)]
    fn prepare(
        &self,
        cmd: &Command<'_>,
    ) -> Result<(Vec<String>, PathBuf, Vec<(String, String)>), String> {
        let cwd = self.cwd.clone()?;
        let task_env = self.task_env.clone()?;
        let workdir = cwd.to_string_lossy().into_owned();
        let task = &self.ws.task;
        let vars = Vars {
            command: &task.command,
            description: cmd.description,
            files: &task.files,
            task_id: task.id(),
            attempt: self.ws.attempt,
            workdir: &workdir,
            prompt_file: cmd.prompt.map(|p| p.0),
            prompt: cmd.prompt.map(|p| p.1),
        };
        let argv = template::expand(cmd.template, &vars).map_err(|e| {
            format!(
                "cannot start: the {} argv does not expand: {e}",
                cmd.step.as_str()
            )
        })?;
        if argv.is_empty() {
            return Err(format!(
                "cannot start: the {} argv is empty",
                cmd.step.as_str()
            ));
        }
        let env = cmd.env.iter().cloned().chain(task_env).collect();
        Ok((argv, cwd, env))
    }
}

/// Writes a gate log (`logs/<id>/<file>`, no planted link followed); a log that cannot be
/// written is said in the engine's log, and the verdict keeps the output's end anyway.
fn write_log(path: &std::path::Path, bytes: &[u8]) {
    let written =
        crate::store::open_below(path, 3, crate::store::Access::Truncate).and_then(|mut f| {
            std::io::Write::write_all(&mut f, bytes).map_err(|e| crate::Error::io(path, "write", e))
        });
    if let Err(e) = written {
        tracing::warn!("recovery: gate log: {e}");
    }
}

/// The end of `bytes` (at most [`TAIL_BYTES`], from a line start when cut), trimmed.
fn tail(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(TAIL_BYTES);
    let text = String::from_utf8_lossy(&bytes[start..]);
    let text = match text.find('\n') {
        Some(i) if start > 0 && i + 1 < text.len() => &text[i + 1..],
        _ => &text[..],
    };
    text.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tail_starts_at_a_line_when_cut() {
        assert_eq!(tail(b"one\ntwo\n"), "one\ntwo");
        let long = format!("{}\nlast line\n", "x".repeat(TAIL_BYTES));
        assert_eq!(tail(long.as_bytes()), "last line");
    }
}
