//! `execution_results.json`, owned by the executor.

use serde::{Deserialize, Serialize};

use super::Metadata;
use super::common::{compact_vec, default_schema_version, state_doc};
use crate::schema::SchemaName;

/// One entry per task: its latest attempt, plus the history of all attempts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionResults {
    /// Always 1 for this format.
    #[serde(default = "default_schema_version")]
    pub schema_version: u32,
    /// The run that last wrote the file.
    #[serde(default)]
    pub run_id: String,
    /// When the file was last written.
    #[serde(default)]
    pub updated_at: String,
    /// One per task that has been attempted (or ended without running: `dep_failed`).
    #[serde(default, deserialize_with = "compact_vec")]
    pub results: Vec<TaskResult>,
}
state_doc!(
    ExecutionResults,
    "execution_results.json",
    SchemaName::ExecutionResults,
    [results]
);

/// Where a task's latest attempt stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The attempt's process is running (its claim is held).
    #[default]
    Running,
    /// Exit code 0, and its acceptance gate (if any) passed.
    Succeeded,
    /// Exit code 0; recovery runs its acceptance gate (`verify`, `review`).
    Verifying,
    /// Non-zero exit, a signal, a spawn error, or `interrupted` (see `reason`).
    Failed,
    /// Killed for exceeding its timeout.
    TimedOut,
    /// Canceled by a person.
    Canceled,
    /// Recovery gave up; an escalation report was written.
    Quarantined,
    /// A dependency ended quarantined, canceled or dep_failed; never ran.
    DepFailed,
}

impl Status {
    /// The snake_case name used in the files.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Verifying => "verifying",
            Status::Failed => "failed",
            Status::TimedOut => "timed_out",
            Status::Canceled => "canceled",
            Status::Quarantined => "quarantined",
            Status::DepFailed => "dep_failed",
        }
    }

    /// Failed in a way recovery may analyse (`failed` or `timed_out`).
    pub fn is_failure(self) -> bool {
        matches!(self, Status::Failed | Status::TimedOut)
    }

    /// Recovery has work on it: a failure to analyse, or an acceptance gate to run.
    pub fn needs_recovery(self) -> bool {
        self.is_failure() || self == Status::Verifying
    }

    /// Ended for good unless a person intervenes: dependents become `dep_failed`.
    pub fn is_dead_end(self) -> bool {
        matches!(
            self,
            Status::Canceled | Status::Quarantined | Status::DepFailed
        )
    }
}

/// The executor's record of one task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskResult {
    /// The task's id.
    pub task_id: String,
    /// The tool that ran the latest attempt.
    #[serde(default)]
    pub tool_id: String,
    /// Latest attempt number, from 1 (0 for a task that never ran).
    #[serde(default)]
    pub attempt: u32,
    /// Exit code of the latest attempt, when it exited.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// Where the task stands.
    pub status: Status,
    /// Wall time of the latest attempt.
    #[serde(default)]
    pub duration_ms: u64,
    /// The patch whose retry this attempt is, if any.
    #[serde(default)]
    pub output_patch_id: Option<String>,
    /// What changed under the workdir during the latest attempt.
    #[serde(default)]
    pub files_modified: Vec<String>,
    /// Why, in words: `interrupted`, `exit code 2`, `killed by signal 9`, a spawn error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the latest attempt started.
    #[serde(default)]
    pub started_at: String,
    /// When the latest attempt ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Earliest time the next attempt may start (back-off), when one is scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<String>,
    /// Attempts before this number do not count against the retry budget
    /// (`phase retry` moves it forward).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub budget_from_attempt: u32,
    /// Ids of `control.json` requests already carried out for this task.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub handled_requests: Vec<String>,
    /// The task's metadata, carried through.
    #[serde(default)]
    pub metadata: Metadata,
    /// Every attempt, oldest first.
    #[serde(default, deserialize_with = "compact_vec")]
    pub attempts: Vec<Attempt>,
}

/// One run of a task's process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attempt {
    /// Attempt number, from 1.
    pub attempt: u32,
    /// The tool that ran it.
    pub tool_id: String,
    /// How it ended (or `running`).
    pub status: Status,
    /// Exit code, when the process exited.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// Signal that ended it, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Why, in words (see [`TaskResult::reason`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The argv that was run.
    #[serde(default, deserialize_with = "compact_vec")]
    pub argv: Vec<String>,
    /// When it started.
    pub started_at: String,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Wall time.
    #[serde(default)]
    pub duration_ms: u64,
    /// stdout log, relative to the state directory.
    pub log_out: String,
    /// stderr log, relative to the state directory.
    pub log_err: String,
    /// The last lines of stderr (at most a few KiB).
    #[serde(default)]
    pub stderr_tail: String,
    /// What changed under the workdir during the attempt.
    #[serde(default)]
    pub files_modified: Vec<String>,
    /// What went wrong writing its logs (which log, the error, the bytes lost), when
    /// anything did: never a silently short log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_error: Option<String>,
    /// The patch whose retry this attempt is, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_id: Option<String>,
    /// Which executor ran it (`host:pid`).
    #[serde(default)]
    pub executor: String,
    /// An agent tool's attempt (a preset): the tokens and cost its CLI reported (empty
    /// when it reported none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<super::AgentUsage>,
    /// Run in a git worktree of its own (`isolation = "worktree"`): where, and how its
    /// change came back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<super::WorktreeRun>,
    /// A tool with `backend = "slurm"`: the Slurm job id of the attempt (docs/SLURM.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// A tool with `backend = "slurm"`: Slurm's final state of the job (`COMPLETED`,
    /// `FAILED`, `TIMEOUT`, `CANCELLED`, `OUT_OF_MEMORY`, …); none while it runs, or when
    /// the cluster no longer knew the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm_state: Option<String>,
}

impl TaskResult {
    /// The latest attempt's record, if any.
    pub fn latest(&self) -> Option<&Attempt> {
        self.attempts.last()
    }

    /// Attempts that failed since the budget was last reset; an attempt cut short by
    /// the engine's own crash or shutdown (`interrupted`) is no failure of the task.
    pub fn failures_in_budget(&self) -> u32 {
        self.attempts
            .iter()
            .filter(|a| a.attempt >= self.budget_from_attempt && a.status.is_failure())
            .filter(|a| a.reason.as_deref() != Some("interrupted"))
            .count() as u32
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}
