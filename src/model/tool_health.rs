//! `tool_health.json`, owned by the router: per tool (and per pool instance) its circuit,
//! rate-limit cool-down and last health check, so that separate router, executor and CLI
//! processes see one state (docs/ROUTING.md "Tool health").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::common::{default_schema_version, state_doc};
use crate::schema::SchemaName;

/// Every tool's health as the router last judged it. A person may edit it: closing a
/// circuit by hand (`"circuit": "closed"`) is adopted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolHealth {
    /// Always 1 for this format.
    #[serde(default = "default_schema_version")]
    pub schema_version: u32,
    /// The run that last wrote the file.
    #[serde(default)]
    pub run_id: String,
    /// When the file was last written.
    #[serde(default)]
    pub updated_at: String,
    /// The end time (`finished_at`) of the newest attempt in `execution_results.json`
    /// that is accounted for here: a restarted router does not count older ones again.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub results_through: String,
    /// Keyed by tool name (a pool instance is `pool@instance`).
    #[serde(default)]
    pub tools: BTreeMap<String, ToolState>,
}
state_doc!(ToolHealth, "tool_health.json", SchemaName::ToolHealth);

/// Where a tool's circuit breaker stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Circuit {
    /// Tasks go to the tool.
    #[default]
    Closed,
    /// Too many tool-attributable failures in a row: no task goes to it until
    /// `open_until`.
    Open,
    /// The cool-down is over: one probe task is let through; its success closes the
    /// circuit, a tool-attributable failure opens it again.
    HalfOpen,
}

impl Circuit {
    /// The name used in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Circuit::Closed => "closed",
            Circuit::Open => "open",
            Circuit::HalfOpen => "half_open",
        }
    }
}

/// One tool's health.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolState {
    /// The circuit breaker.
    #[serde(default)]
    pub circuit: Circuit,
    /// Tool-attributable failures since the last attempt on which the tool worked.
    #[serde(default)]
    pub consecutive_failures: u32,
    /// While `open`: when the probe may go through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_until: Option<String>,
    /// Times the circuit opened since it was last closed; each one doubles the cool-down.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub opened: u32,
    /// While `half_open`: the task let through to probe the tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<ProbeTask>,
    /// Rate limited: no task goes to the tool before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_until: Option<String>,
    /// What set the cool-down (`Retry-After: 2`, a reset time, or the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_reason: Option<String>,
    /// The last tool-attributable failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<ToolFailure>,
    /// The last health check, when the tool has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check: Option<HealthCheck>,
}

/// The task a half-open circuit lets through.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeTask {
    /// The task.
    pub task_id: String,
    /// Its attempts up to this number ran before it became the probe.
    #[serde(default)]
    pub after_attempt: u32,
    /// When it was chosen.
    #[serde(default)]
    pub since: String,
}

/// A failure the tool, not the task, is to blame for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolFailure {
    /// The task whose attempt failed.
    pub task_id: String,
    /// The attempt.
    pub attempt: u32,
    /// `could_not_start`, `timed_out`, `signal`, `rate_limited` or `transient`.
    pub kind: String,
    /// In words.
    #[serde(default)]
    pub reason: String,
    /// When the attempt ended.
    #[serde(default)]
    pub at: String,
}

/// One run of a tool's `health_check`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// When it ran.
    pub at: String,
    /// Whether it passed.
    pub ok: bool,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}
