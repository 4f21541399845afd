//! The files the executor reads, each a [`WatchedFile`] looked at with a `stat` per pass
//! and read only when it changed, and what it keeps of two of them as they are: recovery's
//! recommendations and the control requests. New decisions go to the schedule (as a
//! graph) and new results to the book, so no document is held twice.

mod recommendations;

use std::time::Instant;

use crate::Result;
use crate::events::EventLog;
use crate::model::{
    Control, ExecutionResults, FixPatches, Request, RoutingDecision, RoutingDecisions, StateDoc,
};
use crate::store::{EntrySpans, LockWait, Poll, StateDir, WatchedFile};

use super::PHASE;
pub(super) use recommendations::Recommendations;

/// The four files and what is kept of them.
#[derive(Debug)]
pub(super) struct Inputs {
    decisions: WatchedFile<RoutingDecisions>,
    patches: WatchedFile<FixPatches>,
    control: WatchedFile<Control>,
    /// The executor's own file: a person or another executor may change it too.
    results: WatchedFile<ExecutionResults>,
    /// From the last valid `fix_patches.json`.
    recommendations: Recommendations,
    /// From the last valid `control.json`.
    requests: Vec<Request>,
}

/// New content a poll found, for the parts that keep it.
#[derive(Debug, Default)]
pub(super) struct Polled {
    /// A new version of `execution_results.json`, for the book to adopt.
    pub(super) results: Option<ExecutionResults>,
    /// New decisions, for the schedule's graph.
    pub(super) decisions: Option<Vec<RoutingDecision>>,
    /// Something changed or became valid again: re-derive everything.
    pub(super) changed: bool,
}

/// What a second look at the results file found.
#[derive(Debug)]
pub(super) enum Refreshed {
    /// Someone else wrote it: their version, to adopt.
    Changed(ExecutionResults),
    /// Valid again, as last seen.
    Recovered,
    /// As last seen.
    Unchanged,
    /// Invalid.
    Broken,
}

impl Inputs {
    /// The files whose changes wake the executor.
    pub(super) const FILES: [&'static str; 4] = [
        RoutingDecisions::FILE,
        FixPatches::FILE,
        Control::FILE,
        ExecutionResults::FILE,
    ];

    pub(super) fn new(state: &StateDir) -> Inputs {
        Inputs {
            decisions: WatchedFile::new(state, PHASE),
            patches: WatchedFile::new(state, PHASE),
            control: WatchedFile::new(state, PHASE),
            results: WatchedFile::new(state, PHASE),
            recommendations: Recommendations::default(),
            requests: Vec::new(),
        }
    }

    /// Re-reads the files that changed.
    pub(super) fn poll(&mut self, events: &EventLog) -> Polled {
        let mut polled = Polled::default();
        if let Some(doc) = seen(self.results.poll(events), &mut polled.changed) {
            polled.results = Some(doc);
        }
        if let Some(doc) = seen(self.decisions.poll(events), &mut polled.changed) {
            polled.decisions = Some(doc.decisions);
        }
        if let Some(doc) = seen(self.patches.poll(events), &mut polled.changed) {
            self.recommendations = Recommendations::from_doc(&doc);
        }
        if let Some(doc) = seen(self.control.poll(events), &mut polled.changed) {
            self.requests = doc.requests;
        }
        polled
    }

    /// Looks at the results file again (a `stat`; a read only if someone else changed it).
    pub(super) fn refresh_results(&mut self, events: &EventLog) -> Refreshed {
        match self.results.poll(events) {
            Ok(Poll::Changed(doc)) => Refreshed::Changed(doc),
            Ok(Poll::Recovered) => Refreshed::Recovered,
            Ok(Poll::Unchanged) => Refreshed::Unchanged,
            Ok(Poll::Broken) => Refreshed::Broken,
            Err(e) => {
                tracing::warn!(phase = PHASE, "{e}");
                Refreshed::Unchanged
            }
        }
    }

    /// Writes `execution_results.json` under its lock. `merge` gets someone else's version
    /// if the file changed since it was last seen, and returns the document to write with
    /// where its entries lie in the file as last written (unchanged ones are copied).
    /// Returns the size of the file written. An
    /// invalid file is an error (reported by the handle) and is not overwritten.
    pub(super) fn write_results<'d>(
        &mut self,
        events: &EventLog,
        wait: LockWait,
        merge: impl FnOnce(Option<ExecutionResults>) -> (&'d mut ExecutionResults, &'d mut EntrySpans),
    ) -> Result<u64> {
        let mut locked = self.results.lock(wait, events)?;
        let (doc, spans) = merge(locked.take_external());
        locked.commit_spliced(doc, events.run_id(), spans)
    }

    /// Whether attempts may start: the decisions and the results file are valid.
    pub(super) fn allow_starts(&self) -> bool {
        !self.decisions.is_broken() && !self.results.is_broken()
    }

    /// Whether `execution_results.json` is invalid: nothing is derived or written.
    pub(super) fn results_broken(&self) -> bool {
        self.results.is_broken()
    }

    /// Whether `control.json` is invalid: requests wait.
    pub(super) fn control_broken(&self) -> bool {
        self.control.is_broken()
    }

    /// Recovery's recommendations; `None` while `fix_patches.json` is invalid (no retry
    /// is scheduled or started, nothing is quarantined).
    pub(super) fn advice(&self) -> Option<&Recommendations> {
        (!self.patches.is_broken()).then_some(&self.recommendations)
    }

    /// The requests, taken out while they are carried out (see [`Self::put_requests`]).
    pub(super) fn take_requests(&mut self) -> Vec<Request> {
        std::mem::take(&mut self.requests)
    }

    /// Puts the requests back.
    pub(super) fn put_requests(&mut self, requests: Vec<Request>) {
        self.requests = requests;
    }

    /// When a file must be looked at again although no event came (a content check of a
    /// version read within a timestamp granule of its change).
    pub(super) fn next_check(&self) -> Option<Instant> {
        [
            self.results.confirm_at(),
            self.decisions.confirm_at(),
            self.patches.confirm_at(),
            self.control.confirm_at(),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// The new document of a poll, if any; notes any change (a recovery too) in `changed`.
fn seen<T>(poll: Result<Poll<T>>, changed: &mut bool) -> Option<T> {
    match poll {
        Ok(Poll::Changed(doc)) => {
            *changed = true;
            Some(doc)
        }
        Ok(Poll::Recovered) => {
            *changed = true;
            None
        }
        Ok(Poll::Unchanged | Poll::Broken) => None,
        Err(e) => {
            tracing::warn!(phase = PHASE, "{e}");
            None
        }
    }
}
