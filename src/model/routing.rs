//! `routing_decisions.json`, owned by the router.

use serde::{Deserialize, Serialize};
use thin_vec::ThinVec;

use super::common::{compact_thin_vec, compact_vec, default_schema_version, state_doc};
use super::open_enum::open_enum;
use super::{Gate, Metadata, TaskSpec};
use crate::schema::SchemaName;

/// Every routing decision the router has made.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingDecisions {
    /// Always 1 for this format.
    #[serde(default = "default_schema_version")]
    pub schema_version: u32,
    /// The run that last wrote the file.
    #[serde(default)]
    pub run_id: String,
    /// When the file was last written (RFC 3339 UTC, milliseconds).
    #[serde(default)]
    pub updated_at: String,
    /// One per accepted task, in submission order.
    #[serde(default, deserialize_with = "compact_vec")]
    pub decisions: Vec<RoutingDecision>,
}
state_doc!(
    RoutingDecisions,
    "routing_decisions.json",
    SchemaName::RoutingDecisions,
    [decisions]
);

/// Which tool runs a task, and why.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingDecision {
    /// The task's id.
    pub task_id: String,
    /// The task's `kind`.
    pub task_kind: String,
    /// The tool that runs the task's next attempt. A person may change it.
    pub selected_tool: String,
    /// How the tool was chosen among the candidates (`fixed`, …).
    pub strategy: RoutingStrategy,
    /// The tools that were considered, in order.
    #[serde(default, deserialize_with = "compact_thin_vec")]
    pub candidates: ThinVec<String>,
    /// Candidates passed over, with why (unhealthy, missing binary, wrong kind).
    #[serde(
        default,
        deserialize_with = "compact_thin_vec",
        skip_serializing_if = "ThinVec::is_empty"
    )]
    pub skipped: ThinVec<SkippedCandidate>,
    /// Which rule decided: `task.tool`, `routing.rules[2]`, `routing.default_tool`.
    #[serde(default)]
    pub reason: String,
    /// When the decision was made.
    #[serde(default)]
    pub decided_at: String,
    /// Submission order: ties in priority run in this order.
    #[serde(default)]
    pub submission_seq: u64,
    /// The task's metadata, carried through.
    #[serde(default)]
    pub metadata: Metadata,
    /// The accepted task spec (its `id` filled in).
    pub task: TaskSpec,
    /// Each candidate's score under a scoring strategy (`least_loaded`, `metrics`),
    /// higher is better, with what it is made of.
    #[serde(
        default,
        deserialize_with = "compact_thin_vec",
        skip_serializing_if = "ThinVec::is_empty"
    )]
    pub scores: ThinVec<CandidateScore>,
    /// Every time the router moved the task to another tool after the first decision
    /// (a failed attempt, an open circuit), oldest first.
    #[serde(
        default,
        deserialize_with = "compact_thin_vec",
        skip_serializing_if = "ThinVec::is_empty"
    )]
    pub fallbacks: ThinVec<Fallback>,
    /// Set while no candidate may take the task (every circuit open, or cooling down):
    /// the executor starts no attempt while it is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    // Boxed: rare, and 48 bytes inline (see `gate`).
    pub waiting: Option<Box<Waiting>>,
    /// The latest failed attempt the router has looked at to decide where the next one
    /// runs (set on the decisions the router makes; absent in one written by hand). While
    /// the task's latest attempt failed and is newer, the executor starts no retry: the
    /// router may still move it off the tool that failed (docs/ROUTING.md "Fallback").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewed_attempt: Option<u32>,
    /// The task's acceptance gate — its own `verify`/`review`, else its kind's routing
    /// rule's — when it has one: an attempt that exits 0 is `verifying` until it passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    // Boxed, as other rare parts of specs and attempts: phases hold one decision per task,
    // and an absent gate then costs a pointer, not 64 bytes.
    pub gate: Option<Box<Gate>>,
}

/// A candidate's score in a decision.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CandidateScore {
    /// The tool (a pool instance is `pool@instance`).
    pub tool: String,
    /// Higher is better.
    pub score: f64,
    /// What the score is made of, in words.
    #[serde(default)]
    pub detail: String,
}

/// The router moved a task from one tool to another.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fallback {
    /// The attempts up to this number ran before the move (0: none had run).
    pub after_attempt: u32,
    /// The tool the task was on.
    pub from: String,
    /// The tool it is on now (the same when no other candidate could take it).
    pub to: String,
    /// Why.
    pub reason: String,
    /// When.
    #[serde(default)]
    pub at: String,
}

/// Why a task may not start yet, and until when at the latest the router looks again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Waiting {
    /// What it waits for, in words (`circuit of "a" open until …`).
    pub reason: String,
    /// When the first thing it waits for may end; absent while it waits on a probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

open_enum! {
    /// How a tool is chosen among a rule's healthy candidates (`[[routing.rules]]`
    /// `strategy`, and recorded in each decision).
    #[derive(Default)]
    pub enum RoutingStrategy {
        /// A strategy this version does not know (a hand edit, or a newer version's
        /// decision); kept as written.
        Other(String),
        /// The first candidate that exists, accepts the kind and is healthy.
        #[default]
        Fixed = "fixed",
        /// The usable candidates in turn.
        RoundRobin = "round_robin",
        /// The usable candidate with the fewest unfinished tasks relative to its limit.
        LeastLoaded = "least_loaded",
        /// The usable candidate with the best recent success rate and median duration
        /// for the task's kind, now and then another one (exploration).
        Metrics = "metrics",
    }
}

/// A candidate tool the router did not pick.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkippedCandidate {
    /// The tool's name.
    pub tool: String,
    /// Why it was passed over.
    pub reason: String,
}
