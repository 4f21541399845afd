//! `error_analysis.json`, owned by recovery.

use serde::{Deserialize, Serialize};

use super::common::{compact_vec, default_schema_version, state_doc};
use super::open_enum::open_enum;
use super::{LadderStep, Metadata};
use crate::schema::SchemaName;

/// Every analysis recovery has made: one per failed attempt.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorAnalyses {
    /// Always 1 for this format.
    #[serde(default = "default_schema_version")]
    pub schema_version: u32,
    /// The run that last wrote the file.
    #[serde(default)]
    pub run_id: String,
    /// When the file was last written.
    #[serde(default)]
    pub updated_at: String,
    /// One per analysed (task, attempt), oldest first.
    #[serde(default, deserialize_with = "compact_vec")]
    pub analyses: Vec<ErrorAnalysis>,
}
state_doc!(
    ErrorAnalyses,
    "error_analysis.json",
    SchemaName::ErrorAnalysis,
    [analyses]
);

/// What kind of failure this is, which decides the next ladder step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    /// Timeout, signal, or a configured transient pattern: retry without a fix.
    Transient,
    /// A detector with a fixer found issues: mechanical fix.
    AutoFixable,
    /// Anything else a configured agent tier may fix.
    #[default]
    AgentFixable,
    /// Tool missing, permission denied, non-retryable: quarantine at once.
    NeedsHuman,
}

open_enum! {
    /// What went wrong, in a short machine name (`error_type`; docs/RECOVERY.md
    /// "Classification"). Together with the [`Classification`] it says what to tell
    /// people.
    pub enum FailureKind {
        /// Another name (a hand-written analysis, or a newer version's).
        Other(String),
        /// The attempt timed out.
        Timeout = "timeout",
        /// The attempt was killed by a signal.
        Signal = "signal",
        /// The attempt was interrupted: its executor died.
        Interrupted = "interrupted",
        /// The tool could not be started (missing, not executable).
        SpawnError = "spawn_error",
        /// Permission denied.
        PermissionDenied = "permission_denied",
        /// An exit code in `recovery.non_retryable_exit_codes`.
        NonRetryableExit = "non_retryable_exit",
        /// The output matches `recovery.needs_human_patterns`.
        NeedsHumanOutput = "needs_human_output",
        /// The output matches `recovery.transient_patterns`.
        TransientOutput = "transient_output",
        /// A non-zero exit and the detectors found nothing.
        ExitCode = "exit_code",
        /// A non-zero exit and the detectors found issues.
        Lint = "lint",
        /// A fix step changed files outside its scope (recorded as `out_of_scope` patches).
        OutOfScope = "out_of_scope",
        /// A fix step or the attempt changed more files than `recovery.max_files_changed`.
        ScopeEscalation = "scope_escalation",
        /// The attempt exited 0 but its acceptance gate's `verify` failed.
        GateFailed = "gate_failed",
        /// The attempt exited 0 but its acceptance gate's reviewer rejected it.
        ReviewRejected = "review_rejected",
        /// An isolated attempt succeeded but its change does not merge into the workdir
        /// (`isolation = "worktree"`); its branch is kept.
        MergeConflict = "merge_conflict",
    }
}

impl Default for FailureKind {
    /// The empty name, as an analysis built in code starts (the files require one).
    fn default() -> Self {
        FailureKind::Other(String::new())
    }
}

/// What recovery decided to do about the attempt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Retry as is.
    Retry,
    /// Run the detectors' fixers, then retry.
    MechanicalFix,
    /// Hand it to the agent tier in `fix_agent`, then retry.
    AgentFix,
    /// Stop and escalate to a person.
    #[default]
    Quarantine,
}

/// Recovery's analysis of one failed attempt.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorAnalysis {
    /// The task's id.
    pub task_id: String,
    /// The attempt analysed.
    pub attempt: u32,
    /// Short machine name of the failure (`timeout`, `exit_code`, `lint`, `spawn_error`, …).
    pub error_type: FailureKind,
    /// The class that decides the next step.
    pub classification: Classification,
    /// Detectors that ran.
    #[serde(default)]
    pub plugins_run: Vec<String>,
    /// Detectors that apply to the task's kind but did not run for it, and why (a
    /// detector given `{files}` for a task that names none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins_skipped: Vec<SkippedDetector>,
    /// What the detectors (and the attempt's output) found.
    #[serde(default)]
    pub issues: Vec<Issue>,
    /// What to do next.
    pub recommended_action: Action,
    /// The agent tier to use when the action is `agent_fix`.
    #[serde(default)]
    pub fix_agent: Option<String>,
    /// The ladder step this analysis moves the task to (`mechanical_fix`, an agent tier's
    /// name, `retry`, `quarantine`). The latest analysis holds the task's position.
    #[serde(default)]
    pub ladder_step: LadderStep,
    /// One line for people.
    #[serde(default)]
    pub summary: String,
    /// When the analysis was made.
    #[serde(default)]
    pub analyzed_at: String,
    /// The task's metadata, carried through.
    #[serde(default)]
    pub metadata: Metadata,
    /// The agent tiers that ran for this attempt: their time and what they cost.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agent_steps: Vec<super::AgentStep>,
}

/// A detector that did not run for a task.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkippedDetector {
    /// The detector's name.
    pub detector: String,
    /// Why it did not run.
    pub reason: String,
}

/// One problem a detector reported.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Issue {
    /// The detector that reported it (`attempt` for the attempt's own output).
    pub detector: String,
    /// File, relative to the task's workdir.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// 1-based column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u64>,
    /// Rule or code (`F401`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The message.
    pub message: String,
    /// Whether the detector says its fixer can fix it.
    #[serde(default)]
    pub fixable: bool,
}
