//! `[[hooks]]`: programs run on events (README "Hooks"). Each gets the event's JSON line
//! on stdin; the runner is `src/report/hooks.rs`.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One `[[hooks]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookConfig {
    /// Names the hook's place in `hooks.json`; without one it is named by a hash of its
    /// events and command, so changing either makes it a new hook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Event types it wants (`TASK_QUARANTINED`, …), or `"*"` for every event.
    pub events: Vec<String>,
    /// argv, never a shell string (`["sh", "-c", "…"]` for one); run in the project root
    /// with the event's JSON on stdin.
    pub command: Vec<String>,
    /// Limit of one run; then its process group is killed and the run counts as failed.
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
    /// Runs after a failed one (non-zero exit, timeout, cannot start) before the event is
    /// given up on for this hook (logged); the pipeline never waits for a hook.
    #[serde(default = "default_retries")]
    pub retries: u32,
}

fn default_timeout_seconds() -> u64 {
    10
}

fn default_retries() -> u32 {
    2
}

impl HookConfig {
    /// The key of its cursor in `hooks.json`.
    pub fn key(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        let mut hash = Sha256::new();
        for part in self
            .events
            .iter()
            .chain([&String::new()])
            .chain(&self.command)
        {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        let digest = hash.finalize();
        let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        format!("hook-{hex}")
    }

    /// Whether it wants events of type `kind` (`TASK_QUARANTINED`).
    pub fn wants(&self, kind: &str) -> bool {
        self.events.iter().any(|e| e == "*" || e == kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(events: &[&str], command: &[&str]) -> HookConfig {
        HookConfig {
            name: None,
            events: events.iter().map(|s| s.to_string()).collect(),
            command: command.iter().map(|s| s.to_string()).collect(),
            timeout_seconds: 10,
            retries: 2,
        }
    }

    #[test]
    fn the_key_follows_events_and_command_unless_named() {
        let a = hook(&["RUN_COMPLETE"], &["true"]);
        assert_eq!(a.key(), hook(&["RUN_COMPLETE"], &["true"]).key());
        assert_ne!(a.key(), hook(&["RUN_COMPLETE"], &["false"]).key());
        assert_ne!(a.key(), hook(&["RUN_COMPLETE", "true"], &[]).key());
        assert!(a.key().starts_with("hook-"), "{}", a.key());
        let named = HookConfig {
            name: Some("chat".into()),
            ..a
        };
        assert_eq!(named.key(), "chat");
    }

    #[test]
    fn the_config_schema_knows_every_event_type() {
        use crate::schema::SchemaName;
        let json = |s: SchemaName| -> serde_json::Value {
            serde_json::from_str(s.source()).expect("schema is JSON")
        };
        let mut events = json(SchemaName::Event)["properties"]["type"]["enum"].clone();
        if let Some(list) = events.as_array_mut() {
            list.push("*".into());
        }
        let hooks =
            &json(SchemaName::Config)["$defs"]["hook"]["properties"]["events"]["items"]["enum"];
        assert_eq!(
            hooks, &events,
            "config.schema.json's $defs/hook events enum must be event.schema.json's types and \"*\""
        );
    }

    #[test]
    fn a_star_wants_everything() {
        assert!(hook(&["*"], &["true"]).wants("TASK_FAILED"));
        assert!(hook(&["TASK_FAILED"], &["true"]).wants("TASK_FAILED"));
        assert!(!hook(&["TASK_FAILED"], &["true"]).wants("RUN_COMPLETE"));
    }
}
