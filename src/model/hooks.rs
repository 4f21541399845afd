//! `hooks.json`: how far each configured hook has been given the event log, by `seq`, so
//! that every event reaches it at least once across restarts. Written by the hook runner
//! (`src/report/hooks.rs`) only.

use serde::{Deserialize, Serialize};

use super::common::{compact_vec, default_schema_version, state_doc};
use crate::schema::SchemaName;

/// One cursor per hook.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookCursors {
    /// Always 1 for this format.
    #[serde(default = "default_schema_version")]
    pub schema_version: u32,
    /// The run that last wrote the file.
    #[serde(default)]
    pub run_id: String,
    /// When the file was last written.
    #[serde(default)]
    pub updated_at: String,
    /// By hook.
    #[serde(default, deserialize_with = "compact_vec")]
    pub hooks: Vec<HookCursor>,
}
state_doc!(HookCursors, "hooks.json", SchemaName::Hooks, [hooks]);

/// Where one hook stands in the event log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookCursor {
    /// The hook's `name`, or `hook-<hash of its events and argv>` without one.
    pub hook: String,
    /// Every event up to this `seq` has been handled: delivered (the hook exited 0), not
    /// of a type it wants, or given up on after its retries (logged).
    pub delivered_seq: u64,
    /// When it last moved.
    #[serde(default)]
    pub updated_at: String,
}

impl HookCursors {
    /// The cursor of `hook`.
    pub fn get(&self, hook: &str) -> Option<&HookCursor> {
        self.hooks.iter().find(|c| c.hook == hook)
    }

    /// Moves `hook`'s cursor to `seq` (never back), adding it if new.
    pub fn advance(&mut self, hook: &str, seq: u64, now: &str) {
        match self.hooks.iter_mut().find(|c| c.hook == hook) {
            Some(c) if c.delivered_seq >= seq => {}
            Some(c) => {
                c.delivered_seq = seq;
                c.updated_at = now.to_string();
            }
            None => self.hooks.push(HookCursor {
                hook: hook.to_string(),
                delivered_seq: seq,
                updated_at: now.to_string(),
            }),
        }
    }
}
