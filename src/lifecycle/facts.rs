//! The fields of the state files that the derived lifecycle needs. Reading only these
//! keeps a status check small next to phases that hold the whole documents; `phase
//! validate` checks the full schemas.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::stage::Stage;
use crate::model::Status;
use crate::model::{compact_thin_vec, compact_vec};
use thin_vec::ThinVec;

/// What the files say, as far as the lifecycle is concerned. Read by `crate::status`.
#[derive(Debug, Default)]
pub struct Facts {
    pub(crate) decisions: DecisionsView,
    pub(crate) results: ResultsView,
    pub(crate) patches: PatchesView,
    pub(crate) control: ControlView,
    /// Task files in `inbox/`.
    pub(crate) inbox: Vec<PathBuf>,
    /// Files in `rejected/`, with what their `.error.json` says.
    pub(crate) rejected: Vec<RejectedFile>,
    /// Recovery's fix steps running now (`fixes_in_progress.json`, live ones only): a
    /// task whose files overlap one of another task's waits for it.
    pub(crate) fixes: Vec<crate::store::FixInProgress>,
    /// The project root task workdirs are relative to.
    pub(crate) project_root: PathBuf,
}

impl Facts {
    /// When the latest attempt of each task `wanted` says started, by task id (tasks
    /// whose result records no start are left out).
    pub fn latest_starts(&self, wanted: impl Fn(&str) -> bool) -> HashMap<&str, &str> {
        self.results
            .results
            .iter()
            .filter(|r| !r.started_at.is_empty() && wanted(&r.task_id))
            .map(|r| (r.task_id.as_str(), r.started_at.as_str()))
            .collect()
    }
}

/// The fields of `routing_decisions.json` that the lifecycle needs.
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct DecisionsView {
    #[serde(default, deserialize_with = "compact_vec")]
    pub(crate) decisions: Vec<DecisionView>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct DecisionView {
    pub(crate) task_id: String,
    #[serde(default)]
    pub(crate) selected_tool: String,
    pub(crate) task: SpecView,
    /// Set while the router holds the task back (docs/ROUTING.md "Waiting").
    #[serde(default)]
    pub(crate) waiting: Option<Box<WaitingView>>,
    /// When it was routed: activity, for the run it belongs to.
    #[serde(default)]
    pub(crate) decided_at: String,
}

/// What a held-back task waits for, and until when.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct WaitingView {
    pub(crate) reason: String,
    #[serde(default)]
    pub(crate) until: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SpecView {
    #[serde(default, deserialize_with = "compact_thin_vec")]
    pub(crate) depends_on: ThinVec<String>,
    /// What it may touch, for the fixes in progress it waits on.
    #[serde(default, deserialize_with = "compact_thin_vec")]
    pub(crate) files: ThinVec<String>,
    #[serde(default)]
    pub(crate) workdir: Option<String>,
}

/// The fields of `execution_results.json` that the lifecycle needs.
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct ResultsView {
    #[serde(default, deserialize_with = "compact_vec")]
    pub(crate) results: Vec<ResultView>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ResultView {
    pub(crate) task_id: String,
    #[serde(default)]
    pub(crate) tool_id: String,
    #[serde(default)]
    pub(crate) attempt: u32,
    pub(crate) status: Status,
    #[serde(default)]
    pub(crate) reason: Option<String>,
    #[serde(default)]
    pub(crate) retry_at: Option<String>,
    #[serde(default)]
    pub(crate) budget_from_attempt: u32,
    #[serde(default, deserialize_with = "compact_thin_vec")]
    pub(crate) handled_requests: ThinVec<String>,
    /// When its latest attempt started and ended: activity, for the run it belongs to.
    #[serde(default)]
    pub(crate) started_at: String,
    #[serde(default)]
    pub(crate) finished_at: Option<String>,
    /// Its attempts, for their Slurm job ids only.
    #[serde(default, deserialize_with = "compact_vec")]
    pub(crate) attempts: Vec<AttemptJobView>,
}

/// Of one attempt record, only its Slurm job id (docs/SLURM.md).
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct AttemptJobView {
    #[serde(default)]
    pub(crate) job_id: Option<String>,
}

impl ResultView {
    /// The Slurm job id of its latest attempt, if it ran on Slurm.
    pub(crate) fn job_id(&self) -> Option<String> {
        self.attempts.last().and_then(|a| a.job_id.clone())
    }

    /// Its stage in the executor's state machine.
    pub(crate) fn stage(&self) -> Stage {
        Stage::of(Some(self.status), self.attempt, self.budget_from_attempt)
    }
}

/// The fields of `fix_patches.json` that the lifecycle needs.
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct PatchesView {
    #[serde(default, deserialize_with = "compact_vec")]
    pub(crate) retries: Vec<RetryView>,
    /// Acceptance gate verdicts.
    #[serde(default, deserialize_with = "compact_vec")]
    pub(crate) gates: Vec<GateView>,
}

/// Recovery's verdict on one attempt's acceptance gate.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct GateView {
    pub(crate) task_id: String,
    pub(crate) attempt: u32,
    pub(crate) passed: bool,
    #[serde(default)]
    pub(crate) reason: String,
    #[serde(default)]
    pub(crate) decided_at: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RetryView {
    pub(crate) task_id: String,
    pub(crate) attempt: u32,
    pub(crate) retry_recommended: bool,
    #[serde(default)]
    pub(crate) reason: String,
    #[serde(default)]
    pub(crate) decided_at: String,
}

/// The fields of `control.json` that the lifecycle needs: which requests exist.
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct ControlView {
    #[serde(default)]
    pub(crate) requests: Vec<RequestView>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RequestView {
    pub(crate) request_id: String,
    pub(crate) task_id: String,
}

/// A file in `rejected/` and what its `<file>.error.json` says.
#[derive(Debug)]
pub(crate) struct RejectedFile {
    pub(crate) path: PathBuf,
    /// Why it was rejected, if the note says.
    pub(crate) error: Option<String>,
    /// An identical copy of an accepted task (`duplicate_of`).
    pub(crate) duplicate: bool,
    /// When it was rejected, if the note says.
    pub(crate) rejected_at: Option<String>,
}

/// The field of `rejected/<file>.error.json` that says why.
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct RejectionView {
    #[serde(default)]
    pub(crate) error: Option<String>,
    #[serde(default)]
    pub(crate) duplicate_of: Option<String>,
    #[serde(default)]
    pub(crate) rejected_at: Option<String>,
}
