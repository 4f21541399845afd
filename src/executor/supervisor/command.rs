//! An attempt's command, from its decision's tool as the files say now (read fresh every
//! attempt): argv from the tool's template, workdir, environment (an agent preset's own
//! home, key and prompt included), timeout, and how to find what it changed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::changes::Probe;
use crate::config::Config;
use crate::model::RoutingDecision;
use crate::store::StateDir;
use crate::template::{self, Vars};

/// A command ready to hand to the runner.
#[derive(Debug)]
pub(in crate::executor) struct Prepared {
    pub(in crate::executor) argv: Vec<String>,
    /// `argv` as recorded: an agent's prompt text stands as `<prompt: logs/…>`.
    pub(in crate::executor) recorded_argv: Vec<String>,
    /// `isolation = "worktree"`: the worktree it runs in (src/worktree.rs).
    pub(in crate::executor) worktree: Option<crate::model::WorktreeRun>,
    /// The workdir, resolved (links included) inside the project.
    pub(in crate::executor) cwd: PathBuf,
    /// On top of the engine's environment, in order: later wins.
    pub(in crate::executor) env: Vec<(String, String)>,
    pub(in crate::executor) probe: Probe,
    pub(in crate::executor) timeout: Option<Duration>,
    /// `tools.<name>.require_changes`, where a probe can see changes.
    pub(in crate::executor) require_changes: bool,
}

/// Where a command runs and what it is run with.
pub(in crate::executor) struct CommandSite<'a> {
    pub(in crate::executor) config: &'a Config,
    /// Task workdirs are relative to it.
    pub(in crate::executor) project_root: &'a Path,
    /// The state directory: changes under it are not the task's doing.
    pub(in crate::executor) state: &'a StateDir,
}

/// The command of `decision`'s attempt `attempt`. An error is the reason of a failed
/// attempt (it starts with `cannot start`).
pub(in crate::executor) fn prepare(
    site: &CommandSite<'_>,
    decision: &RoutingDecision,
    attempt: u32,
    git_roots: &mut HashMap<PathBuf, Option<PathBuf>>,
) -> Result<Prepared, String> {
    let task = &decision.task;
    let tool_name = &decision.selected_tool;
    let config = site.config;
    let tool = config.tools.get(tool_name).ok_or_else(|| {
        format!(
            "cannot start: tool {tool_name:?} is not configured (no [tools.{tool_name}] in the configuration)"
        )
    })?;
    // Resolved now, links included: a hand-edited decision or a planted link may not
    // lead out of the project (issue 8). No workdir and no files: nothing to resolve.
    let cwd = match crate::store::contain_task_paths(site.state, task) {
        Ok(Some(dir)) => dir,
        Ok(None) => site.project_root.to_path_buf(),
        Err(e) => return Err(format!("cannot start: {e}")),
    };
    // `isolation = "worktree"`: it runs in a git worktree of its own, removed again if it
    // cannot start after all (dropped on an early return).
    let isolated = crate::worktree::isolate(
        site.state,
        tool.isolation,
        task,
        &decision.task_id,
        attempt,
        &cwd,
    )?;
    let cwd = isolated.as_ref().map_or(cwd, |i| i.cwd().to_path_buf());
    let workdir = cwd.to_string_lossy().into_owned();
    // Agent presets: their own home and key; a prompt when the argv asks for one.
    let agent = crate::agent::prepare_attempt(
        site.state,
        tool_name,
        tool,
        task,
        &decision.task_id,
        attempt,
        &cwd,
    )?;
    let vars = Vars {
        command: &task.command,
        description: &task.description,
        files: &task.files,
        task_id: &decision.task_id,
        attempt,
        workdir: &workdir,
        prompt_file: agent.prompt_file.as_deref(),
        prompt: agent.prompt.as_deref(),
    };
    let argv = template::expand(&tool.command, &vars).map_err(|e| {
        format!("cannot start: the command of tool {tool_name:?} does not expand: {e}")
    })?;
    let recorded_argv = agent.recorded_argv(&argv);
    let env: Vec<(String, String)> = agent
        .env
        .into_iter()
        .chain(
            tool.env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .chain(task_env(site.state, decision)?),
        )
        .collect();
    let seconds = task
        .timeout_seconds
        .or(tool.timeout_seconds)
        .unwrap_or(config.execution.timeout_seconds);
    let timeout = (seconds > 0).then(|| Duration::from_secs(seconds));
    let probe = Probe::choose(&task.files, &cwd, site.state.root(), git_roots);
    Ok(Prepared {
        recorded_argv,
        argv,
        worktree: isolated.and_then(crate::worktree::Isolated::keep),
        cwd,
        env,
        require_changes: tool.require_changes && !matches!(probe, Probe::None),
        probe,
        timeout,
    })
}

/// The task's own environment. Its values are kept only in `tasks/<id>.json` (the decision
/// carries the names): read from there, and only when there are any.
fn task_env(state: &StateDir, decision: &RoutingDecision) -> Result<Vec<(String, String)>, String> {
    if decision.task.env.is_empty() {
        return Ok(Vec::new());
    }
    let accepted = crate::store::read_accepted_task(state, &decision.task_id).map_err(|e| {
        format!("cannot start: the task's env values are kept in its task file: {e}")
    })?;
    Ok(accepted.env.into_iter().collect())
}
