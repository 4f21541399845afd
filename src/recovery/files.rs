//! The state files recovery reads and writes, each with the last valid version this
//! process saw, and merge-on-commit for the files people also write.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::events::EventLog;
use crate::model::{
    ErrorAnalyses, EventType, ExecutionResults, FixPatches, RoutingDecisions, StateDoc, Status,
};
use crate::store::{LockWait, StateDir, StateFile};
use crate::{Error, Result};

/// One state file and its last valid content.
#[derive(Debug)]
pub struct Tracked<T: StateDoc> {
    file: StateFile<T>,
    doc: T,
}

impl<T: StateDoc> Tracked<T> {
    /// A handle on `T::FILE` in `state`; nothing is read yet.
    pub fn new(state: &StateDir) -> Self {
        Tracked {
            file: StateFile::new(state),
            doc: T::default(),
        }
    }

    /// Re-reads the file if it changed (a `stat` when it did not); `true` when the content
    /// is new. On error the last valid content stays, and the caller must not act on it as
    /// if it were current.
    pub fn refresh(&mut self) -> Result<bool> {
        match self.file.read_if_changed()? {
            Some(doc) => {
                self.doc = doc;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The last valid content.
    pub fn doc(&self) -> &T {
        &self.doc
    }

    /// Applies `change` to the current file under its lock and writes it. When someone
    /// else changed the file since this process last saw it, `change` is applied to
    /// *their* version: only this writer's own changes are re-applied, nothing of theirs
    /// is dropped. An invalid file is an error and is left alone.
    pub fn commit(
        &mut self,
        lock_wait: Duration,
        run_id: &str,
        change: impl FnOnce(&mut T),
    ) -> Result<()> {
        let Some(mut locked) = self.file.lock(LockWait::AtMost(lock_wait))? else {
            return Err(Error::invalid(self.file.path(), "lock not taken"));
        };
        let mut doc = match locked.take_external() {
            Some(theirs) => theirs,
            None => self.doc.clone(),
        };
        change(&mut doc);
        locked.commit(&mut doc, run_id)?;
        self.doc = doc;
        Ok(())
    }
}

/// What recovery owns, shared by the phase and its worker under one mutex.
#[derive(Debug)]
pub struct Owned {
    /// `error_analysis.json`.
    pub analyses: Tracked<ErrorAnalyses>,
    /// `fix_patches.json`.
    pub patches: Tracked<FixPatches>,
}

impl Owned {
    /// Handles on both files.
    pub fn new(state: &StateDir) -> Owned {
        Owned {
            analyses: Tracked::new(state),
            patches: Tracked::new(state),
        }
    }

    /// Refreshes both; the first error wins.
    pub fn refresh(&mut self) -> Result<()> {
        let a = self.analyses.refresh();
        let p = self.patches.refresh();
        a.and(p).map(drop)
    }
}

/// Re-reading an input may take this share of the time at most: after a read that took
/// `d`, the next waits `(PACE - 1) × d`. Reading a 10,000-task results file takes ~0.1 s,
/// and the executor rewrites it every `flush_interval_ms`; recovery only needs the
/// failures, so it must not spend a core re-reading successes. Small files take well
/// under a millisecond, so this adds no noticeable latency to them.
const PACE: u32 = 10;
/// The longest pause between two reads of an input.
const MAX_PAUSE: Duration = Duration::from_secs(2);

/// An input file, re-read at a bounded cost.
#[derive(Debug)]
pub struct Paced<T: StateDoc> {
    tracked: Tracked<T>,
    not_before: Option<Instant>,
    valid: bool,
    prune: fn(&mut T),
}

impl<T: StateDoc> Paced<T> {
    /// A handle on `T::FILE` in `state`.
    pub fn new(state: &StateDir) -> Self {
        Paced {
            tracked: Tracked::new(state),
            not_before: None,
            valid: true,
            prune: |_| {},
        }
    }

    /// Like [`new`](Self::new), keeping of each new version only what `prune` leaves.
    pub fn pruned(state: &StateDir, prune: fn(&mut T)) -> Self {
        Paced {
            prune,
            ..Paced::new(state)
        }
    }

    /// The last valid content.
    pub fn doc(&self) -> &T {
        self.tracked.doc()
    }

    /// Re-reads the file unless the last read was too recent: then `Err(when)` says when
    /// it may be read again. `Ok(outcome)` is the read's outcome (`true`: new content).
    pub fn refresh(&mut self, now: Instant) -> std::result::Result<Result<bool>, Instant> {
        if let Some(t) = self.not_before.filter(|t| *t > now) {
            return Err(t);
        }
        let started = Instant::now();
        let outcome = self.tracked.refresh();
        if matches!(outcome, Ok(true)) {
            (self.prune)(&mut self.tracked.doc);
        }
        let spent = started.elapsed();
        self.not_before = Some(Instant::now() + (spent * (PACE - 1)).min(MAX_PAUSE));
        Ok(outcome)
    }

    /// Drops the content to save memory; the next [`refresh`](Self::refresh) reads again.
    pub fn unload(&mut self) {
        self.tracked.doc = T::default();
        self.tracked.file.forget();
        self.not_before = None;
    }

    /// Whether the last read was valid.
    pub fn is_valid(&self) -> bool {
        self.valid
    }

    /// Records whether the last read may be acted on.
    pub fn set_valid(&mut self, valid: bool) {
        self.valid = valid;
    }
}

/// What recovery reads from the other phases (phase thread only).
#[derive(Debug)]
pub struct Inputs {
    /// `routing_decisions.json`: the task specs.
    pub decisions: Paced<RoutingDecisions>,
    /// `execution_results.json`: the attempts.
    pub results: Paced<ExecutionResults>,
}

impl Inputs {
    /// Handles on both files.
    pub fn new(state: &StateDir) -> Inputs {
        Inputs {
            decisions: Paced::new(state),
            // Recovery acts on failures only; a run of 10,000 successes need not stay in
            // memory a second time (the executor holds them).
            results: Paced::pruned(state, |doc| {
                doc.results.retain(|r| r.status != Status::Succeeded);
                doc.results.shrink_to_fit();
            }),
        }
    }
}

/// Reports each broken state file once per distinct error (so once per distinct
/// content), and its recovery when it reads valid again.
#[derive(Debug, Default)]
pub struct Breakage {
    reported: HashMap<&'static str, String>,
}

impl Breakage {
    /// Notes the outcome of reading `file`; `true` when it may be acted on.
    pub fn check<T>(&mut self, file: &'static str, outcome: Result<T>, events: &EventLog) -> bool {
        match outcome {
            Ok(_) => {
                if self.reported.remove(file).is_some() {
                    tracing::info!(file, "state file is valid again");
                    events.emit(
                        EventType::StateFileRecovered,
                        super::PHASE,
                        None,
                        None,
                        json!({ "file": file }),
                    );
                }
                true
            }
            Err(e) if e.is_content_error() => {
                let message = e.to_string();
                if self.reported.get(file) != Some(&message) {
                    tracing::error!(
                        file,
                        "{message}; recovery skips the work that needs it until it is fixed"
                    );
                    events.emit(
                        EventType::StateFileInvalid,
                        super::PHASE,
                        None,
                        None,
                        json!({ "file": file, "error": message }),
                    );
                    self.reported.insert(file, message);
                }
                false
            }
            Err(e) => {
                tracing::warn!(file, "{e}");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Patch, RetryRecommendation};

    #[test]
    fn commit_reapplies_own_change_on_top_of_someone_elses_edit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::new(dir.path());
        let mut mine = Tracked::<FixPatches>::new(&state);
        mine.refresh().expect("read");
        let wait = Duration::from_secs(5);
        mine.commit(wait, "r", |doc| {
            doc.retries.push(RetryRecommendation {
                task_id: "a".into(),
                attempt: 1,
                ..RetryRecommendation::default()
            })
        })
        .expect("commit");
        // A person edits the file after recovery last saw it.
        let mut theirs = StateFile::<FixPatches>::new(&state);
        let mut doc = theirs.read().expect("read");
        doc.patches.push(Patch {
            patch_id: "hand".into(),
            task_id: "a".into(),
            file: "f".into(),
            ..Patch::default()
        });
        let locked = theirs
            .lock(LockWait::Forever)
            .expect("lock")
            .expect("locked");
        locked.commit(&mut doc, "person").expect("their commit");
        // Recovery commits without refreshing first: their patch must survive.
        mine.commit(wait, "r", |doc| {
            doc.retries.push(RetryRecommendation {
                task_id: "b".into(),
                attempt: 1,
                ..RetryRecommendation::default()
            })
        })
        .expect("commit");
        let after = StateFile::<FixPatches>::new(&state).read().expect("read");
        assert_eq!(after.patches.len(), 1, "their patch kept");
        assert_eq!(after.retries.len(), 2, "both of mine");
        assert_eq!(mine.doc(), &after);
    }
}
