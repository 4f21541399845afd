//! One line of `events.jsonl`.

use serde::{Deserialize, Serialize};

/// An event as written to the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// When it happened (RFC 3339 UTC, milliseconds).
    pub ts: String,
    /// Increases by one per line, across processes and restarts.
    pub seq: u64,
    /// The run (`runs.json`) of the process that wrote it; a command's own id for `cli`.
    pub run_id: String,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The phase (or `cli`) that wrote it.
    pub phase: String,
    /// The task it concerns, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// The attempt it concerns, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// Details, by type.
    #[serde(default)]
    pub data: serde_json::Value,
}

/// The kinds of event.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventType {
    TaskSubmitted,
    TaskRouted,
    RoutingComplete,
    TaskRejected,
    TaskDuplicateSkipped,
    TaskStarted,
    TaskSucceeded,
    TaskFailed,
    /// An attempt exited 0 and waits for its acceptance gate.
    TaskVerifying,
    /// An attempt's acceptance gate passed.
    GatePassed,
    /// An attempt's acceptance gate failed (`verify` or `review`).
    GateFailed,
    TaskDepFailed,
    ErrorAnalyzed,
    FixApplied,
    FixFailed,
    TaskRetryScheduled,
    TaskQuarantined,
    TaskEscalated,
    ScopeEscalation,
    TaskCanceled,
    TaskRetryRequested,
    CircuitOpened,
    /// A circuit's cool-down is over: one probe task is let through.
    CircuitHalfOpen,
    CircuitClosed,
    StateFileInvalid,
    StateFileRecovered,
    /// The event log's end was damaged (a torn last line, lines that are not events);
    /// a torn line was cut off and is kept in this event's data.
    EventLogRepaired,
    /// Events that could not be kept while the log could not be written (counted).
    EventsLost,
    RunStarted,
    RunComplete,
    /// `phase plan import` found a plan item whose content it had not seen: a new task.
    TaskDiscovered,
    /// `phase plan close` ticked a finished plan's checkboxes.
    PlanClosed,
    /// A finished run's records were moved to `archive/<run_id>/`.
    RunArchived,
}
