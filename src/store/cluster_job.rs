//! Submission records `attempts/<task>/<attempt>.slurm.json`: an attempt handed to a cluster
//! scheduler (docs/SLURM.md). Written durably *before* `sbatch` runs (job name, no id) and
//! again as soon as it returns (the id), so a restarted engine finds every submitted job —
//! by id, or by its unique name when it died in between — and never submits it twice.
//! Removed once the engine has recorded the attempt's result.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::StateDir;
use super::outcome::{
    attempts_dir, create_dirs, list_attempt_records, outcome_path, remove_record,
};
use crate::{Error, Result};

/// The suffix that tells a submission record from an outcome record (`<n>.json`).
const SUFFIX: &str = ".slurm.json";

/// Why the engine cancelled a job: decides how a `CANCELLED` job is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// A person asked (`phase cancel`): the attempt ends canceled.
    Canceled,
    /// The attempt passed its timeout: it ends timed out.
    TimedOut,
    /// The engine is shutting down and ending what runs: interrupted.
    Interrupted,
}

/// One attempt submitted to Slurm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterJob {
    /// Always 1 for this format.
    pub schema_version: u32,
    /// The task.
    pub task_id: String,
    /// The attempt.
    pub attempt: u32,
    /// The job name, unique per attempt and state directory: how the job is found when its
    /// id was never recorded.
    pub job_name: String,
    /// The job id `sbatch` printed; null until it returned.
    pub job_id: Option<String>,
    /// When the submission began (RFC 3339 UTC).
    pub submitted_at: String,
    /// The attempt's timeout, enforced by the engine (Slurm's own limit is whole minutes).
    pub timeout_ms: Option<u64>,
    /// The stderr log (the job's `--error`), for messages about a job that never started.
    pub err_log: PathBuf,
    /// Set (durably) before the engine cancels the job.
    #[serde(default)]
    pub cancel: Option<CancelReason>,
    /// What `sbatch` said when it failed (the job may still exist: the name decides).
    #[serde(default)]
    pub submit_error: Option<String>,
}

/// `attempts/<task>/<attempt>.slurm.json`.
pub fn cluster_job_path(state: &StateDir, task_id: &str, attempt: u32) -> Result<PathBuf> {
    // outcome_path refuses an invalid task id; the record sits beside the outcome.
    let outcome = outcome_path(state, task_id, attempt)?;
    Ok(outcome.with_file_name(format!("{attempt}{SUFFIX}")))
}

/// Publishes `job` (temp file, fsync, rename, fsync of the directory and of any directory
/// created for it), replacing the previous record of the attempt.
pub fn write_cluster_job(state: &StateDir, job: &ClusterJob) -> Result<PathBuf> {
    let path = cluster_job_path(state, &job.task_id, job.attempt)?;
    let task_dir = path.parent().unwrap_or(Path::new("."));
    super::dir_below(&attempts_dir(state), 1, false)?;
    let created = create_dirs(state, task_dir)?;
    super::dir_below(task_dir, 2, false)?;
    let mut bytes = serde_json::to_vec_pretty(job)
        .map_err(|e| Error::invalid(&path, format!("cannot encode the record: {e}")))?;
    bytes.push(b'\n');
    super::write_atomic(&path, &bytes)?;
    for dir in created.iter().rev() {
        if let Some(parent) = dir.parent() {
            super::sync_dir(parent)?;
        }
    }
    Ok(path)
}

/// The record of `task_id`'s `attempt`; `Ok(None)` if there is none. A record that does
/// not parse, or names another attempt than its path, is an error naming the file.
pub fn read_cluster_job(
    state: &StateDir,
    task_id: &str,
    attempt: u32,
) -> Result<Option<ClusterJob>> {
    let path = cluster_job_path(state, task_id, attempt)?;
    let mut bytes = Vec::new();
    match super::open_below(&path, 3, super::Access::Read) {
        Ok(mut f) => std::io::Read::read_to_end(&mut f, &mut bytes)
            .map_err(|e| Error::io(&path, "read", e))?,
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let job: ClusterJob = serde_json::from_slice(&bytes).map_err(|e| Error::Syntax {
        path: path.clone(),
        line: e.line(),
        column: e.column(),
        message: format!("invalid submission record: {e}"),
    })?;
    if job.task_id != task_id || job.attempt != attempt {
        return Err(Error::Schema {
            path,
            pointer: "/task_id".into(),
            message: format!(
                "the record is for {} attempt {}, not its path's",
                job.task_id, job.attempt
            ),
        });
    }
    Ok(Some(job))
}

/// Every submission record present, as `(task, attempt)`, sorted.
pub fn list_cluster_jobs(state: &StateDir) -> Result<Vec<(String, u32)>> {
    list_attempt_records(state, SUFFIX)
}

/// Deletes a record once the engine has recorded the attempt; `Ok(false)` if there was none.
pub fn remove_cluster_job(state: &StateDir, task_id: &str, attempt: u32) -> Result<bool> {
    remove_record(&cluster_job_path(state, task_id, attempt)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(task: &str, attempt: u32) -> ClusterJob {
        ClusterJob {
            schema_version: 1,
            task_id: task.into(),
            attempt,
            job_name: format!("phase-{task}-{attempt}-0123abcd"),
            job_id: None,
            submitted_at: "2026-01-02T03:04:05.678Z".into(),
            timeout_ms: Some(5000),
            err_log: "/s/logs/t/1.err".into(),
            cancel: None,
            submit_error: None,
        }
    }

    #[test]
    fn records_round_trip_beside_outcomes_and_list_apart_from_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::new(dir.path());
        assert_eq!(read_cluster_job(&state, "t", 1).unwrap(), None);
        let mut first = job("t", 1);
        write_cluster_job(&state, &first).unwrap();
        first.job_id = Some("42".into());
        first.cancel = Some(CancelReason::TimedOut);
        let path = write_cluster_job(&state, &first).unwrap();
        assert!(
            path.ends_with("attempts/t/1.slurm.json"),
            "{}",
            path.display()
        );
        assert_eq!(read_cluster_job(&state, "t", 1).unwrap(), Some(first));
        write_cluster_job(&state, &job("u", 3)).unwrap();
        // An outcome record beside it is not a submission record, nor the reverse.
        std::fs::write(dir.path().join("attempts/t/2.json"), "{}").unwrap();
        assert_eq!(
            list_cluster_jobs(&state).unwrap(),
            vec![("t".to_string(), 1), ("u".to_string(), 3)]
        );
        assert_eq!(
            crate::store::list_outcomes(&state).unwrap(),
            vec![("t".to_string(), 2)]
        );
        assert!(remove_cluster_job(&state, "t", 1).unwrap());
        assert!(!remove_cluster_job(&state, "t", 1).unwrap());
    }

    #[test]
    fn a_broken_or_moved_record_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::new(dir.path());
        let path = write_cluster_job(&state, &job("t", 1)).unwrap();
        std::fs::write(&path, "{").unwrap();
        let err = read_cluster_job(&state, "t", 1).unwrap_err().to_string();
        assert!(err.contains("attempts/t/1.slurm.json"), "{err}");
        std::fs::write(&path, serde_json::to_vec(&job("t", 2)).unwrap()).unwrap();
        let err = read_cluster_job(&state, "t", 1).unwrap_err().to_string();
        assert!(err.contains("attempt 2"), "{err}");
        assert!(write_cluster_job(&state, &job("../x", 1)).is_err());
    }
}
