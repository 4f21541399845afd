//! The state files recovery reads and writes: its own two, kept in memory and merged on
//! write (see [`WatchedDoc`]), and its two inputs, re-read at a bounded cost.

use std::time::{Duration, Instant};

use crate::Result;
use crate::events::EventLog;
use crate::model::{ErrorAnalyses, FixPatches, ResultsToReview, RoutingDecisions, StateDoc};
use crate::store::{Pace, PacedFile, Poll, StateDir, WatchedDoc};

use super::PHASE;

/// What recovery owns, shared by the phase thread and its worker under one mutex (so a
/// broken file is reported once, whichever of them sees it first).
#[derive(Debug)]
pub(super) struct RecoveryFiles {
    /// `error_analysis.json`.
    pub analyses: WatchedDoc<ErrorAnalyses>,
    /// `fix_patches.json`.
    pub patches: WatchedDoc<FixPatches>,
}

impl RecoveryFiles {
    /// Handles on both files.
    pub(super) fn new(state: &StateDir) -> RecoveryFiles {
        RecoveryFiles {
            analyses: WatchedDoc::new(state, PHASE),
            patches: WatchedDoc::new(state, PHASE),
        }
    }

    /// Polls both for the phase thread: which may be acted on (analyses, patches); sets
    /// `changed` when either has something new to plan from.
    pub(super) fn poll(&mut self, events: &EventLog, changed: &mut bool) -> (bool, bool) {
        let analyses = assess(&self.analyses.poll(events), changed);
        let patches = assess(&self.patches.poll(events), changed);
        (analyses, patches)
    }

    /// Polls both for the worker, which must not act on outdated content: an error while
    /// either is invalid (the first error wins).
    pub(super) fn refresh(&mut self, events: &EventLog) -> Result<()> {
        let a = self.analyses.current(events).map(drop);
        let p = self.patches.current(events).map(drop);
        a.and(p)
    }

    /// When the earliest pending content check is due, if one is.
    pub(super) fn confirm_at(&self) -> Option<Instant> {
        [self.analyses.confirm_at(), self.patches.confirm_at()]
            .into_iter()
            .flatten()
            .min()
    }
}

/// What a poll means for planning: `true` when the file may be acted on; `changed` is set
/// when there is something new to plan from (new content, or a file valid again).
fn assess<T>(outcome: &Result<Poll<T>>, changed: &mut bool) -> bool {
    match outcome {
        Ok(Poll::Changed(_) | Poll::Recovered) => {
            *changed = true;
            true
        }
        Ok(Poll::Unchanged) => true,
        Ok(Poll::Broken) => false,
        Err(e) => {
            tracing::warn!(phase = PHASE, "{e}");
            false
        }
    }
}

/// How often recovery re-reads an input: at most 1 in 10 of the time, after a read that
/// took `d` the next waits `9 × (d - 3 ms)`, at most 2 s. Reading a 10,000-task results
/// file takes ~0.1 s, and the executor rewrites it every `flush_interval_ms`; recovery
/// only needs the failures, so it must not spend a core re-reading successes. The first
/// 3 ms are not paced: a few-hundred-task file takes 1–3 ms to read, and pausing 9× that
/// held every hand-off to recovery (a failure, an acceptance gate) back by 10–25 ms. (1 in
/// 20 was tried: on a loaded machine a 150-task run's reads pass 3 ms, and the longer
/// pauses delayed every hand-off to recovery enough that a crash test timed out.)
const PACE: Pace = Pace {
    share: 10,
    unpaced: Duration::from_millis(3),
    max_pause: Duration::from_secs(2),
    small_bytes: 0,
};

/// An input file, re-read at a bounded cost, with its last valid content.
#[derive(Debug)]
pub(super) struct Paced<T: StateDoc> {
    file: PacedFile<T>,
    /// The last valid content.
    doc: T,
    valid: bool,
    /// Counts the content's changes, so what is derived from it can be cached.
    version: u64,
}

impl<T: StateDoc> Paced<T> {
    /// A handle on `T::FILE` in `state`.
    pub(super) fn new(state: &StateDir) -> Self {
        Paced {
            file: PacedFile::new(state, PHASE, PACE),
            doc: T::default(),
            valid: true,
            version: 0,
        }
    }

    /// The last valid content.
    pub(super) fn doc(&self) -> &T {
        &self.doc
    }

    /// Polls the file unless the last read was too recent: then `Err(when)` says when it
    /// may be read again. `Ok(true)`: something new to plan from.
    pub(super) fn refresh(&mut self, events: &EventLog) -> std::result::Result<bool, Instant> {
        let outcome = self.file.poll(events)?;
        let mut changed = false;
        self.valid = assess(&outcome, &mut changed);
        if let Ok(Poll::Changed(doc)) = outcome {
            self.doc = doc;
            self.version += 1;
        }
        Ok(changed)
    }

    /// Drops the content to save memory; the next [`refresh`](Self::refresh) reads again.
    pub(super) fn unload(&mut self) {
        self.doc = T::default();
        self.version += 1;
        self.file.forget();
    }

    /// Changes with every new content.
    pub(super) fn version(&self) -> u64 {
        self.version
    }

    /// Whether the last read was valid.
    pub(super) fn is_valid(&self) -> bool {
        self.valid
    }

    /// When the pending content check is due, if one is (never inside a pause).
    pub(super) fn confirm_at(&self) -> Option<Instant> {
        self.file.confirm_at()
    }
}

/// What recovery reads from the other phases (phase thread only).
#[derive(Debug)]
pub(super) struct Inputs {
    /// `routing_decisions.json`: the task specs.
    pub decisions: Paced<RoutingDecisions>,
    /// `execution_results.json`: the attempts recovery may act on (see
    /// [`ResultsToReview`]).
    pub results: Paced<ResultsToReview>,
}

impl Inputs {
    /// Handles on both files.
    pub(super) fn new(state: &StateDir) -> Inputs {
        Inputs {
            decisions: Paced::new(state),
            // Recovery acts on failures, and on successes after a `phase retry` (a
            // quarantined task's report is marked resolved); a run of 10,000 plain
            // successes is skipped while parsing, never built.
            results: Paced::new(state),
        }
    }

    /// When the earliest pending content check is due, if one is.
    pub(super) fn confirm_at(&self) -> Option<Instant> {
        [self.decisions.confirm_at(), self.results.confirm_at()]
            .into_iter()
            .flatten()
            .min()
    }
}
