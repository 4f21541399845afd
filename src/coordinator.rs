//! Runs phases together: one thread per phase, a watcher feeding them wake-ups, signals,
//! and `--once` completion. Phases never call each other; in one process or three, the
//! files they write are the same.

mod phase_loop;
mod signals;
mod start;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, select};
use serde_json::json;

use crate::config::Config;
use crate::events::EventLog;
use crate::model::EventType;
use crate::status::{self, LivePhases, Snapshot};
use crate::store::{StateDir, sweep_stale_temp_files};
use crate::{Error, Result};

use phase_loop::Report;

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
    /// The configuration file in use, when there is one: recovery's reports print
    /// commands with it.
    pub config_file: Option<std::path::PathBuf>,
    /// Judge every task at the end of `--once`, not only the current run's.
    pub all: bool,
}

/// How a run ended.
#[derive(Debug)]
pub struct RunReport {
    /// The state of the run's tasks (of every task with `all`) at the end (`--once`), as
    /// derived from the files.
    pub snapshot: Option<Snapshot>,
    /// Stopped by SIGINT/SIGTERM.
    pub signaled: bool,
    /// The run this process took part in (`runs.json`).
    pub run_id: String,
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

/// In `--once` mode, while a state file is invalid, the run ends once every phase has
/// stayed idle for a poll interval plus this: each phase has then made a full pass since
/// the last change (its timer pass at the latest) and found nothing it can do. An idle
/// moment between one phase's write and the pass it wakes in another is not the end.
const BROKEN_SETTLE_MARGIN: Duration = Duration::from_millis(250);

/// Runs the chosen phases until a signal, or with `once` until quiescent.
pub fn run(state: &StateDir, config: Arc<Config>, options: &RunOptions) -> Result<RunReport> {
    state.ensure_runtime_dirs()?;
    state.ensure_claims_files()?;
    sweep_stale_temp_files(state)?;
    // A run open in the ledger (another process runs it, or it was interrupted) is joined.
    let session = crate::runs::open(state)?;
    // What is still moving as this process joins the run belongs to the run.
    let moving = if options.once {
        crate::runs::moving(state)
    } else {
        Default::default()
    };
    let events = EventLog::new(state, &session.run_id);
    // Before RUN_STARTED: a hook seen for the first time starts after what is logged now.
    let reporter = crate::report::Reporter::start(state, config.clone(), &session.run_id);
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
            "joined": session.joined,
        }),
    );
    // A log that cannot be written now (a full disk) keeps the event for the next flush:
    // the run starts anyway, and resumes writing when it can (src/events.rs).
    if let Err(e) = events.flush() {
        tracing::warn!("{e}");
    }

    let phases = start::Phases::start(state, &config, options, &names, &events)?;
    let signals = signals::listen()?;

    let poll_interval = Duration::from_millis(config.state.poll_interval_ms.max(10));
    let ends = Ends {
        once: options.once,
        broken_settle: poll_interval + BROKEN_SETTLE_MARGIN,
    };
    let outcome = supervise(state, &names, ends, &phases.reports, &signals, &events);
    let presences = phases.stop();
    let (snapshot, signaled) = outcome?;
    drop(presences);
    // The phases are gone: the files no longer move, and what follows (the run's tasks,
    // the report, the archive check, the final metrics and dashboard) reads them over
    // and over. One parse each.
    let _memo = crate::store::memoize_reads();
    let snapshot = match snapshot {
        Some(s) if !options.all => Some(crate::runs::of_run(
            state,
            &s,
            &session.started_at,
            &moving,
        )?),
        other => other,
    };
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
    // Before the run is ended (and perhaps archived): the report belongs to its records.
    match crate::report::run_report::write(state, &session.run_id, signaled) {
        Ok(path) => tracing::info!("run report: {}", path.display()),
        Err(e) => tracing::warn!("cannot write the run report: {e}"),
    }
    crate::runs::end(state, &session, &config.state, &events)?;
    // After the run's last event: hooks get RUN_COMPLETE, metrics the final counts.
    reporter.finish();
    Ok(RunReport {
        snapshot,
        signaled,
        run_id: session.run_id,
    })
}

/// When [`supervise`] ends a run besides a signal.
#[derive(Debug, Clone, Copy)]
struct Ends {
    /// Once nothing is left to do (`--once`).
    once: bool,
    /// How long the phases must stay idle while a state file is invalid.
    broken_settle: Duration,
}

/// Waits for a signal, or (`once`) for every local phase to be idle while no running phase
/// anywhere has work left. Returns the final snapshot (`once`) and whether a signal ended it.
/// With `once`, a state file a phase reported invalid ends the run (exit 1, naming it)
/// once every local phase has stayed idle, or failed every pass, for `broken_settle`:
/// nothing can move until a person fixes it, so waiting would be forever.
fn supervise(
    state: &StateDir,
    names: &[PhaseName],
    ends: Ends,
    reports: &Receiver<Report>,
    signals: &Receiver<()>,
    events: &EventLog,
) -> Result<(Option<Snapshot>, bool)> {
    let Ends {
        once,
        broken_settle,
    } = ends;
    let started = Instant::now();
    let mut idle: Vec<(PhaseName, bool)> = names.iter().map(|n| (*n, false)).collect();
    // Whether each phase's last pass failed: stuck, unless a broken file explains it.
    let mut failing: Vec<(PhaseName, bool)> = names.iter().map(|n| (*n, false)).collect();
    let mut invalid_since: Option<Instant> = None;
    // Since when every local phase has been idle, without a busy report in between.
    let mut idle_since: Option<Instant> = None;
    // Memory freed by a phase (a document replaced, a burst of tasks done) goes back to
    // the system every couple of seconds: at 100,000 tasks, 75 MiB off the peak RSS.
    let mut trimmed = Instant::now();
    loop {
        if trimmed.elapsed() >= Duration::from_secs(2) {
            crate::heap::release_free();
            trimmed = Instant::now();
        }
        select! {
            recv(signals) -> _ => return Ok((None, true)),
            recv(reports) -> report => match report {
                Ok(Report::Reconciled { phase, idle: is_idle, failed }) => {
                    if let Some(slot) = idle.iter_mut().find(|(n, _)| n.as_str() == phase) {
                        slot.1 = is_idle;
                    }
                    if let Some(slot) = failing.iter_mut().find(|(n, _)| n.as_str() == phase) {
                        slot.1 = failed;
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
        // Idle, or failing every pass: nothing this phase does will move the run.
        let all_stuck = idle.iter().zip(&failing).all(|((_, i), (_, f))| *i || *f);
        idle_since = all_stuck.then(|| idle_since.unwrap_or_else(Instant::now));
        // Work that waits on a broken file never moves: once the phases have stayed idle
        // (or failing) long enough for one's write to wake another, the run ends naming
        // the file.
        if once && started.elapsed() >= grace {
            let broken = events.broken_files();
            if !broken.is_empty() && idle_since.is_some_and(|t| t.elapsed() >= broken_settle) {
                return Err(broken_files_error(&broken));
            }
        }
        if !once || !idle.iter().all(|(_, i)| *i) || started.elapsed() < grace {
            continue;
        }
        let broken = events.broken_files();
        let live = LivePhases::detect(state)?;
        match status::snapshot(state, live) {
            Ok(s) if !s.has_pending_work() && broken.is_empty() => return Ok((Some(s), false)),
            Ok(s) if !s.has_pending_work() => return Err(broken_files_error(&broken)),
            Ok(_) => invalid_since = None,
            // A broken state file: the phases report it and wait for a person. With
            // --once, give up after a while instead of waiting forever.
            Err(e) => {
                let since = *invalid_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_secs(2) {
                    // The phases' own report names the problem best, when they made one.
                    return Err(if broken.is_empty() {
                        e
                    } else {
                        broken_files_error(&broken)
                    });
                }
            }
        }
    }
}

/// The error that ends `--once` while state files are invalid: each problem as reported
/// (it names the file and the line or field).
fn broken_files_error(broken: &[crate::events::BrokenFile]) -> Error {
    let problems: Vec<&str> = broken.iter().map(|b| b.error.as_str()).collect();
    let verb = if broken.len() == 1 {
        "it is"
    } else {
        "they are"
    };
    Error::Runtime(format!(
        "{}; the run cannot finish until {verb} fixed",
        problems.join("; ")
    ))
}
