//! An attempt's end as far as agents go, for the executor: what the CLI reported it used
//! (a preset tool), and for an isolated attempt its worktree settled — committed, patched,
//! merged back when it succeeded ([`crate::worktree::settle`]). An attempt that awaits its
//! acceptance gate keeps its worktree (the gate runs there) and is settled by the
//! verdict ([`settle_gated`]): a failing gate leaves the task's workdir untouched.

use crate::config::Config;
use crate::lifecycle::Ending;
use crate::model::{AgentUsage, MergeOutcome, TaskResult, WorktreeRun};
use crate::store::StateDir;

/// What an ended attempt's record gains.
#[derive(Debug, Default)]
pub struct AgentEnd {
    /// The tokens and cost of an agent tool's attempt (a preset).
    pub usage: Option<AgentUsage>,
    /// The isolated attempt's worktree, settled.
    pub worktree: Option<WorktreeRun>,
    /// Why an attempt whose process succeeded failed after all: its change did not merge
    /// (starts with [`crate::worktree::CANNOT_MERGE`]).
    pub failure: Option<String>,
}

impl AgentEnd {
    /// Whether there is anything to record.
    pub fn is_empty(&self) -> bool {
        self.usage.is_none() && self.worktree.is_none()
    }
}

/// Ends attempt `attempt` of `task_id` as recorded in `result`, which ended `ending`.
/// Cheap for a task that is neither an agent's nor isolated: one lookup.
pub fn end_attempt(
    state: &StateDir,
    config: &Config,
    result: Option<&TaskResult>,
    task_id: &str,
    attempt: u32,
    ending: Ending,
) -> AgentEnd {
    let Some(record) = result.and_then(|r| r.attempts.iter().rfind(|a| a.attempt == attempt))
    else {
        return AgentEnd::default();
    };
    // A pool's instance runs as `<tool>@<instance>`.
    let tool_name = record.tool_id.split('@').next().unwrap_or_default();
    let usage = config.tools.get(tool_name).and_then(|tool| {
        let log = state.log_path(&record.log_out).ok()?;
        super::usage::of_run(tool, &log)
    });
    let mut end = AgentEnd {
        usage,
        ..AgentEnd::default()
    };
    // Awaiting its gate, the change stays in the worktree, where the gate judges it.
    if ending != Ending::AwaitsGate {
        let settled = settle_gated(state, result, task_id, attempt, ending == Ending::Succeeded);
        end.worktree = settled.worktree;
        end.failure = settled.failure;
    }
    end
}

/// Settles attempt `attempt`'s worktree, if it has one still pending: its change merged
/// when `passed` (the attempt, and its gate if it has one, succeeded), else only recorded
/// as a patch. Only `worktree` and `failure` are set.
pub fn settle_gated(
    state: &StateDir,
    result: Option<&TaskResult>,
    task_id: &str,
    attempt: u32,
    passed: bool,
) -> AgentEnd {
    let run = result
        .and_then(|r| r.attempts.iter().rfind(|a| a.attempt == attempt))
        .and_then(|a| a.worktree.as_ref())
        .filter(|w| w.merge == MergeOutcome::Pending);
    let Some(run) = run else {
        return AgentEnd::default();
    };
    let settled = crate::worktree::settle(state, task_id, attempt, run, passed);
    AgentEnd {
        worktree: Some(settled.run),
        failure: settled.failure,
        ..AgentEnd::default()
    }
}
