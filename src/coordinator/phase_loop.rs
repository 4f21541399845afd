//! One phase's thread: reconcile, then wait for a relevant wake-up (coalescing bursts),
//! a timer, or shutdown. A panic in the phase is caught and reported, so the coordinator
//! ends the run with an error instead of waiting forever for a thread that is gone.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::config::Config;
use crate::phase::{Outcome, Phase, Wake};
use crate::{Error, Result};

/// What a phase thread tells the coordinator.
#[derive(Debug)]
pub(super) enum Report {
    /// A reconcile pass ended.
    Reconciled {
        /// The phase.
        phase: &'static str,
        /// Whether it is idle now.
        idle: bool,
        /// The pass ended with an error (reported): the phase may be stuck on it.
        failed: bool,
    },
    /// The phase could not start.
    Failed {
        /// The phase.
        phase: &'static str,
        /// Why.
        error: String,
    },
    /// The phase panicked (a bug); its thread is gone.
    Panicked {
        /// The phase.
        phase: &'static str,
        /// The panic's message.
        message: String,
    },
}

/// Test-only fault injection: with `PHASE_TEST_PANIC=<phase>` (`router`, `executor` or
/// `recovery`) in the environment, that phase panics just before its first reconcile
/// pass. The end-to-end tests use it to prove that a panicking phase ends `phase run` with
/// an `error:` line and exit code 1 rather than a hang. Nothing else reads the variable,
/// and its name says what it is for, so it is not set by accident.
pub(super) const TEST_PANIC_VAR: &str = "PHASE_TEST_PANIC";

/// The loop's timings, from `[state]` and `[execution]`.
#[derive(Debug, Clone, Copy)]
pub(super) struct LoopTiming {
    debounce: Duration,
    poll_interval: Duration,
    shutdown_grace: Duration,
}

impl LoopTiming {
    /// Reads the timings from the configuration.
    pub(super) fn from_config(config: &Config) -> LoopTiming {
        LoopTiming {
            debounce: Duration::from_millis(config.state.debounce_ms),
            poll_interval: Duration::from_millis(config.state.poll_interval_ms.max(10)),
            shutdown_grace: Duration::from_millis(config.execution.shutdown_grace_ms),
        }
    }
}

/// Starts the phase's thread.
pub(super) fn spawn(
    phase: Box<dyn Phase>,
    wakes: Receiver<Wake>,
    waker: Sender<Wake>,
    reports: Sender<Report>,
    timing: LoopTiming,
) -> Result<JoinHandle<()>> {
    let name = phase.name();
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || run(phase, wakes, waker, reports, timing))
        .map_err(|e| Error::os(format!("start the {name} thread"), e))
}

/// The thread's body: the loop, guarded against panics, then the phase's shutdown.
fn run(
    mut phase: Box<dyn Phase>,
    wakes: Receiver<Wake>,
    waker: Sender<Wake>,
    reports: Sender<Report>,
    timing: LoopTiming,
) {
    let name = phase.name();
    let started = match catch_unwind(AssertUnwindSafe(|| {
        drive(&mut *phase, &wakes, waker, &reports, timing)
    })) {
        Ok(started) => started,
        Err(payload) => {
            let message = panic_message(&*payload);
            tracing::debug!(phase = name, "panicked: {message}");
            let _ = reports.send(Report::Panicked {
                phase: name,
                message,
            });
            true
        }
    };
    if !started {
        return;
    }
    // After a panic too: the phase's workers and processes are stopped, not orphaned.
    match catch_unwind(AssertUnwindSafe(|| phase.shutdown(timing.shutdown_grace))) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(phase = name, "shutdown: {e}"),
        Err(payload) => tracing::error!(
            phase = name,
            "shutdown panicked: {}",
            panic_message(&*payload)
        ),
    }
}

/// The text of a panic (`panic!` gives a `&str` or a `String`).
fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_string())
}

/// Panics if [`TEST_PANIC_VAR`] names this phase.
fn test_panic_hook(name: &str) {
    if std::env::var_os(TEST_PANIC_VAR).is_some_and(|v| v == name) {
        panic!("{TEST_PANIC_VAR}={name}: test-only panic injected into the {name} phase");
    }
}

/// Starts the phase, then reconciles until shutdown. `false`: it did not start (reported).
fn drive(
    phase: &mut dyn Phase,
    wakes: &Receiver<Wake>,
    waker: Sender<Wake>,
    reports: &Sender<Report>,
    timing: LoopTiming,
) -> bool {
    let name = phase.name();
    if let Err(e) = phase.start(waker) {
        tracing::error!(phase = name, "{e}");
        let _ = reports.send(Report::Failed {
            phase: name,
            error: e.to_string(),
        });
        return false;
    }
    test_panic_hook(name);
    // The coordinator keeps only the latest state of each phase: a busy phase need not
    // wake it after every pass (a pass per finished task), only when it changes, and
    // every time it is idle (the coordinator then checks whether the run is over).
    let mut reported_busy = false;
    loop {
        let (outcome, failed) = match phase.reconcile() {
            Ok(outcome) => (outcome, false),
            Err(e) => {
                // A runtime error: reported, and the loop carries on.
                tracing::error!(phase = name, "{e}");
                (Outcome::default(), true)
            }
        };
        // A failed pass is reported every time too: `--once` must see a phase stuck on
        // a broken file (see `supervise`).
        if outcome.idle || failed || !reported_busy {
            let _ = reports.send(Report::Reconciled {
                phase: name,
                idle: outcome.idle,
                failed,
            });
        }
        reported_busy = !outcome.idle && !failed;
        let now = Instant::now();
        let mut wake_at = now + timing.poll_interval;
        if let Some(t) = outcome.next_wake {
            wake_at = wake_at.min(t.max(now));
        }
        if wait(wakes, wake_at, now + timing.debounce) == Next::Stop {
            return true;
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Next {
    Reconcile,
    Stop,
}

/// Blocks until something relevant happens (or `wake_at`). A file change that comes
/// after `quiet_from` (the end of the last pass plus `state.debounce_ms`) is acted on at
/// once, with whatever else is already queued: a task dropped into an idle engine waits
/// for nothing. Changes that come sooner are coalesced until `quiet_from`, so a burst
/// (a thousand files renamed into the inbox) costs a few passes, not one per file. A
/// worker's wake-up never waits: a finished task frees a slot that should be refilled.
fn wait(wakes: &Receiver<Wake>, wake_at: Instant, quiet_from: Instant) -> Next {
    match wakes.recv_deadline(wake_at) {
        Err(RecvTimeoutError::Timeout) => return Next::Reconcile,
        Err(RecvTimeoutError::Disconnected) | Ok(Wake::Shutdown) => return Next::Stop,
        Ok(Wake::Worker) => return drain_now(wakes),
        // A file change (the watcher sends only the paths this phase wakes on).
        Ok(_) => {}
    }
    loop {
        match wakes.recv_deadline(quiet_from) {
            Err(RecvTimeoutError::Timeout) => return drain_now(wakes),
            Err(RecvTimeoutError::Disconnected) | Ok(Wake::Shutdown) => return Next::Stop,
            Ok(Wake::Worker) => return drain_now(wakes),
            Ok(_) => {}
        }
    }
}

/// Takes whatever is already queued without waiting; stops on shutdown.
fn drain_now(wakes: &Receiver<Wake>) -> Next {
    while let Ok(w) = wakes.try_recv() {
        if w == Wake::Shutdown {
            return Next::Stop;
        }
    }
    Next::Reconcile
}
