//! `control.json`: requests from people (`phase cancel`, `phase retry`) to the executor.

use serde::{Deserialize, Serialize};

use super::common::{compact_vec, default_schema_version, state_doc};
use crate::schema::SchemaName;

/// Requests people made; the executor carries each out once per task and records its id
/// in the task's `handled_requests`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// Always 1 for this format.
    #[serde(default = "default_schema_version")]
    pub schema_version: u32,
    /// The run that last wrote the file.
    #[serde(default)]
    pub run_id: String,
    /// When the file was last written.
    #[serde(default)]
    pub updated_at: String,
    /// Oldest first.
    #[serde(default, deserialize_with = "compact_vec")]
    pub requests: Vec<Request>,
}
state_doc!(Control, "control.json", SchemaName::Control, [requests]);

/// What a person asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestAction {
    /// Stop the task (kill its process group if running); it ends `canceled`.
    Cancel,
    /// Give a quarantined, failed or canceled task a fresh retry budget.
    Retry,
    /// Run an ended task again, also a succeeded one, as a new attempt with a fresh
    /// budget (`phase rerun`).
    Rerun,
}

/// One request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Unique id (uuid v7).
    pub request_id: String,
    /// Cancel or retry.
    pub action: RequestAction,
    /// The task.
    pub task_id: String,
    /// When it was asked.
    pub requested_at: String,
}
