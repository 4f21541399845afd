//! `plans.json`: what `phase plan import` took from each Markdown plan, so that importing
//! it again adds only what is new, and `phase plan close` knows the plan's tasks and
//! whether the file changed since. Written by the command line only (`src/plan/`).

use serde::{Deserialize, Serialize};

use super::common::{compact_vec, default_schema_version, state_doc};
use crate::schema::SchemaName;

/// Every imported plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plans {
    /// Always 1 for this format.
    #[serde(default = "default_schema_version")]
    pub schema_version: u32,
    /// The run (or command) that last wrote the file.
    #[serde(default)]
    pub run_id: String,
    /// When the file was last written.
    #[serde(default)]
    pub updated_at: String,
    /// One per plan, by name, in the order they were first imported.
    #[serde(default, deserialize_with = "compact_vec")]
    pub plans: Vec<PlanRecord>,
}
state_doc!(Plans, "plans.json", SchemaName::Plans, [plans]);

/// One plan file and its items.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanRecord {
    /// The plan's name: its file stem, made an id (`release-1.2`); task ids start with it.
    pub name: String,
    /// The plan file, as given to `phase plan import` (relative to the working directory
    /// then, usually the project root).
    pub path: String,
    /// `sha256:<hex>` of the file's bytes at the last import: `phase plan close` edits the
    /// file only while it still has these bytes.
    pub fingerprint: String,
    /// When it was last imported.
    pub imported_at: String,
    /// When `phase plan close` ticked its checkboxes and appended the completion section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
    /// Every item ever imported from it, in plan order of the last import.
    #[serde(default)]
    pub items: Vec<PlanItemRecord>,
}

/// One task item of a plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanItemRecord {
    /// Where it is in the plan: `<group>.<n>` (`backend.3`), or `<n>` before any heading.
    pub item: String,
    /// 1-based line of the item in the plan at the last import; absent once an import no
    /// longer found it (it stays known, so it is never submitted twice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// The item's text without its annotation.
    #[serde(default)]
    pub title: String,
    /// The task that does it (for a known item: the task submitted for it first).
    pub task_id: String,
    /// `sha256:<hex>` of the item's normalised content (group, kind, text, files,
    /// command, tool): the same content is never submitted twice.
    pub fingerprint: String,
    /// The checkbox was ticked in the plan at the last import: done, not submitted.
    #[serde(default, skip_serializing_if = "super::common::is_false")]
    pub checked: bool,
}

/// A task's link back to the plan item it was imported from (the task file's `plan`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanLink {
    /// The plan file, as given to `phase plan import`.
    pub path: String,
    /// The item: `<group>.<n>` (`backend.3`), or `<n>` before any heading.
    pub item: String,
    /// 1-based line of the item in the plan when it was imported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// `sha256:<hex>` of the item's normalised content.
    pub fingerprint: String,
}

impl Plans {
    /// The record of the plan called `name`.
    pub fn get(&self, name: &str) -> Option<&PlanRecord> {
        self.plans.iter().find(|p| p.name == name)
    }
}
