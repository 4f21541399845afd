//! Submitting one attempt: the submission record before `sbatch`, the id right after, and
//! a failed `sbatch` told apart from a lost answer by asking for the job's name.

use std::path::Path;

use super::{JobRef, SlurmBackend, Tracked, job_ref};
use crate::model::now_rfc3339;
use crate::runner::RunRequest;
use crate::slurm::SlurmOptions;
use crate::slurm::script::{batch_script, job_name, sbatch_args};
use crate::store::{self, ClusterJob, Fence};
use crate::{Error, Result};

impl SlurmBackend {
    /// Submits `run` as a batch job with the tool's `options`. The submission record is
    /// written before `sbatch` runs and again with the id as soon as it returns. A job
    /// `sbatch` refused is reported finished (not started, with its message) by the next
    /// [`poll`](Self::poll). Refused here, with nothing submitted: an attempt already
    /// submitted, or one whose fence says it started already.
    pub fn submit(&mut self, run: &RunRequest, options: &SlurmOptions) -> Result<JobRef> {
        self.submit_inner(run, options, true)
    }

    /// Like [`submit`](Self::submit) but never records the job id: what an engine that
    /// dies right after `sbatch` returns leaves behind. For crash tests only.
    #[doc(hidden)]
    pub fn submit_unrecorded(
        &mut self,
        run: &RunRequest,
        options: &SlurmOptions,
    ) -> Result<JobRef> {
        self.submit_inner(run, options, false)
    }

    fn submit_inner(
        &mut self,
        run: &RunRequest,
        options: &SlurmOptions,
        record_id: bool,
    ) -> Result<JobRef> {
        let key = (run.task.clone(), run.attempt);
        let record_path = store::cluster_job_path(&self.state, &run.task, run.attempt)?;
        if run.attempt == 0 {
            return Err(Error::invalid(record_path, "attempts are numbered from 1"));
        }
        if self.jobs.contains_key(&key)
            || store::read_cluster_job(&self.state, &run.task, run.attempt)?.is_some()
        {
            let message = format!("attempt {} was submitted already; adopt it", run.attempt);
            return Err(Error::invalid(record_path, message));
        }
        if let Some(f) = Fence::read(&self.state, &run.task)?.filter(|f| f.attempt >= run.attempt) {
            let message = format!(
                "attempt {} was already started (by {})",
                f.attempt, f.runner
            );
            return Err(Error::invalid(self.state.fence_log_path(), message));
        }
        let run = self.absolute(run)?;
        for log in [&run.out_log, &run.err_log] {
            create_log_dir(log)?;
        }
        let name = job_name(self.state.root(), &run.task, run.attempt);
        let mut record = ClusterJob {
            schema_version: 1,
            task_id: run.task.clone(),
            attempt: run.attempt,
            job_name: name.clone(),
            job_id: None,
            submitted_at: now_rfc3339(),
            timeout_ms: run.timeout_ms,
            err_log: run.err_log.clone(),
            cancel: None,
            submit_error: None,
        };
        store::write_cluster_job(&self.state, &record)?;
        let script = batch_script(&self.program, self.state.root(), &run);
        let mut tracked =
            match self
                .client
                .sbatch(&sbatch_args(&run, options, &name), &run.env, &script)
            {
                Ok(id) if record_id => {
                    record.job_id = Some(id);
                    store::write_cluster_job(&self.state, &record)?;
                    Tracked::new(record)
                }
                Ok(_) => Tracked::new(record),
                Err(e) => self.after_failed_sbatch(record, &e),
            };
        tracked.state = tracked
            .record
            .job_id
            .as_ref()
            .map(|_| "PENDING".to_string());
        let job_ref = job_ref(&tracked.record);
        self.jobs.insert(key, tracked);
        Ok(job_ref)
    }

    /// `sbatch` failed: the job may exist anyway (the controller accepted it and the answer
    /// was lost). Ask by name; only "the controller knows no such job" proves a refusal.
    fn after_failed_sbatch(&self, mut record: ClusterJob, e: &Error) -> Tracked {
        record.submit_error = Some(e.to_string());
        if let Err(e) = store::write_cluster_job(&self.state, &record) {
            tracing::warn!("{e}");
        }
        let found = self.client.queue_by_name(&record.job_name);
        let mut tracked = Tracked::new(record);
        match found {
            Ok(entries) if entries.is_empty() => tracked.rejected = true,
            Ok(entries) => self.record_found_id(&mut tracked, &entries[0].id),
            Err(e) => tracing::warn!("cannot tell whether the job was submitted: {e}"),
        }
        tracked
    }

    /// Notes a job id found by name, durably.
    fn record_found_id(&self, tracked: &mut Tracked, id: &str) {
        tracked.record.job_id = Some(id.to_string());
        if let Err(e) = store::write_cluster_job(&self.state, &tracked.record) {
            tracing::warn!("{e}");
        }
    }

    /// The request with absolute paths: the job starts elsewhere, in `--chdir`.
    fn absolute(&self, run: &RunRequest) -> Result<RunRequest> {
        let abs =
            |p: &Path| std::path::absolute(p).map_err(|e| Error::io(p, "resolve the path", e));
        Ok(RunRequest {
            cwd: abs(&run.cwd)?,
            out_log: abs(&run.out_log)?,
            err_log: abs(&run.err_log)?,
            ..run.clone()
        })
    }
}

/// Slurm writes no log into a missing directory (the job then fails with no output at
/// all): make it first. `logs/<task>/` is made without following a planted link.
fn create_log_dir(log: &Path) -> Result<()> {
    let Some(dir) = log.parent() else {
        return Ok(());
    };
    let in_logs = dir
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|n| n == "logs");
    if in_logs {
        store::dir_below(dir, 2, true)?;
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, "create directory", e))
}
