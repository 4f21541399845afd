//! Phase 6, the error engine: analyses every failed attempt once, climbs the escalation
//! ladder (BASELINE → mechanical fix → agent tiers → QUARANTINE), records patches and a
//! retry verdict for the executor, and writes an escalation report when it gives up.
//! See docs/RECOVERY.md.
//!
//! The phase thread only reads files and plans; a worker thread runs the detectors,
//! fixers and agents (they may take minutes) and commits what they did.

mod advice;
mod attempt;
mod classify;
mod commands;
mod detect;
mod escalation;
mod files;
mod fix;
mod fixer;
mod gate;
mod guard;
mod hand_patch;
mod index;
mod ladder;
mod output;
mod parsers;
mod plan;
mod prompt;
mod quarantine;
mod record;
mod resolve;
mod runner;
mod scope;
mod snapshot;
mod step;
mod turned_away;
mod worker;
mod workspace;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::events::EventLog;
use crate::model::{ErrorAnalyses, ExecutionResults, FixPatches, RoutingDecisions, StateDoc};
use crate::phase::{Outcome, Phase, Waker};
use crate::store::{LockWait, StateDir};
use crate::{Error, Result};

pub use parsers::DEFAULT_PATTERN;

use classify::Patterns;
use commands::Commands;
use detect::Detectors;
use files::{Inputs, RecoveryFiles};
use index::TaskIndex;
use runner::Runner;
use worker::{JobEnd, JobKey, Worker};

/// How long a job that must wait (see [`guard`]) is put aside before it is tried again.
const DEFERRED_PAUSE: Duration = Duration::from_millis(200);

/// The phase's name, in events and logs.
pub const PHASE: &str = "recovery";

/// The error engine: what the phase thread and the worker share.
#[derive(Debug)]
pub(crate) struct Engine {
    state: StateDir,
    config: Arc<Config>,
    events: EventLog,
    detectors: Detectors,
    patterns: Patterns,
    runner: Runner,
    /// Set at shutdown: the worker takes no new job.
    stopping: AtomicBool,
    files: Mutex<RecoveryFiles>,
    /// `phase` commands with the state directory and config in use, for reports.
    commands: Commands,
    /// Since when each `(task, attempt)`'s fix step has been waiting for other work.
    waiting: Mutex<HashMap<(String, u32), Instant>>,
}

impl Engine {
    fn files(&self) -> MutexGuard<'_, RecoveryFiles> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn waiting(&self) -> MutexGuard<'_, HashMap<(String, u32), Instant>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_wait(&self) -> LockWait {
        LockWait::AtMost(Duration::from_millis(self.config.state.lock_timeout_ms))
    }
}

/// A job that failed (a state file could not be written): tried again after a pause.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    until: Instant,
    pause: Duration,
    /// The job waits for other work (not a failure): the phase is not idle meanwhile.
    waits: bool,
}

/// The recovery phase.
#[derive(Debug)]
pub struct Recovery {
    shared: Arc<Engine>,
    inputs: Inputs,
    waker: Option<Waker>,
    worker: Option<Worker>,
    /// Jobs handed to the worker and not reported done.
    queued: HashSet<JobKey>,
    failed: HashMap<JobKey, Backoff>,
    /// Something changed since the last plan (a file, a finished job, an expired pause).
    dirty: bool,
    plan_notes: plan::Notes,
    /// The task index and the version of the decisions it was built from.
    index: (u64, Arc<TaskIndex>),
}

impl Recovery {
    /// A recovery phase on `state`, configured by `config`, reporting to `events`.
    pub fn new(state: StateDir, config: Arc<Config>, events: EventLog) -> Recovery {
        let shared = Engine {
            detectors: Detectors::new(&config),
            patterns: Patterns::new(&config.recovery),
            runner: Runner::default(),
            stopping: AtomicBool::new(false),
            files: Mutex::new(RecoveryFiles::new(&state)),
            commands: Commands::new(state.root(), None),
            waiting: Mutex::new(HashMap::new()),
            state: state.clone(),
            config,
            events,
        };
        Recovery {
            inputs: Inputs::new(&state),
            shared: Arc::new(shared),
            waker: None,
            worker: None,
            queued: HashSet::new(),
            failed: HashMap::new(),
            dirty: true,
            plan_notes: plan::Notes::default(),
            index: (u64::MAX, Arc::new(TaskIndex::default())),
        }
    }

    /// Names the configuration file in use, so that the commands in reports and prompts
    /// carry `--config` (call before [`Phase::start`]; the state directory is known).
    pub fn with_config_file(mut self, config: Option<&Path>) -> Recovery {
        if let Some(engine) = Arc::get_mut(&mut self.shared) {
            engine.commands = Commands::new(engine.state.root(), config);
        }
        self
    }

    /// The task index, rebuilt when the decisions changed since it was built.
    fn index(&mut self) -> Arc<TaskIndex> {
        let version = self.inputs.decisions.version();
        if self.index.0 != version {
            let root = self.shared.state.project_root();
            let index = TaskIndex::new(self.inputs.decisions.doc(), &root);
            self.index = (version, Arc::new(index));
        }
        Arc::clone(&self.index.1)
    }

    fn worker(&mut self) -> Result<&Worker> {
        if self.worker.is_none() {
            let worker = Worker::start(Arc::clone(&self.shared), self.waker.clone())
                .map_err(|e| Error::io(self.shared.state.root(), "start the recovery worker", e))?;
            self.worker = Some(worker);
        }
        self.worker
            .as_ref()
            .ok_or_else(|| Error::invalid(self.shared.state.root(), "recovery worker missing"))
    }

    /// Reads the four files; which of them may be acted on, and when an input whose
    /// re-read was deferred (see [`files::Paced`]) may be read.
    fn refresh(&mut self) -> (plan::Valid, Option<Instant>) {
        let events = &self.shared.events;
        let mut changed = false;
        let mut deferred: Option<Instant> = None;
        let (analyses, patches) = self.shared.files().poll(events, &mut changed);
        let mut input = |read: std::result::Result<bool, Instant>| match read {
            Ok(new) => changed |= new,
            Err(when) => deferred = Some(deferred.map_or(when, |d| d.min(when))),
        };
        input(self.inputs.results.refresh(events));
        // The task specs are only needed while there is a failure or a person's patch to
        // handle; a run of successes never loads them a second time.
        let needed = self
            .inputs
            .results
            .doc()
            .results
            .iter()
            .any(|r| r.status.needs_recovery())
            || self
                .shared
                .files()
                .patches
                .doc()
                .patches
                .iter()
                .any(hand_patch::is_pending);
        if needed {
            input(self.inputs.decisions.refresh(events));
        } else {
            self.inputs.decisions.unload();
        }
        self.dirty |= changed;
        let valid = plan::Valid {
            decisions: self.inputs.decisions.is_valid(),
            results: self.inputs.results.is_valid(),
            analyses,
            patches,
        };
        (valid, deferred)
    }

    /// When the earliest pending content check of the four files is due, if one is.
    fn confirm_at(&self) -> Option<Instant> {
        [self.inputs.confirm_at(), self.shared.files().confirm_at()]
            .into_iter()
            .flatten()
            .min()
    }
}

impl Phase for Recovery {
    fn name(&self) -> &'static str {
        PHASE
    }

    fn wakes_on(&self) -> fn(&Path) -> bool {
        is_recovery_input
    }

    fn start(&mut self, waker: Waker) -> Result<()> {
        self.waker = Some(waker);
        self.worker().map(|_| ())
    }

    fn reconcile(&mut self) -> Result<Outcome> {
        let finished = self.worker()?.finished();
        let now = Instant::now();
        for (key, end) in finished {
            self.queued.remove(&key);
            self.dirty = true;
            let pause = match end {
                JobEnd::Done => {
                    self.failed.remove(&key);
                    if let JobKey::Resolve(task, attempt) = &key {
                        self.plan_notes.resolved.insert((task.clone(), *attempt));
                    }
                    continue;
                }
                JobEnd::Deferred => DEFERRED_PAUSE,
                JobEnd::Failed => self
                    .failed
                    .get(&key)
                    .map_or(Duration::from_millis(500), |b| {
                        (b.pause * 2).min(Duration::from_secs(60))
                    }),
            };
            self.failed.insert(
                key,
                Backoff {
                    until: now + pause,
                    pause,
                    waits: end == JobEnd::Deferred,
                },
            );
        }
        if self.failed.values().any(|b| b.until <= now) {
            self.dirty = true;
        }
        let (valid, deferred) = self.refresh();
        let mut submitted = 0;
        if self.dirty {
            self.dirty = false;
            let index = self.index();
            let jobs = {
                let files = self.shared.files();
                let cx = plan::Context {
                    state: &self.shared.state,
                    index: &index,
                };
                plan::jobs(&self.inputs, &files, &valid, &mut self.plan_notes, &cx)
            };
            // A job no longer planned (its task moved on) is not waited for any more.
            let planned: HashSet<JobKey> = jobs.iter().map(|j| j.key()).collect();
            self.failed.retain(|key, _| planned.contains(key));
            for job in jobs {
                let key = job.key();
                if self.queued.contains(&key)
                    || self.failed.get(&key).is_some_and(|b| b.until > now)
                {
                    continue;
                }
                if self.worker()?.submit(job) {
                    self.queued.insert(key);
                    submitted += 1;
                }
            }
        }
        self.shared.events.flush()?;
        let next_wake = self
            .failed
            .values()
            .map(|b| b.until)
            .filter(|t| *t > now)
            .chain(deferred)
            // A file read just after it changed is checked once more (see `WatchedFile`).
            .chain(self.confirm_at())
            .min();
        Ok(Outcome {
            next_wake,
            // A job waiting for other work still has work to do: not idle until it is
            // done. A deferred read does not count: a failure it may hold is pending work
            // in the files themselves, which `--once` checks before it ends (and the read
            // comes at `next_wake`); waiting out the pause made every large run end up to
            // 2 s late.
            idle: self.queued.is_empty()
                && submitted == 0
                && !self.failed.values().any(|b| b.waits),
        })
    }

    fn shutdown(&mut self, grace: Duration) -> Result<()> {
        if let Some(mut worker) = self.worker.take() {
            worker.stop(grace);
        }
        self.shared.events.flush()
    }
}

/// The files whose changes concern recovery.
fn is_recovery_input(path: &Path) -> bool {
    [
        ExecutionResults::FILE,
        RoutingDecisions::FILE,
        ErrorAnalyses::FILE,
        FixPatches::FILE,
    ]
    .iter()
    .any(|f| path == Path::new(f))
}
