//! The lifecycle as people and `--once` see it: every task's derived state, which phase it
//! waits on, and when the work counts as over.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::Result;
use crate::store::{Presence, StateDir};

/// Where a task stands (docs/LIFECYCLE.md, "States").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// In `inbox/`, not routed yet.
    Queued,
    /// Routed, runnable.
    Routed,
    /// Routed, waiting on dependencies.
    Blocked,
    /// Its process is running.
    Running,
    /// Its attempt exited 0; its acceptance gate (`verify`, `review`) decides.
    Verifying,
    /// Failed; recovery has not decided yet.
    Recovering,
    /// Failed; a retry is recommended.
    RetryScheduled,
    /// Failed, and no phase will act on it (no recovery running).
    Failed,
    /// Done, exit 0.
    Succeeded,
    /// Recovery gave up; see `escalations/<id>.md`.
    Quarantined,
    /// Canceled by a person.
    Canceled,
    /// A dependency can no longer succeed.
    DepFailed,
    /// The task file was invalid; see `rejected/<file>.error.json`.
    Rejected,
    /// The file was an identical copy of an accepted task; kept in `rejected/`.
    Duplicate,
}

impl TaskState {
    /// Every state, in the order above.
    pub const ALL: [TaskState; 14] = [
        TaskState::Queued,
        TaskState::Routed,
        TaskState::Blocked,
        TaskState::Running,
        TaskState::Verifying,
        TaskState::Recovering,
        TaskState::RetryScheduled,
        TaskState::Failed,
        TaskState::Succeeded,
        TaskState::Quarantined,
        TaskState::Canceled,
        TaskState::DepFailed,
        TaskState::Rejected,
        TaskState::Duplicate,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Routed => "routed",
            TaskState::Blocked => "blocked",
            TaskState::Running => "running",
            TaskState::Verifying => "verifying",
            TaskState::Recovering => "recovering",
            TaskState::RetryScheduled => "retry_scheduled",
            TaskState::Failed => "failed",
            TaskState::Succeeded => "succeeded",
            TaskState::Quarantined => "quarantined",
            TaskState::Canceled => "canceled",
            TaskState::DepFailed => "dep_failed",
            TaskState::Rejected => "rejected",
            TaskState::Duplicate => "duplicate",
        }
    }

    /// Terminal: nothing moves it unless a person does (`failed` and `verifying` count
    /// once no phase will act on them, which [`TaskView::waiting_on`] says).
    pub fn has_ended(self) -> bool {
        matches!(
            self,
            TaskState::Succeeded
                | TaskState::Quarantined
                | TaskState::Canceled
                | TaskState::DepFailed
                | TaskState::Rejected
                | TaskState::Duplicate
                | TaskState::Failed
                | TaskState::Verifying
        )
    }

    /// A success: `succeeded`, or an identical duplicate file (not a task of its own).
    pub fn is_success(self) -> bool {
        matches!(self, TaskState::Succeeded | TaskState::Duplicate)
    }
}

/// One task's derived state.
#[derive(Debug, Clone, Serialize)]
pub struct TaskView {
    /// Task id (for a rejected file: its file name).
    pub id: String,
    /// Where it stands.
    pub state: TaskState,
    /// The tool of its decision, once routed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// Latest attempt number (0: never ran).
    pub attempt: u32,
    /// Why, in words, where there is something to say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The phase that must act next for the task to move, if any is running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_on: Option<&'static str>,
    /// A `cancel` or `retry` request waits for the executor to carry it out: the task
    /// has not ended, whatever its state says.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub request_pending: bool,
    /// A tool with `backend = "slurm"`: the Slurm job id of its latest attempt, once
    /// recorded (docs/SLURM.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
}

/// Every task's derived state, with counts.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// In submission order (queued and rejected last).
    pub tasks: Vec<TaskView>,
    /// How many tasks are in each state.
    pub counts: BTreeMap<&'static str, usize>,
}

impl Snapshot {
    /// Whether some running phase still has work for some task (`phase run --once` ends
    /// when none has).
    pub fn has_pending_work(&self) -> bool {
        self.tasks.iter().any(|t| t.waiting_on.is_some())
    }

    /// Whether every task succeeded (identical duplicate files are not tasks of their own).
    pub fn all_succeeded(&self) -> bool {
        self.tasks.iter().all(|t| t.state.is_success())
    }

    /// The tasks named in `ids` (all, when empty) with their states, once every one of
    /// them has ended, no running phase will move it, and no request waits for the
    /// executor (`phase wait`).
    pub fn settled(&self, ids: &[String]) -> Option<Vec<(String, TaskState)>> {
        let chosen: Vec<&TaskView> = self
            .tasks
            .iter()
            .filter(|t| ids.is_empty() || ids.contains(&t.id))
            .collect();
        chosen
            .iter()
            .all(|t| t.waiting_on.is_none() && !t.request_pending && t.state.has_ended())
            .then(|| chosen.iter().map(|t| (t.id.clone(), t.state)).collect())
    }
}

/// Which phases are running (here or in another process).
#[derive(Debug, Clone, Copy, Default)]
pub struct LivePhases {
    /// A router runs.
    pub router: bool,
    /// An executor runs.
    pub executor: bool,
    /// A recovery phase runs.
    pub recovery: bool,
}

impl LivePhases {
    /// Whether any phase runs.
    pub fn any(&self) -> bool {
        self.router || self.executor || self.recovery
    }

    /// Asks the presence locks.
    pub fn detect(state: &StateDir) -> Result<LivePhases> {
        Ok(LivePhases {
            router: Presence::is_alive(state, "router")?,
            executor: Presence::is_alive(state, "executor")?,
            recovery: Presence::is_alive(state, "recovery")?,
        })
    }
}
