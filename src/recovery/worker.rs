//! The worker thread: runs recovery jobs one at a time (detectors, fixers and agents can
//! take minutes; the phase's reconcile must not wait for them), reports each job done and
//! wakes the phase.
//!
//! One at a time on purpose: a fix's diff is the difference between two snapshots, so two
//! fixers running at once in the same project would see each other's changes. A job that
//! must wait (see [`guard`](super::guard)) is handed back and tried again shortly, so
//! other jobs go on meanwhile.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::Engine;
use super::attempt::{AttemptJob, recover};
use super::gate::GateJob;
use super::hand_patch::{HandPatchJob, apply};
use super::resolve::{ResolveJob, resolve};
use super::runner::Abort;
use crate::model::ExecutionResults;
use crate::phase::{Wake, Waker};
use crate::store::{Claim, WatchedDoc};

/// A unit of recovery work.
#[derive(Debug, Clone)]
pub(super) enum Job {
    /// A failed attempt to analyse (or whose ladder step to resume).
    Attempt(AttemptJob),
    /// A person's patch to apply.
    HandPatch(HandPatchJob),
    /// A quarantined task's report to mark resolved.
    Resolve(ResolveJob),
    /// An attempt that exited 0 whose acceptance gate to run.
    Gate(GateJob),
}

/// Identifies a job, so the phase queues it once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum JobKey {
    /// `(task, attempt)`.
    Attempt(String, u32),
    /// A patch id.
    Patch(String),
    /// A succeeded `(task, attempt)` whose report to mark resolved.
    Resolve(String, u32),
    /// A `verifying` `(task, attempt)` whose gate to run.
    Gate(String, u32),
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum JobEnd {
    /// It did its work (or found it done).
    Done,
    /// A state file could not be read or written: tried again after a growing pause.
    Failed,
    /// It must wait for other work (see [`guard`](super::guard)): tried again shortly.
    Deferred,
}

impl Job {
    /// Its key.
    pub(super) fn key(&self) -> JobKey {
        match self {
            Job::Attempt(j) => JobKey::Attempt(j.task.id().to_string(), j.attempt()),
            Job::HandPatch(j) => JobKey::Patch(j.patch.patch_id.clone()),
            Job::Resolve(j) => JobKey::Resolve(j.task_id.clone(), j.attempt),
            Job::Gate(j) => JobKey::Gate(j.task.id().to_string(), j.attempt()),
        }
    }

    /// The task it works on.
    pub(super) fn task_id(&self) -> &str {
        match self {
            Job::Attempt(j) => j.task.id(),
            Job::HandPatch(j) => &j.patch.task_id,
            Job::Resolve(j) => &j.task_id,
            Job::Gate(j) => j.task.id(),
        }
    }
}

/// The phase's handle on its worker thread.
#[derive(Debug)]
pub(super) struct Worker {
    shared: Arc<Engine>,
    jobs: Option<Sender<Job>>,
    done: Receiver<(JobKey, JobEnd)>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Starts the thread.
    pub(super) fn start(shared: Arc<Engine>, waker: Option<Waker>) -> std::io::Result<Worker> {
        let (jobs_tx, jobs_rx) = crossbeam_channel::unbounded::<Job>();
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        let for_thread = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("recovery-worker".to_string())
            .spawn(move || work(&for_thread, &jobs_rx, &done_tx, waker.as_ref()))?;
        Ok(Worker {
            shared,
            jobs: Some(jobs_tx),
            done: done_rx,
            thread: Some(thread),
        })
    }

    /// Queues a job; `false` if the worker is gone.
    pub(super) fn submit(&self, job: Job) -> bool {
        self.jobs.as_ref().is_some_and(|tx| tx.send(job).is_ok())
    }

    /// Jobs finished since the last call, each with how it ended.
    pub(super) fn finished(&self) -> Vec<(JobKey, JobEnd)> {
        self.done.try_iter().collect()
    }

    /// Stops taking jobs; lets the one in flight finish within `grace`, then kills its
    /// process and abandons it (the files say where it stood; the next start resumes it).
    pub(super) fn stop(&mut self, grace: Duration) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.jobs = None;
        let Some(thread) = self.thread.take() else {
            return;
        };
        let deadline = Instant::now() + grace;
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if !thread.is_finished() {
            tracing::warn!("recovery: grace period over, killing the fixer in flight");
            self.shared.runner.abort();
            // Killed processes are reaped at once; a bounded wait covers a lock wait.
            let deadline = Instant::now() + Duration::from_secs(1);
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        if thread.is_finished() {
            let _ = thread.join();
        } else {
            tracing::warn!("recovery: worker still busy after shutdown; leaving it");
        }
    }
}

fn work(
    shared: &Engine,
    jobs: &Receiver<Job>,
    done: &Sender<(JobKey, JobEnd)>,
    waker: Option<&Waker>,
) {
    // The worker's own view of the results, to check a task is still stuck before
    // quarantining it.
    let mut results = WatchedDoc::<ExecutionResults>::new(&shared.state, super::PHASE);
    for job in jobs.iter() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let key = job.key();
        // Another recovery process on this state directory may work on the same task:
        // one at a time per task, and each job re-reads the files once it holds the claim.
        let _claim = match Claim::try_acquire(&shared.state, &recovery_claim(job.task_id())) {
            Ok(Some(claim)) => claim,
            Ok(None) => {
                tracing::debug!(job = ?key, "recovery: another process works on this task");
                let _ = done.send((key, JobEnd::Deferred));
                continue;
            }
            Err(e) => {
                tracing::error!(job = ?key, "recovery: {e}");
                let _ = done.send((key, JobEnd::Failed));
                continue;
            }
        };
        let outcome = match &job {
            Job::Attempt(j) => recover(shared, &mut results, j),
            Job::HandPatch(j) => apply(shared, j),
            Job::Resolve(j) => resolve(shared, j),
            Job::Gate(j) => super::gate::run(shared, j),
        };
        let ok = match outcome {
            Ok(()) => JobEnd::Done,
            Err(Abort::Stopped) => break,
            Err(Abort::Busy(why)) => {
                tracing::debug!(job = ?key, "recovery: waits: {why}");
                JobEnd::Deferred
            }
            Err(Abort::Failed(e)) => {
                tracing::error!(job = ?key, "recovery: {e}");
                JobEnd::Failed
            }
        };
        if let Err(e) = shared.events.flush() {
            tracing::error!("recovery: {e}");
        }
        let _ = done.send((key, ok));
        if let Some(w) = waker {
            let _ = w.send(Wake::Worker);
        }
    }
    let _ = shared.events.flush();
}

/// The claim recovery holds on a task while it works on it. Task ids start with a letter
/// or digit, so this name never collides with the executor's claim of a task.
pub(super) fn recovery_claim(task_id: &str) -> String {
    format!("_recovery-{task_id}")
}
