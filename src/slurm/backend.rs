//! [`SlurmBackend`]: submits attempts as Slurm batch jobs, tracks them, cancels them, and
//! adopts those a previous engine submitted. The executor drives it once per pass; what
//! it reports has the attempt runner's shape ([`AttemptFinished`]), so both are handled
//! alike. Only the submission records and the cluster say which jobs exist: nothing is
//! kept only in memory that a restart would need.

mod poll;
mod submit;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::client::SlurmClient;
use crate::runner::AttemptFinished;
use crate::store::{self, CancelReason, ClusterJob, StateDir};
use crate::{Error, Result};

/// A job whose id was never recorded (the engine died between `sbatch` and the record,
/// or `sbatch` failed while the controller was unreachable) is looked for by name this long
/// after its submission began, before it counts as never submitted.
pub const NAME_LOOKUP_WINDOW: Duration = Duration::from_secs(60);
/// How long an ended job whose wrapper started the command may show no outcome record
/// before it counts as interrupted: a shared file system may show a new file late.
pub const RECORD_GRACE: Duration = Duration::from_secs(5);

type Key = (String, u32);

/// A submitted attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRef {
    /// The task.
    pub task: String,
    /// The attempt.
    pub attempt: u32,
    /// The unique job name.
    pub job_name: String,
    /// The Slurm job id; `None` while unknown (found by name on a later pass).
    pub job_id: Option<String>,
}

/// What a pass found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlurmEvent {
    /// The job's command started (its wrapper wrote the fence).
    Started {
        /// The task.
        task: String,
        /// The attempt.
        attempt: u32,
        /// The Slurm job id.
        job_id: String,
        /// When the wrapper started it.
        started_at: String,
    },
    /// The attempt is over. Record it, then [`SlurmBackend::ack`] it.
    Finished(SlurmFinished),
}

/// An ended attempt: the runner's `finished` plus what the cluster said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlurmFinished {
    /// As the attempt runner reports it.
    pub finished: AttemptFinished,
    /// The Slurm job id, when one was known.
    pub job_id: Option<String>,
    /// Slurm's final state (`COMPLETED`, `TIMEOUT`, `OUT_OF_MEMORY`, …); `None` when the
    /// cluster no longer knew the job.
    pub slurm_state: Option<String>,
    /// What the cluster did that the exit status does not say (out of memory, node
    /// failure, lost job), for the attempt's reason.
    pub note: Option<String>,
}

/// One job being tracked.
#[derive(Debug)]
struct Tracked {
    record: ClusterJob,
    /// The last Slurm state seen.
    state: Option<String>,
    /// When the attempt times out (from the fence the wrapper wrote), once it runs.
    deadline: Option<jiff::Timestamp>,
    started_reported: bool,
    /// `sbatch` failed and the controller confirmed there is no such job.
    rejected: bool,
    /// When the job was first seen ended with the command started but no record yet.
    awaiting_record: Option<Instant>,
    /// `scancel` succeeded for the recorded cancel reason (else each pass tries again:
    /// the controller may have been down, or the engine died in between).
    cancel_sent: bool,
}

impl Tracked {
    fn new(record: ClusterJob) -> Tracked {
        Tracked {
            record,
            state: None,
            deadline: None,
            started_reported: false,
            rejected: false,
            awaiting_record: None,
            cancel_sent: false,
        }
    }
}

/// The Slurm execution backend of one engine (docs/SLURM.md).
#[derive(Debug)]
pub struct SlurmBackend {
    state: StateDir,
    program: PathBuf,
    client: SlurmClient,
    jobs: BTreeMap<Key, Tracked>,
    /// Reported finished, not yet acked: never adopted again by this backend.
    reported: BTreeSet<Key>,
}

impl SlurmBackend {
    /// A backend for the state directory `state` (it must be on a file system every node
    /// sees, at the same path), whose jobs run `program` (this `phase` binary, as the nodes
    /// see it) as their wrapper.
    pub fn new(state: &StateDir, program: &Path) -> Result<SlurmBackend> {
        let root = std::path::absolute(state.root())
            .map_err(|e| Error::io(state.root(), "resolve the path", e))?;
        Ok(SlurmBackend {
            state: StateDir::new(root),
            program: program.to_path_buf(),
            client: SlurmClient::default(),
            jobs: BTreeMap::new(),
            reported: BTreeSet::new(),
        })
    }

    /// Cancels a submitted attempt: the reason is recorded durably first (it decides how a
    /// `CANCELLED` job is recorded), then `scancel`. A first reason is kept.
    pub fn cancel(&mut self, task: &str, attempt: u32, reason: CancelReason) -> Result<()> {
        let key = (task.to_string(), attempt);
        let Some(tracked) = self.jobs.get_mut(&key) else {
            let path = store::cluster_job_path(&self.state, task, attempt)?;
            return Err(Error::invalid(path, "no such job is being tracked"));
        };
        if tracked.record.cancel.is_none() {
            tracked.record.cancel = Some(reason);
            store::write_cluster_job(&self.state, &tracked.record)?;
        }
        self.send_cancel(&key)
    }

    /// `scancel` for a job whose cancel reason is recorded; noted once it worked.
    fn send_cancel(&mut self, key: &Key) -> Result<()> {
        let Some(tracked) = self.jobs.get(key) else {
            return Ok(());
        };
        let ids = match &tracked.record.job_id {
            Some(id) => vec![id.clone()],
            None => {
                let found = self.client.queue_by_name(&tracked.record.job_name)?;
                found.into_iter().map(|e| e.id).collect()
            }
        };
        ids.iter().try_for_each(|id| self.client.cancel(id))?;
        if let Some(tracked) = self.jobs.get_mut(key) {
            tracked.cancel_sent = true;
        }
        Ok(())
    }

    /// The engine has recorded the attempt durably: its outcome and submission records go.
    pub fn ack(&mut self, task: &str, attempt: u32) -> Result<()> {
        store::remove_outcome(&self.state, task, attempt)?;
        store::remove_cluster_job(&self.state, task, attempt)?;
        self.reported.remove(&(task.to_string(), attempt));
        Ok(())
    }

    /// Stops tracking an attempt whose result the engine recorded already (a previous
    /// engine died between its results write and the ack) and removes its records.
    pub fn release(&mut self, task: &str, attempt: u32) -> Result<()> {
        self.jobs.remove(&(task.to_string(), attempt));
        self.ack(task, attempt)
    }

    /// Takes over every submitted attempt the state directory records that this backend
    /// does not track yet (after a restart: all of them). Jobs without a recorded id are
    /// looked for by name on the next passes. Nothing is submitted.
    pub fn adopt(&mut self) -> Result<Vec<JobRef>> {
        let mut adopted = Vec::new();
        for (task, attempt) in store::list_cluster_jobs(&self.state)? {
            let key = (task, attempt);
            if self.jobs.contains_key(&key) || self.reported.contains(&key) {
                continue;
            }
            let Some(record) = store::read_cluster_job(&self.state, &key.0, attempt)? else {
                continue;
            };
            adopted.push(job_ref(&record));
            self.jobs.insert(key, Tracked::new(record));
        }
        Ok(adopted)
    }

    /// The attempts submitted and not yet reported finished, with their last seen Slurm
    /// state: what counts against parallel limits, and what `status` shows.
    pub fn live(&self) -> Vec<(JobRef, Option<String>)> {
        self.jobs
            .values()
            .map(|t| (job_ref(&t.record), t.state.clone()))
            .collect()
    }

    /// When the next timeout falls due, so the executor wakes for it.
    pub fn next_deadline(&self) -> Option<Instant> {
        let now = jiff::Timestamp::now();
        self.jobs
            .values()
            .filter(|t| t.record.cancel.is_none())
            .filter_map(|t| t.deadline)
            .min()
            .map(|d| {
                let left = now.duration_until(d).unsigned_abs();
                let left = if d > now { left } else { Duration::ZERO };
                Instant::now() + left
            })
    }
}

fn job_ref(record: &ClusterJob) -> JobRef {
    JobRef {
        task: record.task_id.clone(),
        attempt: record.attempt,
        job_name: record.job_name.clone(),
        job_id: record.job_id.clone(),
    }
}
