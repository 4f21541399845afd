//! The shape of `phase show`'s document (`schemas/show.schema.json`): one task and its
//! records, flattened for people and programs. Nullable fields are written as `null`.

use serde::Serialize;

/// One task, as `phase show` prints it.
#[derive(Debug, Serialize)]
pub(crate) struct TaskShow {
    pub id: String,
    pub state: &'static str,
    pub reason: Option<String>,
    pub waiting_on: Option<&'static str>,
    pub request_pending: bool,
    pub task_file: Option<String>,
    pub kind: Option<String>,
    pub description: Option<String>,
    pub files: Vec<String>,
    pub depends_on: Vec<String>,
    pub dependents: Vec<String>,
    pub blocked_on: Vec<Blocker>,
    pub decision: Option<DecisionShow>,
    pub attempts: Vec<AttemptShow>,
    pub retry_at: Option<String>,
    pub analyses: Vec<AnalysisShow>,
    pub fixes: Vec<FixShow>,
    pub retries: Vec<RetryShow>,
    pub gates: Vec<GateShow>,
    pub escalation: Option<String>,
    pub logs: Vec<String>,
}

/// A dependency that has not succeeded yet, with its state.
#[derive(Debug, Serialize)]
pub(crate) struct Blocker {
    pub task: String,
    pub state: &'static str,
}

/// The router's decision.
#[derive(Debug, Serialize)]
pub(crate) struct DecisionShow {
    pub tool: String,
    pub strategy: String,
    pub reason: String,
    pub candidates: Vec<String>,
    pub command: Vec<String>,
    pub tool_command: Vec<String>,
    pub workdir: String,
    pub depends_on: Vec<String>,
    pub decided_at: String,
    pub waiting: Option<String>,
    pub fallbacks: Vec<String>,
}

/// One attempt.
#[derive(Debug, Serialize)]
pub(crate) struct AttemptShow {
    pub attempt: u32,
    pub tool: String,
    pub status: &'static str,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub reason: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_ms: u64,
    pub argv: Vec<String>,
    pub log_out: String,
    pub log_err: String,
    pub patch_id: Option<String>,
    pub files_modified: Vec<String>,
    /// A Slurm attempt: its job id (absent for a local attempt).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// A Slurm attempt: Slurm's final state of its job, once it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slurm_state: Option<String>,
}

/// One analysis of a failed attempt.
#[derive(Debug, Serialize)]
pub(crate) struct AnalysisShow {
    pub attempt: u32,
    pub error_type: String,
    pub classification: String,
    pub recommended_action: String,
    pub ladder_step: String,
    pub summary: String,
    pub issues: Vec<String>,
    pub analyzed_at: String,
}

/// One patch a fix step made.
#[derive(Debug, Serialize)]
pub(crate) struct FixShow {
    pub patch_id: String,
    pub attempt: u32,
    pub fixer: String,
    pub file: String,
    pub ladder_step: Option<String>,
    pub applied: bool,
    pub validated: bool,
    pub rejected: bool,
    pub out_of_scope: bool,
    pub error: Option<String>,
    pub source: String,
    pub created_at: String,
}

/// Recovery's verdict on retrying after an attempt.
#[derive(Debug, Serialize)]
pub(crate) struct RetryShow {
    pub attempt: u32,
    pub retry_recommended: bool,
    pub ladder_step: String,
    pub patch_ids: Vec<String>,
    pub reason: String,
    pub decided_at: String,
}

/// An acceptance gate's verdict on an attempt.
#[derive(Debug, Serialize)]
pub(crate) struct GateShow {
    pub attempt: u32,
    pub passed: bool,
    pub failed_step: Option<String>,
    pub reason: String,
    pub steps: Vec<GateStepShow>,
    pub decided_at: String,
}

/// One step of a gate.
#[derive(Debug, Serialize)]
pub(crate) struct GateStepShow {
    pub step: String,
    pub tool: Option<String>,
    pub passed: bool,
    pub exit_code: Option<i32>,
    pub outcome: String,
    pub duration_ms: u64,
    pub log_out: String,
    pub log_err: String,
}
