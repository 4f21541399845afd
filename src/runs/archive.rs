//! `phase archive [--run ID]` and `state.archive_on_completion`: a finished run's settled
//! tasks — their decisions, results, analyses, patches, requests, task files, logs,
//! attempt records and escalation reports — and its rejected files and report move to
//! `archive/<run_id>/`, in the same layout and formats as the live state directory.
//! Afterwards `status`, `--once` and `wait` no longer see them, and their ids are free.
//! `state.retention_days` then removes archives older than that.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use crate::events::EventLog;
use crate::lifecycle::{self, LivePhases, TaskState};
use crate::model::{
    Control, ErrorAnalyses, EventType, ExecutionResults, FixPatches, RoutingDecisions, Runs,
    now_rfc3339,
};
use crate::status::read_facts;
use crate::store::{LockWait, StateDir, StateFile, archive_dir, move_entries, move_path};
use crate::{Error, Result};

/// How long archiving waits for each state file's lock.
const LOCK_WAIT: LockWait = LockWait::AtMost(Duration::from_secs(10));

/// What [`archive`] did.
#[derive(Debug, Clone, Default)]
pub struct Archived {
    /// The run.
    pub run_id: String,
    /// `archive/<run_id>/`.
    pub dir: PathBuf,
    /// The tasks moved.
    pub tasks: Vec<String>,
    /// The rejected files moved.
    pub rejected: Vec<String>,
    /// Runs whose archives `state.retention_days` removed.
    pub pruned: Vec<String>,
}

/// Archives run `run` (default: the latest finished run not archived yet); `writer` is
/// the run id stamped on the files written. Refuses a run that has not ended.
pub fn archive(
    state: &StateDir,
    run: Option<&str>,
    retention_days: u32,
    writer: &str,
    events: &EventLog,
    phase: &str,
) -> Result<Archived> {
    let ledger = super::ledger(state)?;
    let index = pick(&ledger, run)?;
    let record = &ledger.runs[index];
    let Some(until) = record.ended_at.clone() else {
        return Err(Error::Runtime(format!(
            "run {} has not ended (a phase runs it, or it was interrupted: `phase run --once` \
             finishes it)",
            record.run_id
        )));
    };
    // Whatever happened before the first recorded run belongs to it.
    let from = if index == 0 {
        String::new()
    } else {
        record.started_at.clone()
    };
    let facts = read_facts(state)?;
    let snapshot = lifecycle::derive(&facts, LivePhases::detect(state)?);
    let chosen = snapshot.of_run(&lifecycle::last_activity(&facts), &from, Some(&until));
    let mut out = Archived {
        run_id: record.run_id.clone(),
        dir: archive_dir(state, &record.run_id)?,
        ..Archived::default()
    };
    for t in chosen.tasks {
        match t.state {
            TaskState::Rejected | TaskState::Duplicate => out.rejected.push(t.id),
            _ => out.tasks.push(t.id),
        }
    }
    move_records(state, &out, writer)?;
    mark_archived(state, &out, writer)?;
    if retention_days > 0 {
        out.pruned = prune(state, retention_days, writer)?;
    }
    events.emit(
        EventType::RunArchived,
        phase,
        None,
        None,
        json!({
            "run": out.run_id,
            "dir": format!("archive/{}", out.run_id),
            "tasks": out.tasks.len(),
            "rejected": out.rejected.len(),
            "pruned": out.pruned,
        }),
    );
    events.flush()?;
    Ok(out)
}

/// The index of the run to archive.
fn pick(ledger: &Runs, run: Option<&str>) -> Result<usize> {
    match run {
        Some(id) => ledger
            .runs
            .iter()
            .position(|r| r.run_id == id)
            .ok_or_else(|| Error::Usage(format!("no run {id:?} in runs.json"))),
        None => ledger
            .runs
            .iter()
            .rposition(|r| r.ended_at.is_some() && r.archived_at.is_none())
            .ok_or_else(|| Error::Runtime("no finished run left to archive".to_string())),
    }
}

/// Moves the entries first (decisions before results, so no executor sees a task without
/// a result to run again), then the files.
fn move_records(state: &StateDir, out: &Archived, writer: &str) -> Result<()> {
    let ids: HashSet<&str> = out.tasks.iter().map(String::as_str).collect();
    let ours = |id: &str| ids.contains(id);
    let dir = &out.dir;
    // Moves the entries of the array `$field` of state file `$ty` that are ours.
    macro_rules! move_field {
        ($ty:ty, $field:ident) => {
            move_entries::<$ty>(
                state,
                dir,
                writer,
                LOCK_WAIT,
                |live| {
                    let (moved, kept): (Vec<_>, Vec<_>) =
                        live.$field.drain(..).partition(|e| ours(&e.task_id));
                    live.$field = kept;
                    (!moved.is_empty())
                        .then(|| <$ty>::default())
                        .map(|mut doc| {
                            doc.$field = moved;
                            doc
                        })
                },
                |copy, moved| copy.$field.extend(moved.$field),
            )?
        };
    }
    if !ids.is_empty() {
        move_field!(RoutingDecisions, decisions);
        move_field!(ExecutionResults, results);
        move_field!(ErrorAnalyses, analyses);
        move_entries::<FixPatches>(
            state,
            dir,
            writer,
            LOCK_WAIT,
            |live| split_patches(live, &ours),
            |copy, moved| {
                copy.patches.extend(moved.patches);
                copy.retries.extend(moved.retries);
                copy.gates.extend(moved.gates);
            },
        )?;
        move_field!(Control, requests);
    }
    move_files(state, out)
}

/// The patches, retry recommendations and gate verdicts of the tasks `ours` takes.
fn split_patches(live: &mut FixPatches, ours: &dyn Fn(&str) -> bool) -> Option<FixPatches> {
    let (patches, kept) = live.patches.drain(..).partition(|p| ours(&p.task_id));
    live.patches = kept;
    let (retries, kept) = live.retries.drain(..).partition(|r| ours(&r.task_id));
    live.retries = kept;
    let (gates, kept) = live.gates.drain(..).partition(|g| ours(&g.task_id));
    live.gates = kept;
    let moved = FixPatches {
        patches,
        retries,
        gates,
        ..FixPatches::default()
    };
    let any = !(moved.patches.is_empty() && moved.retries.is_empty() && moved.gates.is_empty());
    any.then_some(moved)
}

/// Task files, logs, attempt records, escalation reports, rejected files and the run's
/// report, renamed into the archive.
fn move_files(state: &StateDir, out: &Archived) -> Result<()> {
    let (root, dir) = (state.root(), &out.dir);
    for id in &out.tasks {
        let file = format!("{id}.json");
        move_path(&state.tasks().join(&file), &dir.join("tasks").join(&file))?;
        move_path(&state.task_logs(id), &dir.join("logs").join(id))?;
        move_path(
            &root.join("attempts").join(id),
            &dir.join("attempts").join(id),
        )?;
        let report = format!("{id}.md");
        move_path(
            &state.escalations().join(&report),
            &dir.join("escalations").join(&report),
        )?;
    }
    for name in &out.rejected {
        for file in [name.clone(), format!("{name}.error.json")] {
            move_path(
                &state.rejected().join(&file),
                &dir.join("rejected").join(&file),
            )?;
        }
    }
    let report = format!("{}.md", out.run_id);
    move_path(
        &root.join("reports").join(&report),
        &dir.join("reports").join(&report),
    )?;
    Ok(())
}

/// Records the archiving in `runs.json`.
fn mark_archived(state: &StateDir, out: &Archived, writer: &str) -> Result<()> {
    update_ledger(state, writer, |ledger| {
        if let Some(run) = ledger.get_mut(&out.run_id) {
            run.archived_at = Some(now_rfc3339());
            run.archived.extend(out.tasks.iter().cloned());
            run.archived.extend(out.rejected.iter().cloned());
        }
    })
}

/// Removes the archives of runs archived more than `days` days ago; returns their ids.
fn prune(state: &StateDir, days: u32, writer: &str) -> Result<Vec<String>> {
    let cutoff = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(24 * i64::from(days)))
        .map_err(|e| Error::Runtime(format!("state.retention_days: {e}")))?
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let ledger = super::ledger(state)?;
    let old: Vec<String> = ledger
        .runs
        .iter()
        .filter(|r| r.pruned_at.is_none())
        .filter(|r| {
            r.archived_at
                .as_deref()
                .is_some_and(|at| at < cutoff.as_str())
        })
        .map(|r| r.run_id.clone())
        .collect();
    for id in &old {
        crate::store::remove_archive(state, id)?;
    }
    if !old.is_empty() {
        update_ledger(state, writer, |ledger| {
            for id in &old {
                if let Some(run) = ledger.get_mut(id) {
                    run.pruned_at = Some(now_rfc3339());
                }
            }
        })?;
    }
    Ok(old)
}

fn update_ledger(state: &StateDir, writer: &str, change: impl FnOnce(&mut Runs)) -> Result<()> {
    let mut file = StateFile::<Runs>::new(state);
    let mut locked = file.lock(LOCK_WAIT)?;
    let mut doc = match locked.take_external() {
        Some(doc) => doc,
        None => StateFile::<Runs>::new(state).read()?,
    };
    change(&mut doc);
    locked.commit(&mut doc, writer)
}
