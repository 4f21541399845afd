//! Keeping fixes apart: from each other, from running attempts, and from failures not yet
//! analysed (docs/RECOVERY.md, "Scope").
//!
//! - Every step that reads or writes a task's files (BASELINE's detectors, a fix step, a
//!   person's patch) holds `locks/recovery-fixes.lock`, so fixes of two recovery processes
//!   never interleave. One process runs one job at a time anyway.
//! - A fix step waits (its job is put back and tried again) while another task's attempt
//!   that may change files in the step's scope is running, or has failed and is not
//!   analysed yet: that task's BASELINE must see the tree as its failure left it. After
//!   `recovery.fix_timeout_seconds` of waiting it goes ahead, and says so.
//! - While a fix step runs, it is recorded in `fixes_in_progress.json` (task, scope,
//!   start) through the store: the executor holds back a new attempt of any other task
//!   whose files overlap it until the record is gone (the other direction of the rule
//!   above). Once recorded, a step that finds such an attempt started after all (it was
//!   launched before the executor saw the record) withdraws and waits for it.
//! - A change outside the step's scope that an attempt running meanwhile may have made (a
//!   file in its area) is left to that attempt, and noted; any other one is the step's.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::Engine;
use super::index::TaskIndex;
use super::runner::Abort;
use super::scope::Area;
use crate::model::{ExecutionResults, Status, now_rfc3339};
use crate::store::{Claim, FixInProgress, LockGuard, StateDir, Unreported, WatchedDoc};

/// The lock every file-touching recovery step holds.
const FIX_LOCK: &str = "recovery-fixes";

/// The held fix lock.
#[derive(Debug)]
pub(super) struct FixLock {
    _guard: LockGuard,
}

impl FixLock {
    /// Takes the lock, or `Abort::Busy` when another recovery process holds it.
    pub(super) fn take(state: &StateDir) -> Result<FixLock, Abort> {
        match LockGuard::try_acquire(&state.lock_path(FIX_LOCK))? {
            Some(guard) => Ok(FixLock { _guard: guard }),
            None => Err(Abort::Busy(
                "another recovery process is running a fix".to_string(),
            )),
        }
    }
}

/// A fix step's record in `fixes_in_progress.json`, removed when dropped (the step's
/// changes are recorded by then, or it failed: either way it no longer changes files).
#[derive(Debug)]
pub(super) struct FixRecord<'a> {
    state: &'a StateDir,
    task: String,
}

impl<'a> FixRecord<'a> {
    /// Records the fix step of `me` over `scope` (the claim the worker holds on the task
    /// keeps it live). Unless the step already went ahead past its wait (`went_ahead`),
    /// another task whose area overlaps `scope` and whose attempt holds its claim now (it
    /// started before the executor saw the record) makes the step withdraw and wait.
    pub(super) fn begin(
        shared: &'a Engine,
        me: (&str, u32),
        step: &str,
        scope: &Area,
        others: &Neighbours<'_>,
        went_ahead: bool,
    ) -> Result<FixRecord<'a>, Abort> {
        let fix = FixInProgress {
            task_id: me.0.to_string(),
            attempt: me.1,
            step: step.to_string(),
            paths: scope.roots().to_vec(),
            started_at: now_rfc3339(),
            claim: super::worker::recovery_claim(me.0),
        };
        crate::store::begin_fix(&shared.state, &fix)?;
        let record = FixRecord {
            state: &shared.state,
            task: fix.task_id,
        };
        if went_ahead {
            return Ok(record);
        }
        let started = others
            .index
            .overlapping(scope)
            .into_iter()
            .find(|id| id != me.0 && Claim::is_held(&shared.state, id).unwrap_or(false));
        match started {
            // Dropping the record removes it: the executor may start attempts again.
            Some(id) => Err(Abort::Busy(format!(
                "task {id} started and may change the same files"
            ))),
            None => Ok(record),
        }
    }
}

impl Drop for FixRecord<'_> {
    fn drop(&mut self) {
        if let Err(e) = crate::store::end_fix(self.state, &self.task) {
            // Harmless but slow: the record holds tasks back until the job's claim is
            // released, which ends it (see `store::live_fixes`).
            tracing::warn!(task = %self.task, "recovery: {e}");
        }
    }
}

/// The other tasks, as a step sees them: their areas (from the routing decisions) and
/// their attempts (the worker's view of the results, re-read when asked).
#[derive(Debug)]
pub(super) struct Neighbours<'a> {
    /// Areas and dependencies of every routed task.
    pub index: &'a TaskIndex,
    /// The executor's results.
    pub results: &'a mut WatchedDoc<ExecutionResults>,
}

/// When a step started, and which other tasks were running then.
#[derive(Debug, Clone)]
pub(super) struct Window {
    since: String,
    running: HashSet<String>,
}

impl Neighbours<'_> {
    fn fresh(&mut self) -> Result<&ExecutionResults, Abort> {
        // The phase thread reports a broken results file; this second view stays quiet.
        Ok(self.results.current(&Unreported)?)
    }

    /// Whether a fix step of `me` over `scope` must wait, and why. A task's wait is
    /// counted from the first time it was told to; past `recovery.fix_timeout_seconds`
    /// the step goes ahead with a note (`Ok(Some)`), before that it waits (`Abort::Busy`).
    pub(super) fn wait_for_others(
        &mut self,
        shared: &Engine,
        me: (&str, u32),
        scope: &Area,
    ) -> Result<Option<String>, Abort> {
        let analysed: HashSet<(String, u32)> = {
            let files = shared.files();
            let mut done: HashSet<(String, u32)> = files
                .analyses
                .doc()
                .analyses
                .iter()
                .map(|a| (a.task_id.clone(), a.attempt))
                .collect();
            done.extend(
                files
                    .patches
                    .doc()
                    .retries
                    .iter()
                    .map(|r| (r.task_id.clone(), r.attempt)),
            );
            done
        };
        let index = self.index;
        let state = &shared.state;
        let results = self.fresh()?;
        let blocker = results
            .results
            .iter()
            .filter(|r| r.task_id != me.0)
            .filter(|r| index.area(&r.task_id).is_some_and(|a| a.overlaps(scope)))
            .find_map(|r| {
                // `running` with nobody holding its claim: its executor died, nothing runs.
                let runs = || Claim::is_held(state, &r.task_id).unwrap_or(true);
                if r.status == Status::Running && runs() {
                    Some(format!("task {} is running", r.task_id))
                } else if r.status.is_failure()
                    && r.attempt > 0
                    && !analysed.contains(&(r.task_id.clone(), r.attempt))
                {
                    Some(format!("task {} failed and is not analysed yet", r.task_id))
                } else {
                    None
                }
            });
        let mut waiting = shared.waiting();
        let key = (me.0.to_string(), me.1);
        let Some(why) = blocker else {
            waiting.remove(&key);
            return Ok(None);
        };
        let since = *waiting.entry(key.clone()).or_insert_with(Instant::now);
        let limit = Duration::from_secs(shared.config.recovery.fix_timeout_seconds);
        if since.elapsed() < limit {
            return Err(Abort::Busy(format!("{why}, and may change the same files")));
        }
        waiting.remove(&key);
        Ok(Some(format!(
            "went ahead after waiting {} s although {why}",
            limit.as_secs()
        )))
    }

    /// Opens a step's window.
    pub(super) fn window(&mut self, me: &str) -> Result<Window, Abort> {
        let since = now_rfc3339();
        let running = self
            .fresh()?
            .results
            .iter()
            .filter(|r| r.task_id != me && r.status == Status::Running)
            .map(|r| r.task_id.clone())
            .collect();
        Ok(Window { since, running })
    }

    /// The areas of other tasks whose attempts ran during `window`: running at its start
    /// or now, or started or finished since it opened.
    pub(super) fn ran_meanwhile(
        &mut self,
        window: &Window,
        me: &str,
    ) -> Result<Vec<(String, Area)>, Abort> {
        let index = self.index;
        let since = window.since.as_str();
        let found: HashMap<String, Area> = self
            .fresh()?
            .results
            .iter()
            .filter(|r| r.task_id != me)
            .filter(|r| {
                window.running.contains(&r.task_id)
                    || r.status == Status::Running
                    || r.started_at.as_str() >= since
                    || r.finished_at.as_deref().is_some_and(|f| f >= since)
            })
            .filter_map(|r| Some((r.task_id.clone(), index.area(&r.task_id)?.clone())))
            .collect();
        let mut out: Vec<(String, Area)> = found.into_iter().collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}
