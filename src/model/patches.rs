//! `fix_patches.json`, owned by recovery (people may add patches by hand).

use serde::{Deserialize, Serialize};

use super::common::{compact_vec, default_schema_version, is_false, state_doc};
use super::{GateVerdict, LadderStep};
use crate::schema::SchemaName;

/// Fixes recovery made or people wrote, and per failed attempt whether to retry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixPatches {
    /// Always 1 for this format.
    #[serde(default = "default_schema_version")]
    pub schema_version: u32,
    /// The run that last wrote the file.
    #[serde(default)]
    pub run_id: String,
    /// When the file was last written.
    #[serde(default)]
    pub updated_at: String,
    /// One per changed file per fix step, oldest first.
    #[serde(default, deserialize_with = "compact_vec")]
    pub patches: Vec<Patch>,
    /// One per failed (task, attempt) that recovery has finished with.
    #[serde(default, deserialize_with = "compact_vec")]
    pub retries: Vec<RetryRecommendation>,
    /// One per (task, attempt) that exited 0 and whose acceptance gate recovery ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<GateVerdict>,
}
state_doc!(
    FixPatches,
    "fix_patches.json",
    SchemaName::FixPatches,
    [patches, retries, gates]
);

/// Who wrote a patch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatchSource {
    /// A fixer or agent run by recovery; the diff records what it changed.
    #[default]
    Engine,
    /// A person (or another tool) wrote it; recovery applies it.
    Human,
}

/// A unified diff of one file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    /// Unique id (`<task>-<attempt>-<n>` for engine patches; anything unique for people).
    pub patch_id: String,
    /// The task it belongs to.
    pub task_id: String,
    /// The failed attempt it answers (0 when a person does not say).
    #[serde(default)]
    pub attempt: u32,
    /// The fixer, agent tier or `human` that produced it.
    #[serde(default)]
    pub fixer: String,
    /// The file, relative to the task's workdir.
    pub file: String,
    /// Unified diff (`--- a/…`, `+++ b/…`).
    pub diff: String,
    /// Whether the diff is in the file on disk.
    #[serde(default)]
    pub applied: bool,
    /// Whether the detectors passed after it was applied.
    #[serde(default)]
    pub validated: bool,
    /// Engine or human.
    #[serde(default)]
    pub source: PatchSource,
    /// When it was recorded.
    #[serde(default)]
    pub created_at: String,
    /// Why applying or validating failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Set when a person's patch could not be applied: it is not tried again.
    #[serde(default, skip_serializing_if = "is_false")]
    pub rejected: bool,
    /// A change a fix step made outside its scope (the task's files; an agent tier's
    /// workdir): recorded, kept on disk, and the task goes to a person.
    #[serde(default, skip_serializing_if = "is_false")]
    pub out_of_scope: bool,
}

/// Recovery's last word on one failed attempt: retry it or not.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryRecommendation {
    /// The task.
    pub task_id: String,
    /// The failed attempt.
    pub attempt: u32,
    /// Run the task again (as attempt + 1).
    pub retry_recommended: bool,
    /// The ladder step that produced this (`retry`, `mechanical_fix`, an agent, `quarantine`).
    #[serde(default)]
    pub ladder_step: LadderStep,
    /// Patches made for this attempt.
    #[serde(default)]
    pub patch_ids: Vec<String>,
    /// Why, for people.
    #[serde(default)]
    pub reason: String,
    /// When it was decided.
    #[serde(default)]
    pub decided_at: String,
}
