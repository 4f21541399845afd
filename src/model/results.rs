//! `execution_results.json`, owned by the executor.

use serde::{Deserialize, Serialize};

use super::Metadata;
use super::common::{compact_vec, default_schema_version, state_doc};
use crate::schema::SchemaName;

/// One entry per task: its latest attempt, plus the history of all attempts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionResults {
    /// Always 1 for this format.
    #[serde(default = "default_schema_version")]
    pub schema_version: u32,
    /// The run that last wrote the file.
    #[serde(default)]
    pub run_id: String,
    /// When the file was last written.
    #[serde(default)]
    pub updated_at: String,
    /// One per task that has been attempted (or ended without running: `dep_failed`).
    #[serde(default, deserialize_with = "compact_vec")]
    pub results: Vec<TaskResult>,
}
state_doc!(
    ExecutionResults,
    "execution_results.json",
    SchemaName::ExecutionResults,
    [results]
);

impl super::SplicedDoc for ExecutionResults {
    type Entry = TaskResult;
    const ENTRIES: &'static str = "results";
    fn entries_mut(&mut self) -> &mut Vec<TaskResult> {
        &mut self.results
    }
}

/// `execution_results.json` as recovery reads it: only the results it may act on are
/// built — every one not `succeeded`, and the succeeded ones a `phase retry` touched
/// (`budget_from_attempt` above 0). Every other entry is skipped while it is parsed (its
/// `status` and `budget_from_attempt` read, nothing else built), so a run of 10,000 plain
/// successes is neither built a second time nor held (the executor holds them).
///
/// Only the built entries are schema-checked: an entry recovery never acts on is the
/// executor's and the router's to report when it is broken.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultsToReview {
    /// Always 1 for this format.
    #[serde(default = "default_schema_version")]
    pub schema_version: u32,
    /// The run that last wrote the file.
    #[serde(default)]
    pub run_id: String,
    /// When the file was last written.
    #[serde(default)]
    pub updated_at: String,
    /// The results recovery may act on, in file order.
    #[serde(default, deserialize_with = "worth_review")]
    pub results: Vec<TaskResult>,
}
state_doc!(
    ResultsToReview,
    "execution_results.json",
    SchemaName::ExecutionResults,
    [results]
);

/// Whether recovery may act on a result with this status (see [`ResultsToReview`]).
fn worth(status: Status, budget_from_attempt: u32) -> bool {
    status != Status::Succeeded || budget_from_attempt > 0
}

/// Reads the results array, building only the entries [`worth`] keeps.
fn worth_review<'de, D>(deserializer: D) -> Result<Vec<TaskResult>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::{Error, SeqAccess, Visitor};
    use serde_json::value::RawValue;

    /// The two fields that decide; the rest of the entry is skipped unread.
    #[derive(Deserialize)]
    struct Head {
        status: Status,
        #[serde(default)]
        budget_from_attempt: u32,
    }

    struct Entries;
    impl<'de> Visitor<'de> for Entries {
        type Value = Vec<TaskResult>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an array of task results")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut kept = Vec::new();
            while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
                let head: Head = serde_json::from_str(raw.get()).map_err(A::Error::custom)?;
                if worth(head.status, head.budget_from_attempt) {
                    kept.push(serde_json::from_str(raw.get()).map_err(A::Error::custom)?);
                }
            }
            kept.shrink_to_fit();
            Ok(kept)
        }
    }
    deserializer.deserialize_seq(Entries)
}

/// Where a task's latest attempt stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The attempt's process is running (its claim is held).
    #[default]
    Running,
    /// Exit code 0, and its acceptance gate (if any) passed.
    Succeeded,
    /// Exit code 0; recovery runs its acceptance gate (`verify`, `review`).
    Verifying,
    /// Non-zero exit, a signal, a spawn error, or `interrupted` (see `reason`).
    Failed,
    /// Killed for exceeding its timeout.
    TimedOut,
    /// Canceled by a person.
    Canceled,
    /// Recovery gave up; an escalation report was written.
    Quarantined,
    /// A dependency ended quarantined, canceled or dep_failed; never ran.
    DepFailed,
}

impl Status {
    /// The snake_case name used in the files.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Verifying => "verifying",
            Status::Failed => "failed",
            Status::TimedOut => "timed_out",
            Status::Canceled => "canceled",
            Status::Quarantined => "quarantined",
            Status::DepFailed => "dep_failed",
        }
    }

    /// Failed in a way recovery may analyse (`failed` or `timed_out`).
    pub fn is_failure(self) -> bool {
        matches!(self, Status::Failed | Status::TimedOut)
    }

    /// Recovery has work on it: a failure to analyse, or an acceptance gate to run.
    pub fn needs_recovery(self) -> bool {
        self.is_failure() || self == Status::Verifying
    }

    /// Ended for good unless a person intervenes: dependents become `dep_failed`.
    pub fn is_dead_end(self) -> bool {
        matches!(
            self,
            Status::Canceled | Status::Quarantined | Status::DepFailed
        )
    }
}

/// The executor's record of one task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskResult {
    /// The task's id.
    pub task_id: String,
    /// The tool that ran the latest attempt.
    #[serde(default)]
    pub tool_id: String,
    /// Latest attempt number, from 1 (0 for a task that never ran).
    #[serde(default)]
    pub attempt: u32,
    /// Exit code of the latest attempt, when it exited.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// Where the task stands.
    pub status: Status,
    /// Wall time of the latest attempt.
    #[serde(default)]
    pub duration_ms: u64,
    /// The patch whose retry this attempt is, if any.
    #[serde(default)]
    pub output_patch_id: Option<String>,
    /// What changed under the workdir during the latest attempt.
    #[serde(default)]
    pub files_modified: Vec<String>,
    /// Why, in words: `interrupted`, `exit code 2`, `killed by signal 9`, a spawn error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the latest attempt started.
    #[serde(default)]
    pub started_at: String,
    /// When the latest attempt ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Earliest time the next attempt may start (back-off), when one is scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<String>,
    /// Attempts before this number do not count against the retry budget
    /// (`phase retry` moves it forward).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub budget_from_attempt: u32,
    /// Ids of `control.json` requests already carried out for this task.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub handled_requests: Vec<String>,
    /// The task's metadata, carried through.
    #[serde(default)]
    pub metadata: Metadata,
    /// Every attempt, oldest first.
    #[serde(default, deserialize_with = "compact_vec")]
    pub attempts: Vec<Attempt>,
}

/// One run of a task's process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attempt {
    /// Attempt number, from 1.
    pub attempt: u32,
    /// The tool that ran it.
    pub tool_id: String,
    /// How it ended (or `running`).
    pub status: Status,
    /// Exit code, when the process exited.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// Signal that ended it, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Why, in words (see [`TaskResult::reason`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The argv that was run.
    #[serde(default, deserialize_with = "compact_vec")]
    pub argv: Vec<String>,
    /// When it started.
    pub started_at: String,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Wall time.
    #[serde(default)]
    pub duration_ms: u64,
    /// stdout log, relative to the state directory.
    pub log_out: String,
    /// stderr log, relative to the state directory.
    pub log_err: String,
    /// The last lines of stderr (at most a few KiB).
    #[serde(default)]
    pub stderr_tail: String,
    /// What changed under the workdir during the attempt.
    #[serde(default)]
    pub files_modified: Vec<String>,
    /// What went wrong writing its logs (which log, the error, the bytes lost), when
    /// anything did: never a silently short log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_error: Option<String>,
    /// The patch whose retry this attempt is, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_id: Option<String>,
    /// Which executor ran it (`host:pid`).
    #[serde(default)]
    pub executor: String,
    /// An agent tool's attempt (a preset): the tokens and cost its CLI reported (empty
    /// when it reported none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    // Boxed: agents' attempts only (see `RoutingDecision::gate`).
    pub usage: Option<Box<super::AgentUsage>>,
    /// Run in a git worktree of its own (`isolation = "worktree"`): where, and how its
    /// change came back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    // Boxed: isolated attempts only (see `RoutingDecision::gate`).
    pub worktree: Option<Box<super::WorktreeRun>>,
    /// A tool with `backend = "slurm"`: the Slurm job id of the attempt (docs/SLURM.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// A tool with `backend = "slurm"`: Slurm's final state of the job (`COMPLETED`,
    /// `FAILED`, `TIMEOUT`, `CANCELLED`, `OUT_OF_MEMORY`, …); none while it runs, or when
    /// the cluster no longer knew the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm_state: Option<String>,
}

impl TaskResult {
    /// The latest attempt's record, if any.
    pub fn latest(&self) -> Option<&Attempt> {
        self.attempts.last()
    }

    /// Attempts that failed since the budget was last reset; an attempt cut short by
    /// the engine's own crash or shutdown (`interrupted`) is no failure of the task.
    pub fn failures_in_budget(&self) -> u32 {
        self.attempts
            .iter()
            .filter(|a| a.attempt >= self.budget_from_attempt && a.status.is_failure())
            .filter(|a| a.reason.as_deref() != Some("interrupted"))
            .count() as u32
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{parse_state_document, parse_state_reader};

    fn entry(id: &str, status: &str, extra: &str) -> String {
        format!(
            r#"{{"task_id": "{id}", "tool_id": "shell", "attempt": 1, "status": "{status}",
                "attempts": [{{"attempt": 1, "tool_id": "shell", "status": "{status}",
                "argv": ["true", "a \"quoted\" [word]"], "started_at": "2026-01-01T00:00:00.000Z",
                "log_out": "logs/{id}/1.out", "log_err": "logs/{id}/1.err"}}]{extra}}}"#
        )
    }

    /// The records phases hold one of per task stay small: a rare part added inline (an
    /// unboxed `Option` of a struct) would grow every one of them.
    #[test]
    fn records_held_per_task_stay_small() {
        use std::mem::size_of;
        assert!(size_of::<Attempt>() <= 400, "{}", size_of::<Attempt>());
        assert!(
            size_of::<TaskResult>() <= 360,
            "{}",
            size_of::<TaskResult>()
        );
        let decision = size_of::<crate::model::RoutingDecision>();
        assert!(decision <= 800, "{decision}");
    }

    fn doc(entries: &[String]) -> String {
        format!(
            r#"{{"schema_version": 1, "run_id": "r", "updated_at": "2026-01-01T00:00:00.000Z",
                "results": [{}]}}"#,
            entries.join(",\n")
        )
    }

    fn kept(text: &str) -> Vec<String> {
        let path = std::path::Path::new("execution_results.json");
        let sliced: ResultsToReview = parse_state_document(path, text.as_bytes()).expect("parse");
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("execution_results.json");
        std::fs::write(&file, text).expect("write");
        let streamed: ResultsToReview =
            parse_state_reader(&file, std::fs::File::open(&file).expect("open")).expect("parse");
        assert_eq!(sliced, streamed, "both parse paths agree");
        let full: ExecutionResults = parse_state_document(path, text.as_bytes()).expect("parse");
        let expected: Vec<&TaskResult> = (full.results.iter())
            .filter(|r| worth(r.status, r.budget_from_attempt))
            .collect();
        assert_eq!(sliced.results.iter().collect::<Vec<_>>(), expected);
        sliced.results.into_iter().map(|r| r.task_id).collect()
    }

    #[test]
    fn recovery_builds_only_the_results_it_may_act_on() {
        let text = doc(&[
            entry("ok", "succeeded", ""),
            entry("bad", "failed", r#", "reason": "exit code 1""#),
            entry("retried", "succeeded", r#", "budget_from_attempt": 2"#),
            entry("gate", "verifying", ""),
            entry("q", "quarantined", ""),
            entry("ok2", "succeeded", r#", "budget_from_attempt": 0"#),
        ]);
        assert_eq!(kept(&text), ["bad", "retried", "gate", "q"]);
        assert!(kept(&doc(&[])).is_empty());
    }

    #[test]
    fn a_kept_entry_is_checked_whole_and_a_bad_status_anywhere_is_an_error() {
        let path = std::path::Path::new("execution_results.json");
        // A failed entry with a field of the wrong type: the view refuses the file.
        let text = doc(&[entry("bad", "failed", r#", "duration_ms": "long""#)]);
        let err = parse_state_document::<ResultsToReview>(path, text.as_bytes())
            .expect_err("a kept entry of the wrong shape");
        assert!(err.to_string().contains("/results/0/duration_ms"), "{err}");
        // A status nobody knows, even on an entry that would be skipped.
        let text = doc(&[entry("odd", "done", "")]);
        let err = parse_state_document::<ResultsToReview>(path, text.as_bytes())
            .expect_err("unknown status");
        assert!(err.to_string().contains("got \"done\""), "{err}");
    }
}
