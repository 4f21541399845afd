//! `adapter_assignments.json`, owned by the router.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::common::{default_schema_version, state_doc};
use crate::schema::SchemaName;

/// Per tool: its resolved template, limits, health and the tasks assigned to it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdapterAssignments {
    /// Always 1 for this format.
    #[serde(default = "default_schema_version")]
    pub schema_version: u32,
    /// The run that last wrote the file.
    #[serde(default)]
    pub run_id: String,
    /// When the file was last written.
    #[serde(default)]
    pub updated_at: String,
    /// Keyed by tool name.
    #[serde(default)]
    pub adapters: BTreeMap<String, AdapterAssignment>,
}
state_doc!(
    AdapterAssignments,
    "adapter_assignments.json",
    SchemaName::AdapterAssignments
);

/// One tool's adapter as the router resolved it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdapterAssignment {
    /// The tool's name (`[tools.<name>]`).
    pub tool_id: String,
    /// The argv template, placeholders unexpanded.
    pub command: Vec<String>,
    /// Kinds the tool accepts; empty means any.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Per-tool parallel limit, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallel: Option<u32>,
    /// Per-tool attempt timeout, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    /// Result of the last health check (true when there is none).
    #[serde(default)]
    pub healthy: bool,
    /// Why the tool is unhealthy, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_note: Option<String>,
    /// Tasks routed to this tool.
    #[serde(default)]
    pub task_ids: Vec<String>,
}
