//! Serde types, one per state file, mirroring `schemas/`.
//!
//! These types are the contract between the phases and with every other tool that reads
//! the same files: field names are stable, and a test validates serialised samples of every
//! type against its JSON Schema.

mod agent;
mod analysis;
mod assignments;
mod common;
mod control;
mod event;
mod gate;
mod hooks;
mod ladder;
mod metadata;
mod open_enum;
mod outcome;
mod patches;
mod plans;
mod results;
mod results_digest;
mod routing;
mod runs;
mod task;
mod tool_health;

pub use agent::{AgentStep, AgentUsage, Isolation, MergeOutcome, WorktreeRun};
pub use analysis::{
    Action, Classification, ErrorAnalyses, ErrorAnalysis, FailureKind, Issue, SkippedDetector,
};
pub use assignments::{AdapterAssignment, AdapterAssignments};
pub use common::part_fingerprint;
pub use common::{
    Metadata, Part, SCHEMA_VERSION, SplicedDoc, StateDoc, is_valid_task_id, now_rfc3339,
};
pub(crate) use common::{compact_thin_vec, compact_vec, reserve_gently};
pub use control::{Control, Request, RequestAction};
pub use event::{Event, EventType};
pub use gate::{Gate, GateRun, GateStep, GateVerdict};
pub use hooks::{HookCursor, HookCursors};
pub use ladder::LadderStep;
pub use outcome::AttemptOutcome;
pub use patches::{FixPatches, Patch, PatchSource, RetryRecommendation};
pub use plans::{PlanItemRecord, PlanLink, PlanRecord, Plans};
pub use results::{Attempt, ExecutionResults, ResultsToReview, Status, TaskResult};
pub use results_digest::{AttemptDigest, ResultDigest, ResultsDigest};
pub use routing::{
    CandidateScore, Fallback, RoutingDecision, RoutingDecisions, RoutingStrategy, SkippedCandidate,
    Waiting,
};
pub use runs::{RunRecord, Runs};
pub use task::{BackoffSpec, ENV_VALUE_REDACTED, TaskSpec};
pub use tool_health::{Circuit, HealthCheck, ProbeTask, ToolFailure, ToolHealth, ToolState};
