//! A quarantined task that later succeeds (after `phase retry`): its escalation report is
//! marked resolved — kept for the record, not deleted.

use std::path::Path;

use super::runner::Abort;
use super::{Engine, escalation};
use crate::{Error, Result};

/// The first line of a report marked resolved starts with this.
const RESOLVED: &str = "> **Resolved:**";

/// A report to mark: its task succeeded at `attempt`.
#[derive(Debug, Clone)]
pub(super) struct ResolveJob {
    /// The task.
    pub task_id: String,
    /// The attempt that succeeded.
    pub attempt: u32,
    /// When it finished.
    pub finished_at: String,
}

/// Marks the task's report resolved, if it has one not marked yet.
pub(super) fn resolve(shared: &Engine, job: &ResolveJob) -> std::result::Result<(), Abort> {
    let path = escalation::path(&shared.state, &job.task_id);
    if mark_resolved(&path, job.attempt, &job.finished_at)? {
        tracing::info!(task = %job.task_id, attempt = job.attempt, "escalation report marked resolved");
    }
    Ok(())
}

/// Marks the report at `path` resolved: its task succeeded at `attempt`, at `at`. The
/// report is kept as it was, under a note saying so; `false` when it was already marked
/// (or is missing).
pub(super) fn mark_resolved(path: &Path, attempt: u32, at: &str) -> Result<bool> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io(path, "read", e)),
    };
    if text.starts_with(RESOLVED) {
        return Ok(false);
    }
    let at = if at.is_empty() {
        String::new()
    } else {
        format!(" ({at})")
    };
    let note = format!(
        "{RESOLVED} the task succeeded at attempt {attempt}{at}. This report is kept for the \
         record.\n\n"
    );
    crate::store::write_atomic(path, format!("{note}{text}").as_bytes())?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_marked_once_and_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.md");
        assert!(!mark_resolved(&path, 3, "").expect("missing is fine"));
        std::fs::write(&path, "# Task `t` quarantined\n").expect("write");
        assert!(mark_resolved(&path, 3, "2026-01-02T03:04:05.678Z").expect("mark"));
        assert!(!mark_resolved(&path, 4, "").expect("already marked"));
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "> **Resolved:** the task succeeded at attempt 3 (2026-01-02T03:04:05.678Z). This \
             report is kept for the record.\n\n# Task `t` quarantined\n"
        );
    }
}
