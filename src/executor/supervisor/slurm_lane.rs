//! The Slurm lane beside the runner link (docs/SLURM.md, "What the executor must do"): a
//! task whose tool has `backend = "slurm"` is submitted as a batch job instead of being
//! handed to the attempt runner, and what the backend finds (started, finished) is handed
//! on in the runner's own messages, so the executor records both alike. No claim is taken
//! here: the job's wrapper takes it, and writes the same outcome record a runner writes.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::attempt::note_in_log;
use crate::Result;
use crate::runner::{RunRequest, RunnerEvent, RunnerMessage};
use crate::slurm::{JobRef, SlurmBackend, SlurmEvent, SlurmFinished, SlurmOptions};
use crate::store::{CancelReason, StateDir};

/// Until the configuration says otherwise (`state.poll_interval_ms`).
const DEFAULT_POLL: Duration = Duration::from_secs(1);

/// The cluster jobs of this executor.
#[derive(Debug)]
pub(in crate::executor) struct SlurmLane {
    /// `None` when it could not be made (the state directory's path cannot be resolved):
    /// a Slurm attempt then cannot start, and says why.
    backend: Option<SlurmBackend>,
    /// Task → its submitted attempt, until it is reported finished.
    live: HashMap<String, u32>,
    /// Reported finished: acked (records removed) after the next results write.
    to_ack: HashSet<(String, u32)>,
    /// Slurm's final state of each reported attempt's job, until the executor takes it
    /// for the attempt's record ([`SlurmLane::take_state`]). Beside the runner's message,
    /// not in it: the runner protocol stays as it is.
    states: HashMap<(String, u32), String>,
    /// Adopted at start, not yet handed to the executor as running tasks.
    adopted: Vec<JobRef>,
    /// Reports not yet taken, in the runner's shape.
    queued: VecDeque<RunnerEvent>,
    /// `logs/` of the state directory: the cluster's word on each job ends up in its
    /// stderr log, for `phase logs`.
    logs: PathBuf,
    poll_every: Duration,
    next_poll: Instant,
}

impl SlurmLane {
    /// A lane with no backend: nothing is submitted or adopted.
    pub(in crate::executor) fn off() -> SlurmLane {
        SlurmLane {
            backend: None,
            live: HashMap::new(),
            to_ack: HashSet::new(),
            states: HashMap::new(),
            adopted: Vec::new(),
            queued: VecDeque::new(),
            logs: PathBuf::from("logs"),
            poll_every: DEFAULT_POLL,
            next_poll: Instant::now(),
        }
    }

    /// The lane of the state directory `state`, whose jobs run `program __slurm-job`;
    /// every job a previous engine submitted is adopted (nothing is submitted again).
    pub(in crate::executor) fn start(state: &StateDir, program: &Path) -> SlurmLane {
        let mut lane = SlurmLane::off();
        lane.logs = state.root().join("logs");
        // The job runs on a node, in another process: `/proc/self/exe` would name the
        // job's own shell there. The binary's real path (the same on every node).
        let program = match program == Path::new("/proc/self/exe") {
            true => std::env::current_exe().unwrap_or_else(|_| program.to_path_buf()),
            false => program.to_path_buf(),
        };
        let mut backend = match SlurmBackend::new(state, &program) {
            Ok(backend) => backend,
            Err(e) => {
                tracing::error!(phase = crate::executor::PHASE, "Slurm backend: {e}");
                return lane;
            }
        };
        match backend.adopt() {
            Ok(jobs) => {
                for job in &jobs {
                    lane.live.insert(job.task.clone(), job.attempt);
                }
                lane.adopted = jobs;
            }
            // Records that cannot be listed now are found at the next restart; until
            // then their tasks are not started here (their fences say why).
            Err(e) => tracing::error!(phase = crate::executor::PHASE, "{e}"),
        }
        lane.backend = Some(backend);
        lane
    }

    /// How often the cluster is asked (one `squeue` for every live job).
    pub(in crate::executor) fn set_poll_interval(&mut self, every: Duration) {
        self.poll_every = every.max(Duration::from_millis(10));
    }

    /// Whether `task` has a submitted attempt not reported finished yet (or one that a
    /// previous engine submitted): the backend accounts for it, nobody else.
    pub(in crate::executor) fn owns(&self, task: &str) -> bool {
        self.live.contains_key(task)
    }

    /// The attempt of `task` reported finished and not acked yet.
    pub(in crate::executor) fn acks_pending(&self, task: &str, attempt: u32) -> bool {
        self.to_ack.contains(&(task.to_string(), attempt))
    }

    /// The jobs adopted at start, once.
    pub(in crate::executor) fn take_adopted(&mut self) -> Vec<JobRef> {
        std::mem::take(&mut self.adopted)
    }

    /// Submits `request` with the tool's `options`; its job while it is known.
    pub(in crate::executor) fn submit(
        &mut self,
        request: &RunRequest,
        options: &SlurmOptions,
    ) -> Result<JobRef> {
        let Some(backend) = self.backend.as_mut() else {
            return Err(crate::Error::invalid(
                request.err_log.clone(),
                "the Slurm backend is not available (see the engine's log)",
            ));
        };
        let job = backend.submit(request, options)?;
        self.live.insert(request.task.clone(), request.attempt);
        // The first look soon after: a refused submission is reported by the next poll.
        self.next_poll = self.next_poll.min(Instant::now() + self.poll_every);
        Ok(job)
    }

    /// Cancels the live attempt of `task` (`scancel`, the reason recorded first).
    pub(in crate::executor) fn cancel(&mut self, task: &str, reason: CancelReason) {
        let (Some(&attempt), Some(backend)) = (self.live.get(task), self.backend.as_mut()) else {
            return;
        };
        if let Err(e) = backend.cancel(task, attempt, reason) {
            // The reason is recorded: each poll sends the `scancel` again.
            tracing::warn!(phase = crate::executor::PHASE, %task, attempt, "{e}");
        }
    }

    /// An adopted job the results file has recorded already: its records go now.
    pub(in crate::executor) fn release(&mut self, task: &str, attempt: u32) {
        self.live.remove(task);
        if let Some(backend) = self.backend.as_mut()
            && let Err(e) = backend.release(task, attempt)
        {
            tracing::warn!(phase = crate::executor::PHASE, %task, attempt, "{e}");
        }
    }

    /// The next report, polling the cluster when a poll is due.
    pub(in crate::executor) fn try_next(&mut self, now: Instant) -> Option<RunnerEvent> {
        let timeout_due = self
            .backend
            .as_ref()
            .and_then(SlurmBackend::next_deadline)
            .is_some_and(|d| d <= now);
        if self.queued.is_empty() && !self.live.is_empty() && (now >= self.next_poll || timeout_due)
        {
            self.poll(now);
        }
        self.queued.pop_front()
    }

    fn poll(&mut self, now: Instant) {
        let Some(backend) = self.backend.as_mut() else {
            return;
        };
        self.next_poll = now + self.poll_every;
        for event in backend.poll() {
            match event {
                SlurmEvent::Started {
                    task,
                    attempt,
                    started_at,
                    ..
                } => self
                    .queued
                    .push_back(RunnerEvent::Message(RunnerMessage::Started {
                        task,
                        attempt,
                        pid: 0,
                        started_at,
                    })),
                SlurmEvent::Finished(f) => {
                    let (task, attempt) = (f.finished.task.clone(), f.finished.attempt);
                    if self.live.get(&task) == Some(&attempt) {
                        self.live.remove(&task);
                    }
                    let log = self.logs.join(&task).join(format!("{attempt}.err"));
                    note_in_log(&log, &cluster_word(&f));
                    if let Some(note) = &f.note {
                        tracing::info!(phase = crate::executor::PHASE, %task, attempt, job = ?f.job_id, state = ?f.slurm_state, "{note}");
                    }
                    if let Some(state) = f.slurm_state {
                        self.states.insert((task.clone(), attempt), state);
                    }
                    self.to_ack.insert((task, attempt));
                    self.queued
                        .push_back(RunnerEvent::Message(RunnerMessage::Finished(f.finished)));
                }
            }
        }
    }

    /// Slurm's final state of the job of attempt `attempt` of `task`, reported finished
    /// (once): the executor records it on the attempt, for `status` and `show`.
    pub(in crate::executor) fn take_state(&mut self, task: &str, attempt: u32) -> Option<String> {
        self.states.remove(&(task.to_string(), attempt))
    }

    /// The results are on disk: every reported attempt's outcome and submission records
    /// go (what a runner's ack does).
    pub(in crate::executor) fn written(&mut self) {
        let Some(backend) = self.backend.as_mut() else {
            return;
        };
        for (task, attempt) in self.to_ack.drain() {
            // A report nobody waited for: its state goes with it.
            self.states.remove(&(task.clone(), attempt));
            if let Err(e) = backend.ack(&task, attempt) {
                tracing::warn!(phase = crate::executor::PHASE, %task, attempt, "{e}");
            }
        }
    }

    /// When to look again: the next poll while jobs are live, a timeout due sooner, or
    /// at once while reports wait.
    pub(in crate::executor) fn next_wake(&self, now: Instant) -> Option<Instant> {
        if !self.queued.is_empty() {
            return Some(now);
        }
        if self.live.is_empty() {
            return None;
        }
        let deadline = self.backend.as_ref().and_then(SlurmBackend::next_deadline);
        Some(deadline.map_or(self.next_poll, |d| d.max(now).min(self.next_poll)))
    }

    /// Shutdown: the jobs keep running (the next engine adopts them).
    pub(in crate::executor) fn leave_running(&mut self) -> Vec<String> {
        self.live.drain().map(|(task, _)| task).collect()
    }
}

/// The line the stderr log gets: the job and Slurm's final state, and what the cluster did
/// that the exit status does not say.
fn cluster_word(f: &SlurmFinished) -> String {
    let job = f.job_id.as_deref().unwrap_or("(no id)");
    let state = f.slurm_state.as_deref().unwrap_or("unknown to the cluster");
    match &f.note {
        Some(note) => format!("Slurm job {job} ended {state}: {note}"),
        None => format!("Slurm job {job} ended {state}"),
    }
}
