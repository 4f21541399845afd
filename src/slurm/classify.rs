//! From what is known about an ended job to the attempt runner's `finished` shape: the
//! wrapper's outcome record for the exact exit status and times, Slurm's final state for
//! what happened *to* the job (CLUSTER.md, step 4: `TIMEOUT`, `CANCELLED`,
//! `OUT_OF_MEMORY`, `NODE_FAIL` win over the wrapper's code, which reads 143 after a TERM).

use super::parse::JobEnd;
use crate::model::{AttemptOutcome, now_rfc3339};
use crate::runner::AttemptFinished;
use crate::store::{CancelReason, ClusterJob};

/// Everything known about one job once it is over.
#[derive(Debug)]
pub struct Evidence<'a> {
    /// The submission record.
    pub job: &'a ClusterJob,
    /// The cluster's final word; `None` when the cluster no longer knows the job.
    pub end: Option<&'a JobEnd>,
    /// The wrapper's outcome record, when it wrote one.
    pub outcome: Option<&'a AttemptOutcome>,
    /// Whether the fence names this attempt: the wrapper got as far as starting it.
    pub started: bool,
}

/// The attempt's report, and one line saying what the cluster did (for the result's
/// reason and `phase show`), when it did something the exit status does not say.
pub fn classify(e: &Evidence<'_>) -> (AttemptFinished, Option<String>) {
    let job = e.job;
    let id = job.job_id.as_deref().unwrap_or("?");
    let mut f = match e.outcome {
        Some(outcome) => AttemptFinished::from_outcome(outcome),
        None => AttemptFinished {
            task: job.task_id.clone(),
            attempt: job.attempt,
            started_at: e
                .end
                .and_then(|end| end.started_at.clone())
                .unwrap_or_else(|| job.submitted_at.clone()),
            finished_at: e
                .end
                .and_then(|end| end.finished_at.clone())
                .unwrap_or_else(now_rfc3339),
            ..AttemptFinished::default()
        },
    };
    let Some(end) = e.end else {
        // Forgotten by the cluster: the record, if the job wrote one, is the whole truth.
        if e.outcome.is_some() {
            return (f, None);
        }
        if job.job_id.is_none() {
            return never_submitted(job, f);
        }
        f.interrupted = true;
        return (f, Some(format!("Slurm job {id} was lost by the cluster")));
    };
    let state = end.state.as_str();
    let note = |what: &str| Some(format!("{what} (Slurm job {id}: {state})"));
    match state {
        "TIMEOUT" | "DEADLINE" => {
            f.timed_out = true;
            (f, note("Slurm's time limit"))
        }
        "CANCELLED" => {
            match job.cancel {
                Some(CancelReason::TimedOut) => f.timed_out = true,
                Some(CancelReason::Interrupted) => f.interrupted = true,
                // Ours, or someone's `scancel` outside the engine: a cancel either way.
                Some(CancelReason::Canceled) | None => f.canceled = true,
            }
            let note = match job.cancel {
                None => note("cancelled outside the engine"),
                Some(_) => None,
            };
            (f, note)
        }
        "OUT_OF_MEMORY" => {
            // The kernel's OOM kill: SIGKILL, whether or not the wrapper saw it.
            if f.exit_code.is_none() && f.signal.is_none() {
                f.signal = Some(9);
            }
            (f, note("out of memory"))
        }
        "NODE_FAIL" | "BOOT_FAIL" | "PREEMPTED" | "REVOKED" => {
            // Not the task's doing: like an executor dying, no retry budget is used.
            f.interrupted = true;
            (f, note("the cluster ended the job"))
        }
        _ if e.outcome.is_some() => (f, None),
        _ if e.started => {
            // The wrapper died after the fence and before its record: killed from outside.
            f.interrupted = true;
            (f, note("the job wrapper ended without an outcome record"))
        }
        _ => {
            let log = job.err_log.display();
            let exit = match (end.exit_code, end.signal) {
                (_, Some(s)) => format!("signal {s}"),
                (c, None) => format!("exit {}", c.unwrap_or(0)),
            };
            f.not_started_reason = Some(format!(
                "cannot start: Slurm job {id} ended {state} ({exit}) before its command \
                 started; see {log}"
            ));
            (f, None)
        }
    }
}

/// No job ever had the attempt's name: `sbatch` refused it (a not-started attempt, with
/// its message), or the engine died before `sbatch` ran (interrupted: not the task's doing).
fn never_submitted(job: &ClusterJob, mut f: AttemptFinished) -> (AttemptFinished, Option<String>) {
    match &job.submit_error {
        Some(error) => f.not_started_reason = Some(format!("cannot start: {error}")),
        None => f.interrupted = true,
    }
    let note = format!("no Slurm job named {} was ever submitted", job.job_name);
    (f, Some(note))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(cancel: Option<CancelReason>) -> ClusterJob {
        ClusterJob {
            schema_version: 1,
            task_id: "t".into(),
            attempt: 2,
            job_name: "n".into(),
            job_id: Some("7".into()),
            submitted_at: "2026-01-02T03:04:05.000Z".into(),
            timeout_ms: None,
            err_log: "/s/logs/t/2.err".into(),
            cancel,
            submit_error: None,
        }
    }

    fn end(state: &str) -> JobEnd {
        JobEnd {
            state: state.into(),
            ..JobEnd::default()
        }
    }

    fn outcome(code: Option<i32>, signal: Option<i32>) -> AttemptOutcome {
        AttemptOutcome {
            task_id: "t".into(),
            attempt: 2,
            exit_code: code,
            signal,
            ..AttemptOutcome::default()
        }
    }

    fn run(
        job: &ClusterJob,
        end: Option<&JobEnd>,
        out: Option<&AttemptOutcome>,
        started: bool,
    ) -> (AttemptFinished, Option<String>) {
        classify(&Evidence {
            job,
            end,
            outcome: out,
            started,
        })
    }

    #[test]
    fn the_wrappers_exit_status_is_exact_and_slurm_states_win() {
        let plain = job(None);
        let (f, note) = run(
            &plain,
            Some(&end("FAILED")),
            Some(&outcome(Some(3), None)),
            true,
        );
        assert_eq!((f.exit_code, f.timed_out, note), (Some(3), false, None));
        let (f, _) = run(
            &plain,
            Some(&end("TIMEOUT")),
            Some(&outcome(Some(143), None)),
            true,
        );
        assert!(f.timed_out && f.exit_code == Some(143));
        let ours = job(Some(CancelReason::TimedOut));
        let (f, note) = run(
            &ours,
            Some(&end("CANCELLED")),
            Some(&outcome(None, Some(15))),
            true,
        );
        assert!(f.timed_out && !f.canceled && note.is_none());
        let (f, _) = run(
            &job(Some(CancelReason::Canceled)),
            Some(&end("CANCELLED")),
            None,
            false,
        );
        assert!(f.canceled && f.pid.is_none() && f.exit_code.is_none());
        let (f, note) = run(&plain, Some(&end("OUT_OF_MEMORY")), None, true);
        assert_eq!(f.signal, Some(9));
        assert!(note.unwrap().contains("out of memory (Slurm job 7"));
        let (f, _) = run(
            &plain,
            Some(&end("NODE_FAIL")),
            Some(&outcome(None, Some(9))),
            true,
        );
        assert!(f.interrupted);
    }

    #[test]
    fn without_a_record_the_fence_and_the_cluster_decide() {
        let plain = job(None);
        let (f, note) = run(&plain, None, None, true);
        assert!(f.interrupted && note.unwrap().contains("lost by the cluster"));
        let mut unsent = job(None);
        unsent.job_id = None;
        let (f, note) = run(&unsent, None, None, false);
        assert!(f.interrupted && note.unwrap().contains("no Slurm job named n"));
        unsent.submit_error = Some("sbatch failed (exit 1): invalid partition".into());
        let (f, _) = run(&unsent, None, None, false);
        assert!(!f.interrupted);
        assert_eq!(
            f.not_started_reason.unwrap(),
            "cannot start: sbatch failed (exit 1): invalid partition"
        );
        let (f, note) = run(&plain, None, Some(&outcome(Some(0), None)), true);
        assert!(!f.interrupted && f.exit_code == Some(0) && note.is_none());
        let (f, _) = run(&plain, Some(&end("COMPLETED")), None, true);
        assert!(f.interrupted);
        let mut failed = end("FAILED");
        failed.exit_code = Some(127);
        let (f, _) = run(&plain, Some(&failed), None, false);
        let reason = f.not_started_reason.unwrap();
        assert!(
            reason.contains("FAILED (exit 127)") && reason.contains("/s/logs/t/2.err"),
            "{reason}"
        );
    }
}
