//! A fixed pool of worker threads fed by a channel (not a thread per task). Each worker
//! runs one attempt at a time, sends the result back and wakes the phase.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use super::attempt::{self, Done, End, Job};
use crate::model::now_rfc3339;
use crate::phase::{Wake, Waker};
use crate::{Error, Result};

/// Workers wait on processes and do little else: a small stack is plenty.
const WORKER_STACK: usize = 512 * 1024;

/// The worker threads and their channels.
#[derive(Debug)]
pub(in crate::executor) struct Pool {
    jobs: Option<Sender<Job>>,
    done: Receiver<Done>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Starts `size` workers; each finished attempt also sends `Wake::Worker` on `waker`.
    pub(in crate::executor) fn start(size: usize, waker: Waker) -> Result<Pool> {
        let (jobs_tx, jobs_rx) = crossbeam_channel::unbounded::<Job>();
        let (done_tx, done_rx) = crossbeam_channel::unbounded::<Done>();
        let mut threads = Vec::with_capacity(size);
        for i in 0..size.max(1) {
            let jobs = jobs_rx.clone();
            let done = done_tx.clone();
            let waker = waker.clone();
            let thread = std::thread::Builder::new()
                .name(format!("executor-{i}"))
                .stack_size(WORKER_STACK)
                .spawn(move || work(&jobs, &done, &waker))
                .map_err(|e| Error::os("start an executor worker thread", e))?;
            threads.push(thread);
        }
        Ok(Pool {
            jobs: Some(jobs_tx),
            done: done_rx,
            threads,
        })
    }

    /// Hands `job` to the next free worker; gives it back if the pool is stopped.
    pub(in crate::executor) fn submit(&self, job: Job) -> std::result::Result<(), Box<Job>> {
        match &self.jobs {
            Some(jobs) => jobs.send(job).map_err(|e| Box::new(e.into_inner())),
            None => Err(Box::new(job)),
        }
    }

    /// A finished attempt, if one is waiting.
    pub(in crate::executor) fn try_done(&self) -> Option<Done> {
        self.done.try_recv().ok()
    }

    /// A finished attempt, waiting for one until `deadline`.
    pub(in crate::executor) fn done_until(&self, deadline: Instant) -> Option<Done> {
        self.done.recv_deadline(deadline).ok()
    }

    /// Lets the workers finish their current attempt and exit; waits for them.
    pub(in crate::executor) fn stop(&mut self) {
        self.jobs = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn work(jobs: &Receiver<Job>, done: &Sender<Done>, waker: &Waker) {
    while let Ok(job) = jobs.recv() {
        let (task_id, attempt) = (job.task_id.clone(), job.attempt);
        let result = catch_unwind(AssertUnwindSafe(|| attempt::run(job))).unwrap_or_else(|_| {
            // A bug, not a task failure; still an ending, so the task is not stuck.
            let now = now_rfc3339();
            Done {
                task_id,
                attempt,
                started_at: now.clone(),
                finished_at: now,
                duration_ms: 0,
                end: End::NotStarted("internal error: the executor worker panicked".into()),
                stderr_tail: String::new(),
                files_modified: Vec::new(),
            }
        });
        if done.send(result).is_err() {
            return;
        }
        let _ = waker.send(Wake::Worker);
    }
}
