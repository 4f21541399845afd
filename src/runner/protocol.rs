//! The messages between the engine and its attempt runner: JSON, one object per line, on
//! the runner's stdin (engine → runner) and stdout (runner → engine). Each object has a
//! `type`; docs/ATTEMPTS.md is the reference.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::model::{AttemptOutcome, SCHEMA_VERSION};

/// The protocol version the runner announces in [`RunnerMessage::Ready`].
pub const PROTOCOL_VERSION: u32 = 2;

/// What the engine asks of the runner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EngineMessage {
    /// Start an attempt (unless its fence says it already started).
    Run(RunRequest),
    /// End a running attempt: SIGTERM to its group, the grace, SIGKILL.
    Cancel {
        /// The task.
        task: String,
        /// The attempt.
        attempt: u32,
    },
    /// The engine recorded the attempt's outcome durably: release its claim.
    Ack {
        /// The task.
        task: String,
        /// The attempt.
        attempt: u32,
    },
    /// Start nothing more; after `grace_ms`, end what still runs (as interrupted); exit
    /// once every attempt is acknowledged.
    Shutdown {
        /// How long running attempts may go on.
        grace_ms: u64,
    },
}

/// One attempt to start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRequest {
    /// The task.
    pub task: String,
    /// The attempt number, from 1.
    pub attempt: u32,
    /// Program and arguments (no shell).
    pub argv: Vec<String>,
    /// Working directory.
    pub cwd: PathBuf,
    /// Environment on top of the runner's (which is the engine's), in order: later wins.
    #[serde(default)]
    pub env: Vec<(String, String)>,
    /// Wall-clock limit; none waits forever.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Between SIGTERM and SIGKILL.
    #[serde(default)]
    pub kill_grace_ms: u64,
    /// stdout log (created on the first byte).
    pub out_log: PathBuf,
    /// stderr log (created on the first byte).
    pub err_log: PathBuf,
    /// How much of stderr's end to report.
    #[serde(default)]
    pub tail_bytes: usize,
    /// Start it only while fewer than this many of the runner's attempts run; until
    /// then it waits in the runner's queue, in the order asked (none: start at once). The
    /// engine hands over its next attempts before a slot frees, so a slot is refilled
    /// without a round trip through the engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slots: Option<u32>,
    /// Start it only once this attempt of another task, run by the same runner, has
    /// ended in success (exit code 0 within its timeout, neither canceled nor
    /// interrupted); if it ends otherwise, or the runner does not run it, the run is
    /// refused as [`Refusal::Unmet`]. Until then it waits without its claim, like a
    /// queued run. The engine hands over the next task of a chain while the one before
    /// runs, so it starts without a round trip through the engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<AfterAttempt>,
}

/// The attempt a run waits for (see [`RunRequest::after`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AfterAttempt {
    /// The task.
    pub task: String,
    /// The attempt.
    pub attempt: u32,
}

/// What the runner tells the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RunnerMessage {
    /// The first message: the runner is up.
    Ready {
        /// Its id (in fences and outcome records).
        runner: String,
        /// Its process id.
        pid: u32,
        /// [`PROTOCOL_VERSION`].
        protocol: u32,
    },
    /// The command of an attempt was spawned.
    Started {
        /// The task.
        task: String,
        /// The attempt.
        attempt: u32,
        /// The command's pid, also its process group.
        pid: u32,
        /// When it started.
        started_at: String,
    },
    /// The attempt was not started, and nothing of it was written.
    Fenced {
        /// The task.
        task: String,
        /// The attempt asked for.
        attempt: u32,
        /// Why.
        why: Refusal,
        /// The attempt the claim's fence names, when it could be read.
        recorded: Option<u32>,
        /// In words, with the claim file's path.
        message: String,
    },
    /// An attempt ended (or never started); its claim stays held until the engine acks.
    Finished(AttemptFinished),
}

/// Why a run was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// Another process (or this runner) holds the task's claim: it runs now. Look again
    /// later; adopt it if it was yours.
    Busy,
    /// The fence names this attempt or a later one: it was started already. Never start
    /// it again; record it from its outcome record, or as interrupted.
    Started,
    /// The runner is shutting down.
    ShuttingDown,
    /// Canceled while it waited in the runner's queue: it never started.
    Withdrawn,
    /// The attempt it was to follow (see [`RunRequest::after`]) did not succeed, or is
    /// not this runner's: it never started.
    Unmet,
    /// The claim could not be taken or its fence not read or written (the message says
    /// which file and why).
    Error,
}

/// How an attempt ended, as reported to the engine (and, if the engine is gone, written
/// as its outcome record).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptFinished {
    /// The task.
    pub task: String,
    /// The attempt.
    pub attempt: u32,
    /// The command's pid; none if it never started.
    pub pid: Option<u32>,
    /// When it started (or was refused).
    pub started_at: String,
    /// When it ended.
    pub finished_at: String,
    /// From spawn to exit.
    pub duration_ms: u64,
    /// Exit code, when it exited.
    pub exit_code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    /// Ended for exceeding its timeout.
    pub timed_out: bool,
    /// Ended by a `cancel`.
    pub canceled: bool,
    /// Ended by the runner's shutdown (or SIGTERM).
    pub interrupted: bool,
    /// Why it never started.
    pub not_started_reason: Option<String>,
    /// The last bytes of stderr.
    pub stderr_tail: String,
    /// Bytes written to stdout.
    pub out_bytes: u64,
    /// Bytes written to stderr.
    pub err_bytes: u64,
    /// What went wrong writing the logs.
    pub log_error: Option<String>,
}

impl AttemptFinished {
    /// Whether the command ran and exited 0 within its timeout, neither canceled nor
    /// interrupted: what a run [`after`](RunRequest::after) it waits for.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out && !self.canceled && !self.interrupted
    }

    /// The outcome record of this attempt, run by `runner` on `host`.
    pub fn to_outcome(&self, runner: &str, host: &str) -> AttemptOutcome {
        AttemptOutcome {
            schema_version: SCHEMA_VERSION,
            task_id: self.task.clone(),
            attempt: self.attempt,
            runner: runner.to_string(),
            host: host.to_string(),
            pid: self.pid,
            started_at: self.started_at.clone(),
            finished_at: self.finished_at.clone(),
            duration_ms: self.duration_ms,
            exit_code: self.exit_code,
            signal: self.signal,
            timed_out: self.timed_out,
            canceled: self.canceled,
            interrupted: self.interrupted,
            not_started_reason: self.not_started_reason.clone(),
            out_bytes: self.out_bytes,
            err_bytes: self.err_bytes,
            log_error: self.log_error.clone(),
            stderr_tail: self.stderr_tail.clone(),
        }
    }

    /// The report an outcome record stands for (what a restarted engine records).
    pub fn from_outcome(outcome: &AttemptOutcome) -> AttemptFinished {
        AttemptFinished {
            task: outcome.task_id.clone(),
            attempt: outcome.attempt,
            pid: outcome.pid,
            started_at: outcome.started_at.clone(),
            finished_at: outcome.finished_at.clone(),
            duration_ms: outcome.duration_ms,
            exit_code: outcome.exit_code,
            signal: outcome.signal,
            timed_out: outcome.timed_out,
            canceled: outcome.canceled,
            interrupted: outcome.interrupted,
            not_started_reason: outcome.not_started_reason.clone(),
            stderr_tail: outcome.stderr_tail.clone(),
            out_bytes: outcome.out_bytes,
            err_bytes: outcome.err_bytes,
            log_error: outcome.log_error.clone(),
        }
    }
}

/// One message as a line: compact JSON (which never holds a raw newline) and `\n`.
pub fn encode_line<T: Serialize>(message: &T) -> Vec<u8> {
    let mut line = serde_json::to_vec(message).unwrap_or_default();
    line.push(b'\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_tagged_lines_that_round_trip() {
        let run = EngineMessage::Run(RunRequest {
            task: "t".into(),
            attempt: 2,
            argv: vec!["echo".into(), "a\nb".into()],
            env: vec![("K".into(), "v".into())],
            timeout_ms: Some(5),
            ..RunRequest::default()
        });
        let line = encode_line(&run);
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
        assert!(line.starts_with(br#"{"type":"run","task":"t","attempt":2,"#));
        assert_eq!(serde_json::from_slice::<EngineMessage>(&line).unwrap(), run);
        let ack: EngineMessage =
            serde_json::from_str(r#"{"type":"ack","task":"t","attempt":2}"#).unwrap();
        assert_eq!(
            ack,
            EngineMessage::Ack {
                task: "t".into(),
                attempt: 2
            }
        );
        let fenced = RunnerMessage::Fenced {
            task: "t".into(),
            attempt: 1,
            why: Refusal::Started,
            recorded: Some(3),
            message: "m".into(),
        };
        let text = String::from_utf8(encode_line(&fenced)).unwrap();
        assert!(text.contains(r#""why":"started","recorded":3"#), "{text}");
    }

    #[test]
    fn a_finished_attempt_and_its_outcome_record_carry_the_same_facts() {
        let finished = AttemptFinished {
            task: "t".into(),
            attempt: 3,
            pid: Some(9),
            exit_code: Some(1),
            log_error: Some("stdout: x".into()),
            ..AttemptFinished::default()
        };
        let outcome = finished.to_outcome("r", "h");
        assert_eq!((outcome.runner.as_str(), outcome.host.as_str()), ("r", "h"));
        assert_eq!(AttemptFinished::from_outcome(&outcome), finished);
    }
}
