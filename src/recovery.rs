//! Phase 6, the error engine: analyses every failed attempt once, climbs the escalation
//! ladder (BASELINE → mechanical fix → agent tiers → QUARANTINE), records patches and a
//! retry verdict for the executor, and writes an escalation report when it gives up.
//! See docs/RECOVERY.md.
//!
//! The phase thread only reads files and plans; a worker thread runs the detectors,
//! fixers and agents (they may take minutes) and commits what they did.

mod attempt;
mod classify;
mod detect;
mod escalation;
mod files;
mod fix;
mod hand_patch;
mod ladder;
mod output;
mod parsers;
mod plan;
mod prompt;
mod record;
mod runner;
mod snapshot;
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
use detect::Detectors;
use files::{Inputs, RecoveryFiles};
use runner::Runner;
use worker::{JobKey, Worker};

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
}

impl Engine {
    fn files(&self) -> MutexGuard<'_, RecoveryFiles> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
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
        }
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
        let now = Instant::now();
        let mut changed = false;
        let mut deferred: Option<Instant> = None;
        let (analyses, patches) = self.shared.files().poll(events, &mut changed);
        let mut input = |read: std::result::Result<bool, Instant>| match read {
            Ok(new) => changed |= new,
            Err(when) => deferred = Some(deferred.map_or(when, |d| d.min(when))),
        };
        input(self.inputs.results.refresh(now, events));
        // The task specs are only needed while there is a failure or a person's patch to
        // handle; a run of successes never loads them a second time.
        let needed = self
            .inputs
            .results
            .doc()
            .results
            .iter()
            .any(|r| r.status.is_failure())
            || self
                .shared
                .files()
                .patches
                .doc()
                .patches
                .iter()
                .any(hand_patch::is_pending);
        if needed {
            input(self.inputs.decisions.refresh(now, events));
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

    fn wakes_on(&self, path: &Path) -> bool {
        [
            ExecutionResults::FILE,
            RoutingDecisions::FILE,
            ErrorAnalyses::FILE,
            FixPatches::FILE,
        ]
        .iter()
        .any(|f| path == Path::new(f))
    }

    fn start(&mut self, waker: Waker) -> Result<()> {
        self.waker = Some(waker);
        self.worker().map(|_| ())
    }

    fn reconcile(&mut self) -> Result<Outcome> {
        let finished = self.worker()?.finished();
        let now = Instant::now();
        for (key, ok) in finished {
            self.queued.remove(&key);
            self.dirty = true;
            if ok {
                self.failed.remove(&key);
            } else {
                let pause = self
                    .failed
                    .get(&key)
                    .map_or(Duration::from_millis(500), |b| {
                        (b.pause * 2).min(Duration::from_secs(60))
                    });
                self.failed.insert(
                    key,
                    Backoff {
                        until: now + pause,
                        pause,
                    },
                );
            }
        }
        if self.failed.values().any(|b| b.until <= now) {
            self.dirty = true;
        }
        let (valid, deferred) = self.refresh();
        let mut submitted = 0;
        if self.dirty {
            self.dirty = false;
            let jobs = {
                let files = self.shared.files();
                plan::jobs(&self.inputs, &files, &valid, &mut self.plan_notes)
            };
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
            // A deferred read may hold a new failure: not idle until it is read.
            idle: self.queued.is_empty() && submitted == 0 && deferred.is_none(),
        })
    }

    fn shutdown(&mut self, grace: Duration) -> Result<()> {
        if let Some(mut worker) = self.worker.take() {
            worker.stop(grace);
        }
        self.shared.events.flush()
    }
}
