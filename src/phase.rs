//! What every phase looks like to the coordinator: a reconcile function woken by file
//! events, timers and its own workers. Phases never call each other.

use std::path::Path;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::Result;

/// Why a phase was woken. Only a hint: every wake-up reconciles everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wake {
    /// A file in the state directory changed (path relative to the state directory,
    /// e.g. `execution_results.json` or `inbox/a.json`).
    Changed(String),
    /// Events may have been lost (queue overflow): rescan everything.
    Rescan,
    /// The polling timer.
    Tick,
    /// One of the phase's own workers finished something (e.g. a task's process exited).
    Worker,
    /// Stop taking work and return from [`Phase::shutdown`].
    Shutdown,
}

/// A handle a phase may clone into its worker threads to wake itself.
pub type Waker = Sender<Wake>;

/// What a reconcile pass reports back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Wake me at the latest at this time (a back-off, a settle time, a pending flush).
    pub next_wake: Option<Instant>,
    /// Nothing in progress and nothing this phase could do now. Used by `--once`.
    pub idle: bool,
}

/// One phase (router, executor, recovery).
pub trait Phase: Send {
    /// `router`, `executor` or `recovery`.
    fn name(&self) -> &'static str;

    /// Which changed paths (relative to the state directory) concern this phase: the
    /// watcher wakes it for those only. Its own output files must be included (a person
    /// may edit them); the phase tells its own writes from others' by content hash, so
    /// that is not a loop. A plain function, so that it runs on the watcher's thread.
    fn wakes_on(&self) -> fn(&Path) -> bool;

    /// Called once before the first reconcile with a waker for worker threads.
    fn start(&mut self, waker: Waker) -> Result<()>;

    /// Compares what the inputs ask for with what the outputs record, and does the
    /// difference. Errors are runtime errors: reported, and the loop carries on.
    fn reconcile(&mut self) -> Result<Outcome>;

    /// Stop taking work; let running work finish within `grace`, then kill it; flush.
    fn shutdown(&mut self, grace: Duration) -> Result<()>;
}
