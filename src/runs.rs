//! Runs: what `phase run` processes do together on one state directory, recorded in
//! `runs.json` (DESIGN.md §2). The first process to start opens a run; processes that
//! start while it is open join it (its `run_id` stamps all their events and files); the
//! last one to stop ends it. A run whose processes all died (a crash) stays open, and the
//! next `phase run` continues it: its failures are still the current run's.
//!
//! Which tasks a run judges is the lifecycle's rule ([`Snapshot::of_run`]); this module
//! keeps the ledger, and [`archive`] moves a finished run's records away.

pub mod archive;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::config::StateConfig;
use crate::events::EventLog;
use crate::lifecycle::LivePhases;
use crate::model::{RunRecord, Runs, now_rfc3339};
use crate::status::{Snapshot, read_facts};
use crate::store::{LockWait, StateDir, StateFile};
use crate::{Result, lifecycle};

/// How long a command waits for `runs.json`'s lock.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// This process's part in a run.
#[derive(Debug, Clone)]
pub struct Session {
    /// The run's id: on every event and file this process writes.
    pub run_id: String,
    /// When the run started (its first process).
    pub started_at: String,
    /// The run was open already (another process runs it, or it was interrupted).
    pub joined: bool,
}

/// Opens a run, or joins the open one (`runs.json`, under its lock). While `runs.json`
/// is invalid (a broken hand edit), the run is not recorded: it gets an id of its own,
/// the problem is logged, and everything else carries on.
pub fn open(state: &StateDir) -> Result<Session> {
    match open_recorded(state) {
        Err(e) if e.is_content_error() => {
            tracing::warn!("{e}; this run is not recorded in it");
            Ok(Session {
                run_id: uuid::Uuid::now_v7().to_string(),
                started_at: now_rfc3339(),
                joined: false,
            })
        }
        other => other,
    }
}

fn open_recorded(state: &StateDir) -> Result<Session> {
    let mut file = StateFile::<Runs>::new(state);
    let mut locked = file.lock(LockWait::AtMost(LOCK_WAIT))?;
    let mut doc = match locked.take_external() {
        Some(doc) => doc,
        None => StateFile::<Runs>::new(state).read()?,
    };
    if let Some(open) = doc.runs.last().filter(|r| r.ended_at.is_none()) {
        return Ok(Session {
            run_id: open.run_id.clone(),
            started_at: open.started_at.clone(),
            joined: true,
        });
    }
    let session = Session {
        run_id: uuid::Uuid::now_v7().to_string(),
        started_at: now_rfc3339(),
        joined: false,
    };
    doc.runs.push(RunRecord {
        run_id: session.run_id.clone(),
        started_at: session.started_at.clone(),
        ..RunRecord::default()
    });
    locked.commit(&mut doc, &session.run_id)?;
    Ok(session)
}

/// Ends the run if no phase of any process runs any more (call after this process's
/// phases unregistered). Returns whether it ended; not while `runs.json` is invalid.
pub fn close(state: &StateDir, session: &Session) -> Result<bool> {
    match close_recorded(state, session) {
        Err(e) if e.is_content_error() => {
            tracing::warn!(
                "{e}; the end of run {} is not recorded in it",
                session.run_id
            );
            Ok(false)
        }
        other => other,
    }
}

fn close_recorded(state: &StateDir, session: &Session) -> Result<bool> {
    let mut file = StateFile::<Runs>::new(state);
    let mut locked = file.lock(LockWait::AtMost(LOCK_WAIT))?;
    if LivePhases::detect(state)?.any() {
        return Ok(false);
    }
    let mut doc = match locked.take_external() {
        Some(doc) => doc,
        None => StateFile::<Runs>::new(state).read()?,
    };
    let Some(run) = doc.get_mut(&session.run_id) else {
        return Ok(false);
    };
    run.ended_at = Some(now_rfc3339());
    locked.commit(&mut doc, &session.run_id)?;
    Ok(true)
}

/// The end of this process's part in the run: ends the run if no phase runs any more,
/// and then, with `state.archive_on_completion`, archives it if every one of its tasks
/// succeeded (a run with failures stays for a person to look at).
pub fn end(
    state: &StateDir,
    session: &Session,
    settings: &StateConfig,
    events: &EventLog,
) -> Result<()> {
    if !close(state, session)? || !settings.archive_on_completion {
        return Ok(());
    }
    let run = judged(state, LivePhases::detect(state)?, false)?;
    let done = run.tasks.iter().all(lifecycle::is_settled);
    if !done || !run.all_succeeded() {
        tracing::info!(
            run = %session.run_id,
            "not archived: not every task of the run succeeded (`phase archive` archives it anyway)"
        );
        return Ok(());
    }
    let archived = archive::archive(
        state,
        Some(&session.run_id),
        settings.retention_days,
        &session.run_id,
        events,
        "coordinator",
    )?;
    tracing::info!(
        run = %archived.run_id,
        "archived {} tasks to {}",
        archived.tasks.len(),
        archived.dir.display()
    );
    Ok(())
}

/// The ledger (empty when there is none).
pub fn ledger(state: &StateDir) -> Result<Runs> {
    StateFile::<Runs>::new(state).read()
}

/// Every task's state and, unless `all`, only the current run's tasks (all tasks when no
/// run was ever recorded): what `phase wait` judges.
pub fn judged(state: &StateDir, live: LivePhases, all: bool) -> Result<Snapshot> {
    let facts = read_facts(state)?;
    let snapshot = lifecycle::derive(&facts, live);
    if all {
        return Ok(snapshot);
    }
    let ledger = match ledger(state) {
        Ok(ledger) => ledger,
        // No run can be told apart while the ledger is broken: every task is judged.
        Err(e) if e.is_content_error() => {
            tracing::warn!("{e}; judging every task");
            return Ok(snapshot);
        }
        Err(e) => return Err(e),
    };
    match ledger.current() {
        Some(run) => Ok(snapshot.of_run(&lifecycle::last_activity(&facts), &run.started_at, None)),
        None => Ok(snapshot),
    }
}

/// The tasks still moving now (not ended, or with a request waiting): taken as a process
/// joins a run, they are the run's whatever happens to them — a retry request carried
/// out on a task that stays `dep_failed` leaves no time in the files. Empty when the
/// files cannot be read now (the phases report why).
pub fn moving(state: &StateDir) -> HashSet<String> {
    let live = LivePhases::detect(state).unwrap_or_default();
    match crate::status::snapshot(state, live) {
        Ok(s) => s
            .tasks
            .into_iter()
            .filter(|t| !lifecycle::is_settled(t))
            .map(|t| t.id)
            .collect(),
        Err(_) => HashSet::new(),
    }
}

/// The tasks of the run that started at `started_at`, from the final snapshot of
/// `--once` (which holds every task): re-reads the files for when each was last active;
/// the tasks in `moving` ([`moving`] at this process's start) count as active then.
pub fn of_run(
    state: &StateDir,
    snapshot: &Snapshot,
    started_at: &str,
    moving: &HashSet<String>,
) -> Result<Snapshot> {
    let mut activity: HashMap<String, String> = lifecycle::last_activity(&read_facts(state)?);
    for id in moving {
        activity.insert(id.clone(), started_at.to_string());
    }
    Ok(snapshot.of_run(&activity, started_at, None))
}
