//! `runs.json`: the ledger of runs. A run is what `phase run` processes did together on
//! the state directory, from the first one's start to the last one's end; its `run_id`
//! stamps their events and files. `--once` and `wait` judge the tasks of the current run,
//! `phase archive` moves a finished run's records away. Written by `src/runs.rs`.

use serde::{Deserialize, Serialize};

use super::common::{compact_vec, default_schema_version, state_doc};
use crate::schema::SchemaName;

/// Every run, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runs {
    /// Always 1 for this format.
    #[serde(default = "default_schema_version")]
    pub schema_version: u32,
    /// The run (or command) that last wrote the file.
    #[serde(default)]
    pub run_id: String,
    /// When the file was last written.
    #[serde(default)]
    pub updated_at: String,
    /// Oldest first; the last one is the current run.
    #[serde(default, deserialize_with = "compact_vec")]
    pub runs: Vec<RunRecord>,
}
state_doc!(Runs, "runs.json", SchemaName::Runs, [runs]);

/// One run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRecord {
    /// The id on its events and files (uuid v7).
    pub run_id: String,
    /// When its first process started. A task belongs to the run if it had not ended by
    /// then, or if something happened to it since (routed, attempted, rejected).
    pub started_at: String,
    /// When its last process stopped; absent while it runs, or after a crash (then the
    /// next `phase run` continues it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// When `phase archive` moved its records to `archive/<run_id>/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<String>,
    /// The tasks (and rejected files) archived with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub archived: Vec<String>,
    /// When `state.retention_days` removed `archive/<run_id>/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pruned_at: Option<String>,
}

impl Runs {
    /// The current run: the last one.
    pub fn current(&self) -> Option<&RunRecord> {
        self.runs.last()
    }

    /// The run called `id`.
    pub fn get(&self, id: &str) -> Option<&RunRecord> {
        self.runs.iter().find(|r| r.run_id == id)
    }

    /// The run called `id`, to change.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut RunRecord> {
        self.runs.iter_mut().find(|r| r.run_id == id)
    }
}
