//! `routing_decisions.json` as the router holds it: every decision in memory (so a wake-up
//! costs a `stat`, not a re-read of 10,000 decisions), hand edits adopted, new decisions
//! merged onto whatever the file holds at commit time.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::Result;
use crate::events::EventLog;
use crate::model::{RoutingDecision, RoutingDecisions};
use crate::store::{LockWait, Poll, StateDir, WatchedFile};

use super::fallback::Amendment;

/// What [`RoutingBook::refresh`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refresh {
    /// The file is what the router last read or wrote.
    Unchanged,
    /// Someone changed it; the new content is adopted.
    Changed,
    /// It is invalid: do not route, do not write.
    Invalid,
}

/// The outcome of [`RoutingBook::commit`].
#[derive(Debug)]
pub(super) enum Commit {
    /// These task ids are now recorded (a decision whose id appeared in the file
    /// meanwhile is not: the file wins).
    Done(Vec<String>),
    /// The file turned out invalid; nothing was written.
    Invalid,
}

/// The decisions file and its in-memory copy.
#[derive(Debug)]
pub(super) struct RoutingBook {
    file: WatchedFile<RoutingDecisions>,
    doc: RoutingDecisions,
    by_id: HashMap<String, usize>,
    max_seq: u64,
    /// Goes up whenever the decisions in memory change (adopted or committed).
    generation: u64,
}

impl RoutingBook {
    pub(super) fn new(state: &StateDir) -> Self {
        Self {
            file: WatchedFile::new(state, super::PHASE),
            doc: RoutingDecisions::default(),
            by_id: HashMap::new(),
            max_seq: 0,
            generation: 0,
        }
    }

    /// Re-reads the file if it changed since the router last read or wrote it.
    pub(super) fn refresh(&mut self, events: &EventLog) -> Result<Refresh> {
        Ok(match self.file.poll(events)? {
            Poll::Changed(doc) => {
                self.adopt(doc);
                Refresh::Changed
            }
            // Valid again with the decisions already in memory: nothing to adopt.
            Poll::Unchanged | Poll::Recovered => Refresh::Unchanged,
            Poll::Broken => Refresh::Invalid,
        })
    }

    /// When the file's pending content check is due, if one is.
    pub(super) fn confirm_at(&self) -> Option<Instant> {
        self.file.confirm_at()
    }

    /// The decision for `task_id`, if any.
    pub(super) fn get(&self, task_id: &str) -> Option<&RoutingDecision> {
        self.by_id.get(task_id).map(|&i| &self.doc.decisions[i])
    }

    /// Changes whenever the decisions change: lets derived views know they are stale.
    pub(super) fn generation(&self) -> u64 {
        self.generation
    }

    /// Every decision, in file order.
    pub(super) fn decisions(&self) -> &[RoutingDecision] {
        &self.doc.decisions
    }

    /// Appends `new` under the file's lock, onto someone else's version if the file
    /// changed, numbering them after the highest `submission_seq` so far. `before_write`
    /// runs after the merge and before the write, with the decisions about to be recorded
    /// (to emit and flush their events first); if it fails, nothing is written.
    pub(super) fn commit(
        &mut self,
        new: Vec<RoutingDecision>,
        lock_timeout: Duration,
        run_id: &str,
        events: &EventLog,
        before_write: impl FnOnce(&[RoutingDecision]) -> Result<()>,
    ) -> Result<Commit> {
        let mut locked = match self.file.lock(LockWait::AtMost(lock_timeout), events) {
            Ok(locked) => locked,
            // Reported by the handle; the file is left as the person wrote it.
            Err(e) if e.is_content_error() => return Ok(Commit::Invalid),
            Err(e) => return Err(e),
        };
        if let Some(theirs) = locked.take_external() {
            adopt_into(&mut self.doc, &mut self.by_id, &mut self.max_seq, theirs);
            self.generation += 1;
        }
        let old_len = self.doc.decisions.len();
        let old_max = self.max_seq;
        let mut recorded = Vec::with_capacity(new.len());
        crate::model::reserve_gently(&mut self.doc.decisions, new.len());
        for mut decision in new {
            if self.by_id.contains_key(&decision.task_id) {
                continue;
            }
            self.max_seq += 1;
            decision.submission_seq = self.max_seq;
            self.by_id
                .insert(decision.task_id.clone(), self.doc.decisions.len());
            recorded.push(decision.task_id.clone());
            self.doc.decisions.push(decision);
        }
        let written = before_write(&self.doc.decisions[old_len..])
            .and_then(|()| locked.commit(&mut self.doc, run_id));
        if let Err(e) = written {
            // Forget what did not reach the file.
            for d in self.doc.decisions.drain(old_len..) {
                self.by_id.remove(&d.task_id);
            }
            self.max_seq = old_max;
            return Err(e);
        }
        self.generation += 1;
        Ok(Commit::Done(recorded))
    }

    /// Applies `amendments` under the file's lock, onto someone else's version if the
    /// file changed: each only where the decision still names the tool it was worked out
    /// for (a person's change wins). Returns those applied (`None`: the file is invalid,
    /// nothing was written).
    pub(super) fn amend(
        &mut self,
        amendments: Vec<Amendment>,
        lock_timeout: Duration,
        run_id: &str,
        events: &EventLog,
    ) -> Result<Option<Vec<Amendment>>> {
        let mut locked = match self.file.lock(LockWait::AtMost(lock_timeout), events) {
            Ok(locked) => locked,
            Err(e) if e.is_content_error() => return Ok(None),
            Err(e) => return Err(e),
        };
        if let Some(theirs) = locked.take_external() {
            adopt_into(&mut self.doc, &mut self.by_id, &mut self.max_seq, theirs);
            self.generation += 1;
        }
        // Applied in place, the decisions they change kept to put back if the write fails
        // (a copy of the whole document would be ~100 MB at 100,000 tasks).
        let mut before = Vec::new();
        let applied: Vec<Amendment> = amendments
            .into_iter()
            .filter(|a| {
                let Some(&i) = self.by_id.get(&a.task_id) else {
                    return false;
                };
                let d = &mut self.doc.decisions[i];
                let current = d.selected_tool == a.expect_tool;
                if current {
                    before.push((i, d.clone()));
                    a.apply(d);
                }
                current
            })
            .collect();
        if applied.is_empty() {
            return Ok(Some(applied));
        }
        if let Err(e) = locked.commit(&mut self.doc, run_id) {
            // Put back in reverse, so a decision amended twice gets its first state.
            for (i, d) in before.into_iter().rev() {
                self.doc.decisions[i] = d;
            }
            return Err(e);
        }
        self.generation += 1;
        Ok(Some(applied))
    }

    fn adopt(&mut self, doc: RoutingDecisions) {
        adopt_into(&mut self.doc, &mut self.by_id, &mut self.max_seq, doc);
        self.generation += 1;
    }
}

fn adopt_into(
    doc: &mut RoutingDecisions,
    by_id: &mut HashMap<String, usize>,
    max_seq: &mut u64,
    theirs: RoutingDecisions,
) {
    *doc = theirs;
    by_id.clear();
    for (i, d) in doc.decisions.iter().enumerate() {
        // A hand edit may repeat an id; the first entry is the one that counts.
        by_id.entry(d.task_id.clone()).or_insert(i);
    }
    *max_seq = doc
        .decisions
        .iter()
        .map(|d| d.submission_seq)
        .max()
        .unwrap_or(0);
}
