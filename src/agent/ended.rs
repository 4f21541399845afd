//! An attempt's end as far as agents go, for the executor: what the CLI reported it used
//! (a preset tool), and for an isolated attempt its worktree settled — committed, patched,
//! merged back when it succeeded ([`crate::worktree::settle`]).

use crate::config::Config;
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

/// Ends attempt `attempt` of `task_id` as recorded in `result` (its process `succeeded`
/// or not). Cheap for a task that is neither an agent's nor isolated: one lookup.
pub fn end_attempt(
    state: &StateDir,
    config: &Config,
    result: Option<&TaskResult>,
    task_id: &str,
    attempt: u32,
    succeeded: bool,
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
    if let Some(run) = record
        .worktree
        .as_ref()
        .filter(|w| w.merge == MergeOutcome::Pending)
    {
        let settled = crate::worktree::settle(state, task_id, attempt, run, succeeded);
        end.worktree = Some(settled.run);
        end.failure = settled.failure;
    }
    end
}
