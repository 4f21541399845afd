//! Runs recovery's processes (detectors, fixers, agents) one at a time, so that shutdown
//! can kill the one in flight and refuse to start another.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::process::Signal;

use crate::process::{self, Finished, Spec};

/// Why a process did not produce a [`Finished`].
#[derive(Debug)]
pub(super) enum RunError {
    /// Shutdown aborted the work: it is abandoned and resumed by the next start.
    Stopped,
    /// The program could not be started (missing, not executable, bad cwd).
    Spawn(String),
}

/// The process runner shared by the phase and its worker.
#[derive(Debug, Default)]
pub(super) struct Runner {
    aborted: AtomicBool,
    /// Process group of the process in flight.
    current: Mutex<Option<i32>>,
}

impl Runner {
    /// Runs `spec` to completion (or its timeout).
    pub(super) fn run(&self, spec: &Spec) -> Result<Finished, RunError> {
        if self.is_aborted() {
            return Err(RunError::Stopped);
        }
        let running = process::spawn(spec).map_err(|e| RunError::Spawn(e.to_string()))?;
        *self.lock_current() = Some(running.pid());
        // An abort that raced with the spawn must still end this process.
        if self.is_aborted() {
            process::kill_group(running.pid(), Signal::KILL);
        }
        let finished = running.wait();
        *self.lock_current() = None;
        if self.is_aborted() {
            return Err(RunError::Stopped);
        }
        Ok(finished)
    }

    /// Kills the process group in flight (SIGKILL: its grace is over) and refuses to start
    /// another.
    pub(super) fn abort(&self) {
        self.aborted.store(true, Ordering::SeqCst);
        if let Some(pgid) = *self.lock_current() {
            process::kill_group(pgid, Signal::KILL);
        }
    }

    /// Whether [`abort`](Self::abort) was called.
    pub(super) fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::SeqCst)
    }

    fn lock_current(&self) -> std::sync::MutexGuard<'_, Option<i32>> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Shutdown aborted the work in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stopped;

/// Why a job ended without finishing.
#[derive(Debug)]
pub(super) enum Abort {
    /// Shutdown: the work is resumed by the next start (the files say where it stood).
    Stopped,
    /// A state file could not be read or written; the job is tried again later.
    Failed(crate::Error),
    /// The job must wait for other work (why, in words); it is tried again shortly.
    Busy(String),
}

impl From<Stopped> for Abort {
    fn from(_: Stopped) -> Self {
        Abort::Stopped
    }
}

impl From<crate::Error> for Abort {
    fn from(e: crate::Error) -> Self {
        Abort::Failed(e)
    }
}
