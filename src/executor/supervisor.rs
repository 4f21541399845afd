//! The attempts this executor runs: a fixed pool of workers that spawn and wait for them
//! (timeouts and stop requests end the whole process group), the claims that make an
//! attempt run once, and the watch on `running` results of other executors, one of which
//! may have died (pueue's repair after a crash, proven with a lock instead of guessed).

mod attempt;
mod changes;
mod claims;
mod command;
mod output;
mod pool;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::Result;
use crate::model::RoutingDecision;
use crate::phase::Waker;
use crate::process::StopHandle;
use crate::store::{Claim, StateDir};

pub(super) use attempt::{Begun, Done, End, Job, begin, note_in_log, run};
pub(super) use changes::Probe;
pub(super) use claims::Claims;
pub(super) use command::{CommandSite, Prepared};
use pool::Pool;

/// Between two checks of the same `running` results of other executors (each check
/// takes a lock per task).
const SWEEP_INTERVAL: Duration = Duration::from_millis(250);

/// One attempt this process is running.
#[derive(Debug)]
pub(super) struct RunningTask {
    pub(super) attempt: u32,
    pub(super) tool: String,
    pub(super) timeout: Option<Duration>,
    /// Held until the finished result is on disk.
    pub(super) claim: Claim,
    pub(super) stop: StopHandle,
    /// `cancel` requests that stopped it: it ends `canceled`, and they are recorded as
    /// handled only then (after a crash meanwhile, the next executor carries them out).
    pub(super) cancel_requests: Vec<String>,
    /// Set when shutdown stopped it: it ends `failed` / `interrupted`.
    pub(super) interrupted: bool,
    /// An exit 0 that changed none of its files is a failure (`tools.<name>.require_changes`).
    pub(super) require_changes: bool,
}

impl RunningTask {
    /// Attempt `attempt` of a task, with `tool`, holding `claim`; not stopped.
    pub(super) fn new(attempt: u32, tool: String, claim: Claim) -> RunningTask {
        RunningTask {
            attempt,
            tool,
            timeout: None,
            claim,
            stop: StopHandle::new(),
            cancel_requests: Vec::new(),
            interrupted: false,
            require_changes: false,
        }
    }
}

/// The workers, the running attempts, the claims, and the watch on foreign attempts.
#[derive(Debug)]
pub(super) struct Supervisor {
    pool: Option<Pool>,
    /// Attempts this process runs, by task id.
    running: HashMap<String, RunningTask>,
    pub(super) claims: Claims,
    /// Workdir → git work tree root (or none), for `files_modified`.
    git_roots: HashMap<PathBuf, Option<PathBuf>>,
    /// `running` results that are not ours, to check for a dead owner.
    foreign: Vec<String>,
    /// When to check `foreign` next.
    sweep_at: Instant,
}

impl Supervisor {
    pub(super) fn new() -> Supervisor {
        Supervisor {
            pool: None,
            running: HashMap::new(),
            claims: Claims::new(),
            git_roots: HashMap::new(),
            foreign: Vec::new(),
            sweep_at: Instant::now(),
        }
    }

    /// Starts `size` workers; each finished attempt wakes the phase through `waker`.
    pub(super) fn start(&mut self, size: usize, waker: Waker) -> Result<()> {
        self.pool = Some(Pool::start(size, waker)?);
        Ok(())
    }

    /// Whether this process runs an attempt of `id`.
    pub(super) fn runs(&self, id: &str) -> bool {
        self.running.contains_key(id)
    }

    /// How many attempts this process runs.
    pub(super) fn count(&self) -> usize {
        self.running.len()
    }

    /// The attempt of `id` this process runs.
    pub(super) fn get_mut(&mut self, id: &str) -> Option<&mut RunningTask> {
        self.running.get_mut(id)
    }

    /// Whether `request_id` stopped the attempt of `task_id`, which has not ended yet.
    pub(super) fn is_canceling(&self, task_id: &str, request_id: &str) -> bool {
        self.running
            .get(task_id)
            .is_some_and(|t| t.cancel_requests.iter().any(|r| r == request_id))
    }

    /// The attempt of `id` was handed to a worker.
    pub(super) fn add(&mut self, id: String, task: RunningTask) {
        self.running.insert(id, task);
    }

    /// The attempt of `id` ended.
    pub(super) fn remove(&mut self, id: &str) -> Option<RunningTask> {
        self.running.remove(id)
    }

    /// Whether the workers run (after [`Self::start`]).
    pub(super) fn has_workers(&self) -> bool {
        self.pool.is_some()
    }

    /// Hands `job` to the next free worker; gives it back if there are none.
    pub(super) fn submit(&self, job: Job) -> std::result::Result<(), Box<Job>> {
        match &self.pool {
            Some(pool) => pool.submit(job),
            None => Err(Box::new(job)),
        }
    }

    /// A finished attempt, if a worker reported one.
    pub(super) fn try_done(&self) -> Option<Done> {
        self.pool.as_ref().and_then(|p| p.try_done())
    }

    /// A finished attempt, waiting for one until `deadline`.
    pub(super) fn done_until(&self, deadline: Instant) -> Option<Done> {
        self.pool.as_ref().and_then(|p| p.done_until(deadline))
    }

    /// The command of `decision`'s attempt `attempt` (an error: why it cannot start).
    pub(super) fn prepare(
        &mut self,
        site: &CommandSite<'_>,
        decision: &RoutingDecision,
        attempt: u32,
    ) -> std::result::Result<Prepared, String> {
        command::prepare(site, decision, attempt, &mut self.git_roots)
    }

    /// Shutdown's last resort: every running attempt's group is ended; they end
    /// `failed` / `interrupted`.
    pub(super) fn interrupt_all(&mut self) {
        for task in self.running.values_mut() {
            task.interrupted = true;
            task.stop.stop();
        }
    }

    /// Stops every running attempt (no task may outlive the executor).
    pub(super) fn stop_all(&self) {
        for task in self.running.values() {
            task.stop.stop();
        }
    }

    /// Lets the workers exit and waits for them, unless one still waits on a process
    /// that would not die (it is left behind rather than joined).
    pub(super) fn stop_workers_if_idle(&mut self) {
        if self.running.is_empty()
            && let Some(mut pool) = self.pool.take()
        {
            pool.stop();
        }
    }

    /// Watches `ids`, `running` results of other executors, from now on.
    pub(super) fn watch_foreign(&mut self, ids: Vec<String>) {
        self.foreign = ids;
        self.sweep_at = Instant::now();
    }

    /// The foreign attempts to check now, if a check is due; hand back the ones still
    /// running with [`Self::keep_watching`].
    pub(super) fn foreign_due(&mut self, now: Instant) -> Option<Vec<String>> {
        if self.foreign.is_empty() || now < self.sweep_at {
            return None;
        }
        self.sweep_at = now + SWEEP_INTERVAL;
        Some(std::mem::take(&mut self.foreign))
    }

    /// Foreign attempts that still run.
    pub(super) fn keep_watching(&mut self, ids: Vec<String>) {
        self.foreign.extend(ids);
    }

    /// When the next check of foreign attempts is due, if any are watched.
    pub(super) fn next_sweep(&self) -> Option<Instant> {
        (!self.foreign.is_empty()).then_some(self.sweep_at)
    }

    /// A claim on `id` (see [`Claims::take`]).
    pub(super) fn take_claim(&mut self, state: &StateDir, id: &str) -> Result<Option<Claim>> {
        self.claims.take(state, id)
    }
}
