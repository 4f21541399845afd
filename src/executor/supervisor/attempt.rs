//! An attempt as the executor records it: how it ended ([`Done`], from the attempt
//! runner's `finished` report or an outcome record), and the engine's own note in its
//! stderr log when it could not even be handed to the runner.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::model::now_rfc3339;
use crate::process::Finished;
use crate::runner::AttemptFinished;

/// How an attempt ended, as the runner saw it.
#[derive(Debug)]
pub(in crate::executor) enum End {
    /// The process ran and ended.
    Exited(Finished),
    /// It never ran; the reason starts with `cannot start` when the program could not
    /// be started.
    NotStarted(String),
}

/// A finished attempt, to record.
#[derive(Debug)]
pub(in crate::executor) struct Done {
    pub(in crate::executor) task_id: String,
    pub(in crate::executor) started_at: String,
    pub(in crate::executor) finished_at: String,
    pub(in crate::executor) duration_ms: u64,
    pub(in crate::executor) end: End,
    pub(in crate::executor) stderr_tail: String,
    pub(in crate::executor) files_modified: Vec<String>,
    /// The runner ended it at a `cancel` (ours, or an earlier engine's).
    pub(in crate::executor) canceled: bool,
    /// The runner ended it at its shutdown: not the task's failure, no budget used.
    pub(in crate::executor) interrupted: bool,
    /// What went wrong writing its logs, if anything did.
    pub(in crate::executor) log_error: Option<String>,
}

impl Done {
    /// The ending a runner reported (in `finished` or in an outcome record), with what
    /// the attempt changed.
    pub(in crate::executor) fn from_report(
        f: &AttemptFinished,
        files_modified: Vec<String>,
    ) -> Done {
        let end = match &f.not_started_reason {
            Some(reason) => End::NotStarted(reason.clone()),
            None => End::Exited(Finished {
                exit_code: f.exit_code,
                signal: f.signal,
                timed_out: f.timed_out,
                duration: Duration::from_millis(f.duration_ms),
                ..Finished::default()
            }),
        };
        Done {
            task_id: f.task.clone(),
            started_at: f.started_at.clone(),
            finished_at: f.finished_at.clone(),
            duration_ms: f.duration_ms,
            end,
            stderr_tail: f.stderr_tail.clone(),
            files_modified,
            canceled: f.canceled,
            interrupted: f.interrupted,
            log_error: f.log_error.clone(),
        }
    }

    /// An attempt that never ran, for `reason`.
    pub(in crate::executor) fn not_started(task_id: &str, reason: String) -> Done {
        let now = now_rfc3339();
        Done {
            task_id: task_id.to_string(),
            started_at: now.clone(),
            finished_at: now,
            duration_ms: 0,
            end: End::NotStarted(reason),
            stderr_tail: String::new(),
            files_modified: Vec::new(),
            canceled: false,
            interrupted: false,
            log_error: None,
        }
    }

    /// An attempt whose runner died with it (no outcome record): it started at
    /// `started_at` and is recorded `interrupted`.
    pub(in crate::executor) fn interrupted(task_id: &str, started_at: &str) -> Done {
        let mut done = Done::not_started(task_id, String::new());
        done.started_at = started_at.to_string();
        done.end = End::Exited(Finished::default());
        done.interrupted = true;
        done
    }
}

/// Appends the engine's own line to the attempt's stderr log, so `phase logs` shows it.
pub(in crate::executor) fn note_in_log(path: &Path, line: &str) {
    // `logs/<task>/<n>.err`: no planted link on the way is followed (issue 8).
    let appended =
        crate::store::open_below(path, 3, crate::store::Access::Append).and_then(|mut f| {
            writeln!(f, "phase: {line}").map_err(|e| crate::Error::io(path, "write", e))
        });
    if let Err(e) = appended {
        tracing::debug!(path = %path.display(), "cannot write the log: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_keeps_every_fact_the_record_needs() {
        let f = AttemptFinished {
            task: "t".into(),
            attempt: 2,
            pid: Some(7),
            started_at: "a".into(),
            finished_at: "b".into(),
            duration_ms: 1500,
            exit_code: Some(3),
            log_error: Some("stdout: full".into()),
            stderr_tail: "oops".into(),
            ..AttemptFinished::default()
        };
        let done = Done::from_report(&f, vec!["x".into()]);
        let End::Exited(end) = &done.end else {
            panic!("it ran: {done:?}");
        };
        assert_eq!((end.exit_code, end.duration.as_millis()), (Some(3), 1500));
        assert_eq!(done.log_error.as_deref(), Some("stdout: full"));
        assert_eq!(
            (done.stderr_tail.as_str(), done.files_modified.len()),
            ("oops", 1)
        );
        let refused = AttemptFinished {
            not_started_reason: Some("cannot start \"x\": missing".into()),
            ..f
        };
        assert!(matches!(
            Done::from_report(&refused, Vec::new()).end,
            End::NotStarted(r) if r.starts_with("cannot start")
        ));
    }
}
