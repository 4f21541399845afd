//! `execution_results.json` as the router follows it: per task, its latest attempt and
//! what each attempt ended as — the fields its circuits, load counts and metrics use, and
//! nothing else. At 100,000 tasks a full read built every attempt's argv, log paths and
//! times again (about 1 KiB a task), only to drop them.

use serde::{Deserialize, Serialize};

use super::Status;
use super::common::{compact_vec, default_schema_version, state_doc};
use crate::schema::SchemaName;

/// The results, digested. Only the document's header is schema-checked: the entries are
/// the executor's to check and report, and a field read here with the wrong type still
/// fails the read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResultsDigest {
    /// Always 1 for this format.
    #[serde(default = "default_schema_version")]
    pub schema_version: u32,
    /// The run that last wrote the file.
    #[serde(default)]
    pub run_id: String,
    /// When the file was last written.
    #[serde(default)]
    pub updated_at: String,
    /// One per task, in file order.
    #[serde(default, deserialize_with = "compact_vec")]
    pub results: Vec<ResultDigest>,
}
state_doc!(
    ResultsDigest,
    "execution_results.json",
    SchemaName::ExecutionResults,
    unchecked[results]
);

/// A task's entry, digested (see [`super::TaskResult`] for the fields).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResultDigest {
    /// The task's id.
    pub task_id: String,
    /// The tool of its latest attempt.
    #[serde(default)]
    pub tool_id: String,
    /// Its latest attempt's number (0: none ran).
    #[serde(default)]
    pub attempt: u32,
    /// Where its latest attempt stands.
    pub status: Status,
    /// Every attempt, oldest first.
    #[serde(default, deserialize_with = "compact_vec")]
    pub attempts: Vec<AttemptDigest>,
}

impl ResultDigest {
    /// The latest attempt, if any.
    pub fn latest(&self) -> Option<&AttemptDigest> {
        self.attempts.last()
    }
}

/// What an attempt ended as (see [`super::Attempt`] for the fields).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AttemptDigest {
    /// Its number.
    pub attempt: u32,
    /// The tool it ran on.
    #[serde(default)]
    pub tool_id: String,
    /// How it ended (or `running`).
    pub status: Status,
    /// The command's exit code, if it exited.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// The signal that ended it, if one did.
    #[serde(default)]
    pub signal: Option<i32>,
    /// Why it ended so, in words.
    #[serde(default)]
    pub reason: Option<String>,
    /// The end of its standard error.
    #[serde(default)]
    pub stderr_tail: String,
    /// When it ended.
    #[serde(default)]
    pub finished_at: Option<String>,
    /// How long it ran.
    #[serde(default)]
    pub duration_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ExecutionResults, StateDoc};
    use crate::store::parse_state_document;

    const DOC: &str = r#"{"schema_version": 1, "run_id": "r", "updated_at": "2026-01-01T00:00:00.000Z",
        "results": [
          {"task_id": "a", "tool_id": "ruff", "attempt": 2, "status": "failed", "duration_ms": 9,
           "output_patch_id": null, "files_modified": [], "started_at": "2026-01-01T00:00:00.000Z",
           "metadata": {"team": "x"},
           "attempts": [
             {"attempt": 1, "tool_id": "shell", "status": "timed_out", "exit_code": null,
              "reason": "timed out after 5 s", "argv": ["sleep", "9"], "started_at": "2026-01-01T00:00:00.000Z",
              "finished_at": "2026-01-01T00:00:05.000Z", "duration_ms": 5000, "log_out": "logs/a/1.out",
              "log_err": "logs/a/1.err", "stderr_tail": "", "files_modified": [], "executor": "local"},
             {"attempt": 2, "tool_id": "ruff", "status": "failed", "exit_code": 1, "signal": 9,
              "reason": "exit code 1", "argv": ["ruff", "check"], "started_at": "2026-01-01T00:00:06.000Z",
              "finished_at": "2026-01-01T00:00:06.009Z", "duration_ms": 9, "log_out": "logs/a/2.out",
              "log_err": "logs/a/2.err", "stderr_tail": "E501", "files_modified": [], "executor": "local"}]}]}"#;

    /// The digest says what the full read says about every field it keeps.
    #[test]
    fn the_digest_keeps_what_the_full_read_says() {
        let full: ExecutionResults =
            parse_state_document(ExecutionResults::FILE.as_ref(), DOC.as_bytes()).unwrap();
        let digest: ResultsDigest =
            parse_state_document(ResultsDigest::FILE.as_ref(), DOC.as_bytes()).unwrap();
        let (f, d) = (&full.results[0], &digest.results[0]);
        assert_eq!(
            (&d.task_id, &d.tool_id, d.attempt, d.status),
            (&f.task_id, &f.tool_id, f.attempt, f.status)
        );
        assert_eq!(d.attempts.len(), 2);
        for (fa, da) in f.attempts.iter().zip(&d.attempts) {
            assert_eq!(
                (da.attempt, &da.tool_id, da.status, da.exit_code, da.signal),
                (fa.attempt, &fa.tool_id, fa.status, fa.exit_code, fa.signal)
            );
            assert_eq!(
                (&da.reason, &da.stderr_tail, &da.finished_at, da.duration_ms),
                (&fa.reason, &fa.stderr_tail, &fa.finished_at, fa.duration_ms)
            );
        }
        assert_eq!(d.latest().map(|a| a.attempt), Some(2));
    }

    /// Entries are not schema-checked, but a field the digest reads must have its type,
    /// and the header is checked.
    #[test]
    fn a_wrong_type_in_a_read_field_and_a_bad_header_still_fail() {
        let path = ResultsDigest::FILE.as_ref();
        let extra = DOC.replacen(r#""metadata": {"team": "x"}"#, r#""metadata": 7"#, 1);
        assert!(parse_state_document::<ResultsDigest>(path, extra.as_bytes()).is_ok());
        let bad = DOC.replacen(r#""attempt": 2"#, r#""attempt": "two""#, 1);
        assert!(parse_state_document::<ResultsDigest>(path, bad.as_bytes()).is_err());
        let header = DOC.replacen(r#""schema_version": 1"#, r#""schema_version": 999"#, 1);
        assert!(parse_state_document::<ResultsDigest>(path, header.as_bytes()).is_err());
    }
}
