//! `phase plan close PLAN`: once every task of a plan has succeeded, ticks the plan's open
//! checkboxes and appends a completion section — only on this command, only while the
//! file still has the bytes it had at its last import, and atomically (temp file, fsync,
//! rename). The record in `plans.json` then holds the new bytes' fingerprint.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::json;

use super::items::sha256;
use super::parse::parse_plan;
use crate::events::EventLog;
use crate::lifecycle::{LivePhases, TaskState};
use crate::model::{EventType, PlanRecord, Plans, now_rfc3339};
use crate::store::{StateDir, read_view, write_atomic};
use crate::{Error, Result};

/// What [`close`] did.
#[derive(Debug, Clone)]
pub struct Closed {
    /// The plan file.
    pub path: String,
    /// Checkboxes ticked.
    pub ticked: usize,
    /// Tasks of the plan.
    pub tasks: usize,
}

/// The record of the plan called (or at) `plan`.
pub fn find<'a>(state: &StateDir, plans: &'a Plans, plan: &str) -> Result<&'a PlanRecord> {
    let by_name = super::import::plan_name(Path::new(plan));
    let by_path = super::import::plan_path(state, Path::new(plan));
    plans
        .plans
        .iter()
        .find(|p| p.name == plan || p.path == plan || p.path == by_path)
        .or_else(|| plans.get(&by_name))
        .ok_or_else(|| {
            Error::Usage(format!(
                "no imported plan {plan:?} (import it first: `phase plan import FILE`)"
            ))
        })
}

/// Closes plan `plan` (its name or path) in `plans` (the caller writes it, under its lock).
pub fn close(state: &StateDir, plans: &mut Plans, plan: &str, events: &EventLog) -> Result<Closed> {
    let record = find(state, plans, plan)?.clone();
    // Named relative to the project root in the files; messages use that name.
    let file = state.project_root().join(&record.path);
    let path = Path::new(&record.path);
    let bytes = std::fs::read(&file).map_err(|e| Error::io(path, "read", e))?;
    if sha256(&bytes) != record.fingerprint {
        return Err(Error::invalid(
            path,
            format!(
                "changed since it was imported ({}); nothing written (import it again with \
                 `phase plan import {}`, then close it)",
                record.imported_at, record.path
            ),
        ));
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let outcomes = outcomes(state)?;
    let present: Vec<_> = record.items.iter().filter(|i| i.line.is_some()).collect();
    let open: Vec<String> = present
        .iter()
        .filter(|i| !i.checked)
        .filter(|i| outcomes.get(&i.task_id).map(|o| o.state.as_str()) != Some("succeeded"))
        .map(|i| {
            let state = outcomes
                .get(&i.task_id)
                .map_or("not found", |o| o.state.as_str());
            format!("{} ({state})", i.task_id)
        })
        .collect();
    if !open.is_empty() {
        return Err(Error::Runtime(format!(
            "{}: not every task of the plan has succeeded: {}; nothing written",
            record.path,
            open.join(", ")
        )));
    }
    let items = parse_plan(&text).map_err(|e| Error::invalid(path, e))?;
    let mut edited = text.clone();
    // From the end, so earlier ranges stay where they are.
    let mut markers: Vec<_> = items
        .iter()
        .filter(|i| i.checked == Some(false))
        .filter_map(|i| i.marker.clone())
        .collect();
    markers.sort_by_key(|r| std::cmp::Reverse(r.start));
    for range in &markers {
        edited.replace_range(range.clone(), "[x]");
    }
    let now = now_rfc3339();
    edited.push_str(&completion_section(&record, &outcomes, &now));
    // Checked again right before the rename: an editor's save in between wins.
    let current = std::fs::read(&file).map_err(|e| Error::io(path, "read", e))?;
    if current != bytes {
        return Err(Error::invalid(
            path,
            "changed while it was being closed; nothing written",
        ));
    }
    write_atomic(&file, edited.as_bytes())?;
    if let Some(r) = plans.plans.iter_mut().find(|p| p.name == record.name) {
        r.fingerprint = sha256(edited.as_bytes());
        r.closed_at = Some(now);
        for item in r.items.iter_mut().filter(|i| i.line.is_some()) {
            item.checked = true;
        }
    }
    events.emit(
        EventType::PlanClosed,
        "cli",
        None,
        None,
        json!({"plan": record.path, "tasks": present.len(), "ticked": markers.len()}),
    );
    Ok(Closed {
        path: record.path,
        ticked: markers.len(),
        tasks: present.len(),
    })
}

/// The section appended to a closed plan: every item, its task and how it ended.
fn completion_section(
    record: &PlanRecord,
    outcomes: &HashMap<String, Outcome>,
    now: &str,
) -> String {
    let items: Vec<_> = record.items.iter().filter(|i| i.line.is_some()).collect();
    let mut s = format!(
        "\n## Completed\n\nClosed by `phase plan close` at {now}: every task of the plan \
         succeeded ({} items).\n\n| item | task | attempts | finished |\n|---|---|---|---|\n",
        items.len()
    );
    for i in items {
        let (attempts, finished) = match (i.checked, outcomes.get(&i.task_id)) {
            (true, _) => ("-".to_string(), "ticked in the plan".to_string()),
            (false, Some(o)) => (o.attempt.to_string(), o.finished_at.clone()),
            (false, None) => ("-".to_string(), String::new()),
        };
        s.push_str(&format!(
            "| {} | `{}` | {attempts} | {finished} |\n",
            i.item, i.task_id
        ));
    }
    s
}

/// How a task ended, from the live files or a run's archive.
#[derive(Debug, Clone)]
struct Outcome {
    state: String,
    attempt: u32,
    finished_at: String,
}

#[derive(Debug, Default, Deserialize)]
struct ResultsView {
    #[serde(default)]
    results: Vec<ResultView>,
}

#[derive(Debug, Deserialize)]
struct ResultView {
    task_id: String,
    status: String,
    #[serde(default)]
    attempt: u32,
    #[serde(default)]
    finished_at: Option<String>,
}

/// Every task's outcome: archived runs first, the live state over them.
fn outcomes(state: &StateDir) -> Result<HashMap<String, Outcome>> {
    let mut out = HashMap::new();
    let mut note = |results: ResultsView, live: Option<&HashMap<String, TaskState>>| {
        for r in results.results {
            let state = live
                .and_then(|l| l.get(&r.task_id))
                .map_or(r.status.clone(), |s| s.as_str().to_string());
            out.insert(
                r.task_id,
                Outcome {
                    state,
                    attempt: r.attempt,
                    finished_at: r.finished_at.unwrap_or_default(),
                },
            );
        }
    };
    for run in crate::runs::ledger(state)?.runs {
        if run.archived_at.is_some() && run.pruned_at.is_none() {
            let file = crate::store::archive_root(state)
                .join(&run.run_id)
                .join("execution_results.json");
            note(read_view(&file)?, None);
        }
    }
    let live = crate::status::snapshot(state, LivePhases::detect(state)?)?;
    let states: HashMap<String, TaskState> =
        live.tasks.iter().map(|t| (t.id.clone(), t.state)).collect();
    note(
        read_view(&state.file("execution_results.json"))?,
        Some(&states),
    );
    Ok(out)
}
