//! Runs phases together: one thread per phase, a watcher feeding them wake-ups, signals,
//! and `--once` completion. Phases never call each other; in one process or three, the
//! files they write are the same.

mod phase_loop;
mod signals;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, select};
use serde_json::json;

use crate::config::Config;
use crate::events::EventLog;
use crate::executor::Executor;
use crate::model::EventType;
use crate::phase::{Phase, Wake};
use crate::recovery::Recovery;
use crate::router::Router;
use crate::status::{self, LivePhases, Snapshot};
use crate::store::{Presence, StateDir, sweep_stale_temp_files};
use crate::watch::{Subscriber, Watch, WatchOptions};
use crate::{Error, Result};

use phase_loop::{LoopTiming, Report};

/// A phase that `phase run` can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PhaseName {
    /// Phase 4.
    Router,
    /// Phase 5.
    Executor,
    /// Phase 6.
    Recovery,
}

impl PhaseName {
    /// All phases, in pipeline order.
    pub const ALL: [PhaseName; 3] = [PhaseName::Router, PhaseName::Executor, PhaseName::Recovery];

    /// The name used on the command line and in the files.
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseName::Router => "router",
            PhaseName::Executor => "executor",
            PhaseName::Recovery => "recovery",
        }
    }

    /// Parses `router`, `executor` or `recovery`.
    pub fn parse(name: &str) -> Result<PhaseName> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == name)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "unknown phase {name:?}: expected router, executor or recovery"
                ))
            })
    }
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Which phases this process runs (all when empty).
    pub phases: Vec<PhaseName>,
    /// Stop once nothing is left to do anywhere.
    pub once: bool,
    /// Use the polling watcher (overrides `state.poll`).
    pub poll: bool,
}

/// How a run ended.
#[derive(Debug)]
pub struct RunReport {
    /// The state of every task at the end (`--once`), as derived from the files.
    pub snapshot: Option<Snapshot>,
    /// Stopped by SIGINT/SIGTERM.
    pub signaled: bool,
}

impl RunReport {
    /// Exit code: with `--once`, 0 only if every task succeeded; otherwise 0.
    pub fn exit_code(&self) -> i32 {
        match &self.snapshot {
            Some(s) if !s.all_succeeded() => crate::error::EXIT_FAILURE,
            _ => 0,
        }
    }
}

/// In `--once` mode, phases in other processes get this long to register before their
/// absence counts (they may be starting at the same moment).
const START_GRACE: Duration = Duration::from_millis(500);

/// Runs the chosen phases until a signal, or with `once` until quiescent.
pub fn run(state: &StateDir, config: Arc<Config>, options: &RunOptions) -> Result<RunReport> {
    state.ensure_runtime_dirs()?;
    sweep_stale_temp_files(state)?;
    let run_id = uuid::Uuid::now_v7().to_string();
    let events = EventLog::new(state, &run_id);
    let mut names = if options.phases.is_empty() {
        PhaseName::ALL.to_vec()
    } else {
        options.phases.clone()
    };
    names.sort();
    names.dedup();
    events.emit(
        EventType::RunStarted,
        "coordinator",
        None,
        None,
        json!({
            "phases": names.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
            "pid": std::process::id(),
            "once": options.once,
        }),
    );
    events.flush()?;

    let mut presences = Vec::new();
    let (report_tx, report_rx) = crossbeam_channel::unbounded::<Report>();
    let timing = LoopTiming::from_config(&config);
    let mut wakers: Vec<Sender<Wake>> = Vec::new();
    let mut subscribers = Vec::new();
    let mut threads = Vec::new();
    for name in &names {
        let phase: Box<dyn Phase> = match name {
            PhaseName::Router => {
                Box::new(Router::new(state.clone(), config.clone(), events.clone()))
            }
            PhaseName::Executor => {
                Box::new(Executor::new(state.clone(), config.clone(), events.clone()))
            }
            PhaseName::Recovery => {
                Box::new(Recovery::new(state.clone(), config.clone(), events.clone()))
            }
        };
        presences.push(Presence::register(state, name.as_str())?);
        let (tx, rx) = crossbeam_channel::unbounded::<Wake>();
        // Every phase sees every change; its loop drops what `wakes_on` rejects.
        subscribers.push(Subscriber::new(Box::new(|_| true), tx.clone()));
        wakers.push(tx.clone());
        threads.push(phase_loop::spawn(phase, rx, tx, report_tx.clone(), timing)?);
    }
    drop(report_tx);
    let watch = Watch::start(
        state,
        WatchOptions {
            poll: options.poll || config.state.poll,
            poll_interval: Duration::from_millis(config.state.poll_interval_ms.max(10)),
        },
        subscribers,
    )?;
    let signals = signals::listen()?;

    let outcome = supervise(state, &names, options.once, &report_rx, &signals);

    for waker in &wakers {
        let _ = waker.send(Wake::Shutdown);
    }
    for thread in threads {
        let _ = thread.join();
    }
    drop(watch);
    let (snapshot, signaled) = outcome?;
    drop(presences);
    events.emit(
        EventType::RunComplete,
        "coordinator",
        None,
        None,
        json!({
            "signaled": signaled,
            "counts": snapshot.as_ref().map(|s| json!(s.counts)),
        }),
    );
    events.flush()?;
    Ok(RunReport { snapshot, signaled })
}

/// Waits for a signal, or (`once`) for every local phase to be idle while no running phase
/// anywhere has work left. Returns the final snapshot (`once`) and whether a signal ended it.
fn supervise(
    state: &StateDir,
    names: &[PhaseName],
    once: bool,
    reports: &Receiver<Report>,
    signals: &Receiver<()>,
) -> Result<(Option<Snapshot>, bool)> {
    let started = Instant::now();
    let mut idle: Vec<(PhaseName, bool)> = names.iter().map(|n| (*n, false)).collect();
    let mut invalid_since: Option<Instant> = None;
    loop {
        select! {
            recv(signals) -> _ => return Ok((None, true)),
            recv(reports) -> report => match report {
                Ok(Report::Reconciled { phase, idle: is_idle }) => {
                    if let Some(slot) = idle.iter_mut().find(|(n, _)| n.as_str() == phase) {
                        slot.1 = is_idle;
                    }
                }
                Ok(Report::Failed { phase, error }) => {
                    return Err(Error::Runtime(format!(
                        "the {phase} phase could not start: {error}"
                    )));
                }
                Ok(Report::Panicked { phase, message }) => {
                    return Err(Error::Runtime(format!(
                        "the {phase} phase panicked (a bug in phase-coordinator); \
                         the run stops: {message}"
                    )));
                }
                // Every phase thread is gone without a word: nothing is left to supervise.
                Err(_) => {
                    return Err(Error::Runtime(
                        "every phase thread ended unexpectedly".to_string(),
                    ));
                }
            },
            default(Duration::from_millis(50)) => {}
        }
        // With every phase here, nobody else needs time to register.
        let grace = if names.len() == PhaseName::ALL.len() {
            Duration::ZERO
        } else {
            START_GRACE
        };
        if !once || !idle.iter().all(|(_, i)| *i) || started.elapsed() < grace {
            continue;
        }
        let live = LivePhases::detect(state)?;
        match status::snapshot(state, live) {
            Ok(s) if !s.has_pending_work() => return Ok((Some(s), false)),
            Ok(_) => invalid_since = None,
            // A broken state file: the phases report it and wait for a person. With
            // --once, give up after a while instead of waiting forever.
            Err(e) => {
                let since = *invalid_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_secs(2) {
                    return Err(e);
                }
            }
        }
    }
}
