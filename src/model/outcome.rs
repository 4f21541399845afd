//! `attempts/<task>/<attempt>.json`: what one attempt did, written by whatever ran its
//! command (the local attempt runner, later a cluster job wrapper) when the engine that
//! asked for it could not record it itself. A published format: schemas/attempt_outcome.schema.json.

use serde::{Deserialize, Serialize};

use super::common::default_schema_version;

/// The outcome of one attempt, as its runner saw it. Every field is written (null where
/// unknown), so other tools need no defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttemptOutcome {
    /// Always 1 for this format.
    #[serde(default = "default_schema_version")]
    pub schema_version: u32,
    /// The task.
    pub task_id: String,
    /// The attempt number, from 1.
    pub attempt: u32,
    /// Who ran it: the attempt runner's id (or a cluster job's id).
    #[serde(default)]
    pub runner: String,
    /// The machine it ran on.
    #[serde(default)]
    pub host: String,
    /// The command's process id (the leader of its process group); null if it never
    /// started.
    #[serde(default)]
    pub pid: Option<u32>,
    /// When it started (or was refused), RFC 3339 UTC with milliseconds.
    pub started_at: String,
    /// When it ended.
    pub finished_at: String,
    /// Wall time from spawn to exit.
    #[serde(default)]
    pub duration_ms: u64,
    /// Exit code, when the command exited.
    pub exit_code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    /// The runner ended it for exceeding its timeout.
    pub timed_out: bool,
    /// The runner ended it because the engine asked (a person's cancel).
    #[serde(default)]
    pub canceled: bool,
    /// The runner ended it because it was itself told to stop (shutdown, SIGTERM): an
    /// interruption, not the task's failure.
    #[serde(default)]
    pub interrupted: bool,
    /// Why the command never ran (starts with `cannot start` when the program or its
    /// workdir is unusable); null when it ran.
    #[serde(default)]
    pub not_started_reason: Option<String>,
    /// Bytes the command wrote to stdout (whether or not the log kept them).
    #[serde(default)]
    pub out_bytes: u64,
    /// Bytes the command wrote to stderr.
    #[serde(default)]
    pub err_bytes: u64,
    /// What went wrong writing the logs (path, error, bytes lost); null when nothing did.
    #[serde(default)]
    pub log_error: Option<String>,
    /// The last bytes of stderr, cut forward to a character boundary.
    #[serde(default)]
    pub stderr_tail: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::SchemaName;

    #[test]
    fn records_agree_with_the_published_schema() {
        let schema: serde_json::Value =
            serde_json::from_str(SchemaName::AttemptOutcome.source()).expect("JSON");
        assert!(jsonschema::meta::validate(&schema).is_ok());
        let full = AttemptOutcome {
            schema_version: 1,
            task_id: "build-1".into(),
            attempt: 2,
            runner: "runner-7@host".into(),
            host: "host".into(),
            pid: Some(7),
            started_at: "2026-01-02T03:04:05.678Z".into(),
            finished_at: "2026-01-02T03:04:06.000Z".into(),
            duration_ms: 322,
            signal: Some(9),
            timed_out: true,
            not_started_reason: Some("cannot start".into()),
            out_bytes: 10,
            err_bytes: 5,
            log_error: Some("stdout: x: cannot write: full; 10 of 10 bytes not written".into()),
            stderr_tail: "oops\n".into(),
            ..AttemptOutcome::default()
        };
        let value = serde_json::to_value(&full).expect("serialise");
        assert_eq!(SchemaName::AttemptOutcome.validate(&value), Ok(()));
        // What a cluster job wrapper must write at least.
        let minimal = serde_json::json!({
            "schema_version": 1, "task_id": "a", "attempt": 1,
            "started_at": "2026-01-02T03:04:05.678Z", "finished_at": "2026-01-02T03:04:05.678Z",
            "exit_code": 0, "signal": null, "timed_out": false
        });
        assert_eq!(SchemaName::AttemptOutcome.validate(&minimal), Ok(()));
        let read: AttemptOutcome = serde_json::from_value(minimal).expect("the model reads it");
        assert_eq!(
            (read.exit_code, read.canceled, read.pid),
            (Some(0), false, None)
        );
        let mut broken = value.clone();
        broken["attempt"] = 0.into();
        assert!(SchemaName::AttemptOutcome.validate(&broken).is_err());
        // Every property is described, and nothing undeclared is accepted.
        assert_eq!(schema["additionalProperties"], false);
        for (name, property) in schema["properties"].as_object().expect("properties") {
            assert!(
                property["description"].is_string(),
                "{name} has no description"
            );
        }
    }
}
