//! What an AI coding agent's step leaves in the files besides its status: where it ran
//! (`isolation = "worktree"`: its own git worktree and branch, and how its change came
//! back) and what it cost (tokens and money, where the CLI reports them).

use serde::{Deserialize, Serialize};

/// Where a task's attempts run (`isolation` of a tool or a task; the task's wins).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    /// In the task's workdir itself.
    #[default]
    None,
    /// In a git worktree of its own on branch `phase/<task>/<attempt>`, merged back into
    /// the workdir when the attempt succeeds (README: "Using AI coding agents").
    Worktree,
}

/// Tokens and money one agent step used, as the CLI reported them on its stdout (codex
/// `--json`, claude `--output-format json`, gemini `--output-format json`, aider's
/// `Tokens:` / `Cost:` lines). A number the CLI did not report is absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentUsage {
    /// Tokens sent to the model (prompt, cached reads included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    /// Tokens the model produced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// What the CLI says the step cost, in US dollars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

impl AgentUsage {
    /// Whether the CLI reported nothing.
    pub fn is_empty(&self) -> bool {
        self.input_tokens.is_none() && self.output_tokens.is_none() && self.cost_usd.is_none()
    }
}

/// How an isolated attempt's change came back to the task's workdir.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeOutcome {
    /// The attempt has not ended yet.
    #[default]
    Pending,
    /// The change is in the workdir; the branch and the worktree are gone.
    Merged,
    /// The attempt changed nothing: nothing to merge.
    NothingChanged,
    /// The attempt failed: its change is only in the patch file.
    NotMerged,
    /// The change conflicts with the workdir: nothing was written, the branch is kept for
    /// a person to merge.
    Conflict,
}

/// An attempt run in its own git worktree (`isolation = "worktree"`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorktreeRun {
    /// The branch it ran on, `phase/<task>/<attempt>`.
    pub branch: String,
    /// The commit the branch started from: the workdir repository's HEAD plus its
    /// uncommitted changes (tracked files, and the task's own files).
    pub base: String,
    /// The worktree's directory (absolute); removed once the attempt is settled.
    pub path: String,
    /// The repository's top directory (absolute), where the change is merged.
    pub repository: String,
    /// The commit holding what the attempt changed, once it ended and changed something.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// What it changed, as a patch (`git diff --binary base head`), relative to the state
    /// directory: `logs/<id>/<attempt>.patch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    /// How the change came back.
    #[serde(default)]
    pub merge: MergeOutcome,
    /// The files, relative to the repository, that did not merge.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<String>,
}

/// One agent tier's run during recovery (a fix step): how long it took and what it cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentStep {
    /// The ladder tier (a `[tools.<name>]` entry).
    pub tier: String,
    /// Wall time of the CLI's run.
    #[serde(default)]
    pub duration_ms: u64,
    /// What the CLI reported it used.
    #[serde(default, skip_serializing_if = "AgentUsage::is_empty")]
    pub usage: AgentUsage,
}
