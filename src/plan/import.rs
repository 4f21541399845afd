//! `phase plan import`: decides for each item of a plan whether it is new, already known
//! (its fingerprint was imported before, from this or another plan, or in this very
//! plan), or ticked in the plan (done); then submits the new ones through the same path
//! as `phase submit`, records the plan in `plans.json` and logs TASK_DISCOVERED,
//! TASK_SUBMITTED and TASK_DUPLICATE_SKIPPED.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::items::{Draft, drafts, sha256, slug};
use super::parse::parse_plan;
use crate::events::EventLog;
use crate::model::{EventType, PlanItemRecord, PlanLink, PlanRecord, Plans, TaskSpec, now_rfc3339};
use crate::store::{Existing, Published, StateDir, Submission};
use crate::{Error, Result};

/// What happens to one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A new task, submitted as the spec.
    New,
    /// Its content is known: the task with this id does it.
    Known(String),
    /// Its checkbox is ticked: done, nothing to submit.
    Checked,
}

/// One item and what happens to it.
#[derive(Debug, Clone)]
pub struct Decided {
    /// The draft.
    pub draft: Draft,
    /// The task that does it (the new one, or the known one).
    pub task_id: String,
    /// What happens.
    pub verdict: Verdict,
    /// The task file to submit, for a new item.
    pub spec: Option<TaskSpec>,
}

/// A plan read and decided, nothing written yet.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The plan's name (its file stem as an id).
    pub name: String,
    /// The plan file, as given.
    pub path: PathBuf,
    /// The plan file as the files name it: relative to the project root ([`plan_path`]).
    pub recorded: String,
    /// `sha256:<hex>` of the file's bytes.
    pub fingerprint: String,
    /// Every item, in plan order.
    pub items: Vec<Decided>,
}

/// How the files name the plan at `path`: relative to the project root when it lies
/// inside it (so `phase plan close` finds it from anywhere), else absolute.
pub fn plan_path(state: &StateDir, path: &Path) -> String {
    let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let root = state.project_root();
    let root = std::fs::canonicalize(&root).unwrap_or(root);
    match absolute.strip_prefix(&root) {
        Ok(relative) => relative.display().to_string(),
        Err(_) => absolute.display().to_string(),
    }
}

/// The name of the plan at `path`: its file stem made an id.
pub fn plan_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    slug(stem, 40, "plan")
}

/// Reads and decides the plan at `path` against what `plans` already knows and what the
/// state directory holds.
pub fn prepare(state: &StateDir, path: &Path, plans: &Plans) -> Result<Prepared> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, "read", e))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| Error::invalid(path, format!("not UTF-8 text: {e}")))?;
    let name = plan_name(path);
    let shown = plan_path(state, path);
    if let Some(other) = plans.get(&name).filter(|p| p.path != shown) {
        return Err(Error::invalid(
            path,
            format!(
                "a plan named {name:?} was imported from {}; rename one of the files",
                other.path
            ),
        ));
    }
    let items = parse_plan(text).map_err(|e| Error::invalid(path, e))?;
    if items.is_empty() {
        return Err(Error::invalid(
            path,
            "no task items (numbered list items, or checkbox items `- [ ]`)",
        ));
    }
    let drafts = drafts(&name, items).map_err(|e| Error::invalid(path, e))?;
    // Every fingerprint imported so far, from any plan, and the ids they hold.
    let mut known: HashMap<String, String> = HashMap::new();
    let mut taken: HashMap<String, String> = HashMap::new();
    for item in plans.plans.iter().flat_map(|p| &p.items) {
        known
            .entry(item.fingerprint.clone())
            .or_insert(item.task_id.clone());
        taken.insert(item.task_id.clone(), item.fingerprint.clone());
    }
    let mut decided: Vec<Decided> = Vec::with_capacity(drafts.len());
    for d in &drafts {
        let (task_id, verdict) = if d.item.checked == Some(true) {
            let id = known
                .get(&d.fingerprint)
                .cloned()
                .unwrap_or(d.base_id.clone());
            (id, Verdict::Checked)
        } else if let Some(id) = known.get(&d.fingerprint) {
            (id.clone(), Verdict::Known(id.clone()))
        } else {
            // An id held by other content gets the fingerprint as a suffix.
            let id = if taken.contains_key(&d.base_id) {
                format!("{}-{}", d.base_id, &d.fingerprint[7..15])
            } else {
                d.base_id.clone()
            };
            (id, Verdict::New)
        };
        if verdict == Verdict::New {
            known.insert(d.fingerprint.clone(), task_id.clone());
        }
        taken.insert(task_id.clone(), d.fingerprint.clone());
        decided.push(Decided {
            draft: d.clone(),
            task_id,
            verdict,
            spec: None,
        });
    }
    for i in 0..decided.len() {
        if decided[i].verdict != Verdict::New {
            continue;
        }
        let spec = spec_of(&decided, i, &shown);
        let source = PathBuf::from(format!("{shown}:{}", decided[i].draft.item.line));
        let submission = submission(&source, &spec)?;
        decided[i].verdict = match submission.existing(state)? {
            Existing::None => Verdict::New,
            // Submitted before, its record lost (an interrupted import): known.
            Existing::Same(_) => Verdict::Known(decided[i].task_id.clone()),
            Existing::Different(at) => return Err(submission.conflict(&at)),
        };
        decided[i].spec = Some(spec);
    }
    Ok(Prepared {
        name,
        path: path.to_path_buf(),
        recorded: shown,
        fingerprint: sha256(&bytes),
        items: decided,
    })
}

/// The task file of new item `i`.
fn spec_of(decided: &[Decided], i: usize, shown: &str) -> TaskSpec {
    let d = &decided[i].draft;
    let a = &d.item.annotation;
    let mut depends_on: Vec<String> = Vec::new();
    for &j in &d.after_items {
        // A ticked item is done: nothing to wait for.
        if decided[j].verdict != Verdict::Checked && !depends_on.contains(&decided[j].task_id) {
            depends_on.push(decided[j].task_id.clone());
        }
    }
    for id in &d.after_ids {
        if !depends_on.contains(id) {
            depends_on.push(id.clone());
        }
    }
    let description = if d.item.details.is_empty() {
        d.item.title.clone()
    } else {
        format!("{}\n\n{}", d.item.title, d.item.details)
    };
    TaskSpec {
        id: Some(decided[i].task_id.clone()),
        kind: d.kind.clone(),
        description,
        command: a.command.clone(),
        files: a.files.as_slice().into(),
        depends_on: depends_on.into(),
        tool: a.tool.clone(),
        priority: a.priority.unwrap_or(0),
        timeout_seconds: a.timeout,
        workdir: a.workdir.clone(),
        plan: Some(Box::new(PlanLink {
            path: shown.to_string(),
            item: d.key.clone(),
            line: Some(d.item.line),
            fingerprint: d.fingerprint.clone(),
        })),
        ..TaskSpec::default()
    }
}

/// The spec validated as `phase submit` validates a task file.
fn submission(source: &Path, spec: &TaskSpec) -> Result<Submission> {
    let bytes = serde_json::to_vec(spec)
        .map_err(|e| Error::invalid(source, format!("cannot serialise: {e}")))?;
    Submission::from_reader(source, bytes.as_slice())
}

/// Submits the new items, logs what happened to each item, and records the plan in
/// `plans` (the caller writes it, under its lock).
pub fn commit(
    state: &StateDir,
    prepared: &Prepared,
    plans: &mut Plans,
    events: &EventLog,
) -> Result<()> {
    let shown = &prepared.recorded;
    for d in &prepared.items {
        let data = json!({
            "plan": shown,
            "item": d.draft.key,
            "line": d.draft.item.line,
            "fingerprint": d.draft.fingerprint,
        });
        match (&d.verdict, &d.spec) {
            (Verdict::New, Some(spec)) => {
                let source = PathBuf::from(format!("{shown}:{}", d.draft.item.line));
                events.emit(
                    EventType::TaskDiscovered,
                    "cli",
                    Some(&d.task_id),
                    None,
                    data,
                );
                if let Published::New(path) = submission(&source, spec)?.publish(state)? {
                    let file = path.strip_prefix(state.root()).unwrap_or(&path);
                    events.emit(
                        EventType::TaskSubmitted,
                        "cli",
                        Some(&d.task_id),
                        None,
                        json!({"file": file.display().to_string(), "source": source.display().to_string()}),
                    );
                }
            }
            (Verdict::Known(of), _) => {
                let mut data = data;
                data["duplicate_of"] = json!(of);
                events.emit(
                    EventType::TaskDuplicateSkipped,
                    "cli",
                    Some(&d.task_id),
                    None,
                    data,
                );
            }
            _ => {}
        }
    }
    remember(prepared, plans);
    Ok(())
}

/// Puts the plan's items into its record: the current ones in plan order, then those an
/// earlier import had and this one does not (kept, so they are never submitted again).
pub fn remember(prepared: &Prepared, plans: &mut Plans) {
    let now = now_rfc3339();
    let current: Vec<PlanItemRecord> = prepared
        .items
        .iter()
        .map(|d| PlanItemRecord {
            item: d.draft.key.clone(),
            line: Some(d.draft.item.line),
            title: d.draft.item.title.clone(),
            task_id: d.task_id.clone(),
            fingerprint: d.draft.fingerprint.clone(),
            checked: d.verdict == Verdict::Checked,
        })
        .collect();
    let index = match plans.plans.iter().position(|p| p.name == prepared.name) {
        Some(i) => i,
        None => {
            plans.plans.push(PlanRecord {
                name: prepared.name.clone(),
                path: prepared.recorded.clone(),
                ..PlanRecord::default()
            });
            plans.plans.len() - 1
        }
    };
    let plan = &mut plans.plans[index];
    let gone: Vec<PlanItemRecord> = plan
        .items
        .drain(..)
        .filter(|old| !current.iter().any(|c| c.fingerprint == old.fingerprint))
        .map(|old| PlanItemRecord { line: None, ..old })
        .collect();
    plan.items = current;
    plan.items.extend(gone);
    // A plan that changed since it was closed is open again.
    if plan.fingerprint != prepared.fingerprint {
        plan.closed_at = None;
    }
    plan.fingerprint = prepared.fingerprint.clone();
    plan.imported_at = now;
}
