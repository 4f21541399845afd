//! One fixer or agent run of a fix step: snapshot, run, snapshot again, and sort every
//! change into the run's scope or out of it — or leave it to an attempt of another task
//! that ran meanwhile (see [`guard`](super::guard)).

use std::path::PathBuf;
use std::time::Duration;

use super::Engine;
use super::fix::{Change, StepOutcome};
use super::guard::Neighbours;
use super::runner::{Abort, RunError};
use super::scope::{Area, expand_files, normalize};
use super::snapshot::Snapshot;
use super::workspace::{TierWorktree, Workspace};
use crate::process::{Sink, Spec};
use crate::template;

/// One fixer or agent run.
#[derive(Debug)]
pub(super) struct Fixer<'a> {
    /// Its name (detector or agent tier).
    pub name: &'a str,
    /// Its argv template.
    pub command: &'a [String],
    /// Its `{files}`.
    pub files: &'a [String],
    /// What it may change.
    pub scope: &'a Area,
    /// Its `{description}` (the task's when empty).
    pub description: &'a str,
    /// The prompt file's path and text (`{prompt_file}`, `{prompt}`).
    pub prompt: Option<(&'a str, &'a str)>,
    /// Extra environment.
    pub env: &'a [(String, String)],
    /// An isolated agent tier's worktree: it runs there, and what it changed comes back
    /// before the second snapshot (src/recovery/workspace.rs).
    pub isolated: Option<&'a TierWorktree>,
}

impl Fixer<'_> {
    /// Runs it and records every change it made, in scope or not.
    pub(super) fn run(
        &self,
        shared: &Engine,
        ws: &Workspace,
        others: &mut Neighbours<'_>,
        out: &mut StepOutcome,
    ) -> Result<(), Abort> {
        let name = self.name;
        let description = if self.description.is_empty() {
            &ws.task.description
        } else {
            self.description
        };
        let here = self.isolated.map_or(ws, |t| &t.ws);
        let mut vars = here.vars(description, self.prompt.map(|p| p.0));
        vars.prompt = self.prompt.map(|p| p.1);
        vars.files = self.files;
        let argv = match template::expand(self.command, &vars) {
            Ok(argv) => argv,
            Err(e) => {
                out.notes.push(format!("{name}: command: {e}"));
                return Ok(());
            }
        };
        let logs = shared.state.task_logs(ws.task_id());
        let _ = std::fs::create_dir_all(&logs);
        let log = |ext: &str| logs.join(format!("{}.{name}.fix.{ext}", ws.attempt));
        let timeout = Duration::from_secs(shared.config.recovery.fix_timeout_seconds);
        let spec = Spec {
            argv,
            cwd: here.workdir.clone(),
            env: self.env.to_vec(),
            stdout: Sink::File(log("out")),
            stderr: Sink::File(log("err")),
            timeout: Some(timeout),
            kill_grace: Duration::from_millis(shared.config.execution.kill_grace_ms),
        };
        let (base, extra) = watched(shared, ws);
        let skip = shared.state.root();
        let before = Snapshot::take(&base, &extra, skip);
        let window = others.window(ws.task_id())?;
        let (ended, succeeded) = match shared.runner.run(&spec) {
            Ok(finished) => (finished.describe(Some(timeout)), finished.success()),
            Err(RunError::Spawn(e)) => (e, false),
            Err(RunError::Stopped) => return Err(Abort::Stopped),
        };
        if let Some(tree) = self.isolated {
            out.notes.push(tree.bring_back(succeeded));
        }
        let after = Snapshot::take(&base, &extra, skip);
        let meanwhile = others.ran_meanwhile(&window, ws.task_id())?;
        let mut kept = 0;
        for change in before.changes(&after, &ws.workdir) {
            let in_scope = self.scope.contains(&change.path);
            if !in_scope
                && let Some((task, _)) = meanwhile.iter().find(|(_, a)| a.contains(&change.path))
            {
                out.notes.push(format!(
                    "{}: changed while task {task} was running: left to it",
                    change.file
                ));
                continue;
            }
            kept += 1;
            out.changes.push(Change {
                fixer: name.to_string(),
                change,
                out_of_scope: !in_scope,
            });
        }
        out.notes
            .push(format!("{name}: {ended}, changed {kept} file(s)"));
        Ok(())
    }
}

/// What a step's snapshots cover: the project root (or the workdir, when it lies outside
/// the project), plus the task's named files wherever they are.
fn watched(shared: &Engine, ws: &Workspace) -> (PathBuf, Vec<PathBuf>) {
    let root = normalize(&shared.state.project_root());
    let workdir = normalize(&ws.workdir);
    let base = if workdir.starts_with(&root) {
        root
    } else {
        workdir
    };
    let extra = expand_files(&ws.workdir, &ws.task.files, shared.state.root())
        .iter()
        .map(|f| normalize(&ws.workdir.join(f)))
        .collect();
    (base, extra)
}
