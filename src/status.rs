//! The task lifecycle as derived from the files (docs/LIFECYCLE.md). `phase status`
//! prints it; `phase run --once` uses it to decide that nothing is left to do.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::Result;
use crate::model::{ExecutionResults, FixPatches, RoutingDecisions, StateDoc, Status};
use crate::store::{Presence, StateDir, list_task_files, read_view};

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// In `inbox/`, not routed yet.
    Queued,
    /// Routed, runnable.
    Routed,
    /// Routed, waiting on dependencies.
    Blocked,
    /// Its process is running.
    Running,
    /// Failed; recovery has not decided yet.
    Recovering,
    /// Failed; a retry is recommended.
    RetryScheduled,
    /// Failed, and no phase will act on it (no recovery running).
    Failed,
    /// Done, exit 0.
    Succeeded,
    /// Recovery gave up; see `escalations/<id>.md`.
    Quarantined,
    /// Canceled by a person.
    Canceled,
    /// A dependency can no longer succeed.
    DepFailed,
    /// The task file was invalid; see `rejected/<file>.error.json`.
    Rejected,
    /// The file was an identical copy of an accepted task; kept in `rejected/`.
    Duplicate,
}

impl TaskState {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Routed => "routed",
            TaskState::Blocked => "blocked",
            TaskState::Running => "running",
            TaskState::Recovering => "recovering",
            TaskState::RetryScheduled => "retry_scheduled",
            TaskState::Failed => "failed",
            TaskState::Succeeded => "succeeded",
            TaskState::Quarantined => "quarantined",
            TaskState::Canceled => "canceled",
            TaskState::DepFailed => "dep_failed",
            TaskState::Rejected => "rejected",
            TaskState::Duplicate => "duplicate",
        }
    }
}

/// One task's derived state.
#[derive(Debug, Clone, Serialize)]
pub struct TaskView {
    /// Task id (for a rejected file: its file name).
    pub id: String,
    /// Where it stands.
    pub state: TaskState,
    /// The tool of its decision, once routed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// Latest attempt number (0: never ran).
    pub attempt: u32,
    /// Why, in words, where there is something to say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The phase that must act next for the task to move, if any is running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_on: Option<&'static str>,
}

/// Every task's derived state, with counts.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// In submission order (queued and rejected last).
    pub tasks: Vec<TaskView>,
    /// How many tasks are in each state.
    pub counts: BTreeMap<&'static str, usize>,
}

impl Snapshot {
    /// Whether some running phase still has work for some task.
    pub fn has_pending_work(&self) -> bool {
        self.tasks.iter().any(|t| t.waiting_on.is_some())
    }

    /// Whether every task succeeded (identical duplicate files are not tasks of their own).
    pub fn all_succeeded(&self) -> bool {
        self.tasks
            .iter()
            .all(|t| matches!(t.state, TaskState::Succeeded | TaskState::Duplicate))
    }
}

/// Which phases are running (here or in another process).
#[derive(Debug, Clone, Copy, Default)]
pub struct LivePhases {
    /// A router runs.
    pub router: bool,
    /// An executor runs.
    pub executor: bool,
    /// A recovery phase runs.
    pub recovery: bool,
}

impl LivePhases {
    /// Whether any phase runs.
    pub fn any(&self) -> bool {
        self.router || self.executor || self.recovery
    }

    /// Asks the presence locks.
    pub fn detect(state: &StateDir) -> Result<LivePhases> {
        Ok(LivePhases {
            router: Presence::is_alive(state, "router")?,
            executor: Presence::is_alive(state, "executor")?,
            recovery: Presence::is_alive(state, "recovery")?,
        })
    }
}

/// The fields of `routing_decisions.json` that the lifecycle needs. Reading only these
/// keeps a status check small next to phases that hold the whole documents.
#[derive(Debug, Default, Deserialize)]
struct DecisionsView {
    #[serde(default)]
    decisions: Vec<DecisionView>,
}

#[derive(Debug, Deserialize)]
struct DecisionView {
    task_id: String,
    #[serde(default)]
    selected_tool: String,
    task: SpecView,
}

#[derive(Debug, Deserialize)]
struct SpecView {
    #[serde(default)]
    depends_on: Vec<String>,
}

/// The fields of `execution_results.json` that the lifecycle needs.
#[derive(Debug, Default, Deserialize)]
struct ResultsView {
    #[serde(default)]
    results: Vec<ResultView>,
}

#[derive(Debug, Deserialize)]
struct ResultView {
    task_id: String,
    #[serde(default)]
    tool_id: String,
    #[serde(default)]
    attempt: u32,
    status: Status,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    retry_at: Option<String>,
    #[serde(default)]
    budget_from_attempt: u32,
}

/// The fields of `fix_patches.json` that the lifecycle needs.
#[derive(Debug, Default, Deserialize)]
struct PatchesView {
    #[serde(default)]
    retries: Vec<RetryView>,
}

#[derive(Debug, Deserialize)]
struct RetryView {
    task_id: String,
    attempt: u32,
    retry_recommended: bool,
    #[serde(default)]
    reason: String,
}

/// The field of `rejected/<file>.error.json` that says why.
#[derive(Debug, Default, Deserialize)]
struct RejectionView {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    duplicate_of: Option<String>,
}

/// Reads the files and derives every task's state. A file that is not JSON, or lacks the
/// fields the lifecycle needs, is an error (`phase validate` checks the full schemas).
pub fn snapshot(state: &StateDir, live: LivePhases) -> Result<Snapshot> {
    let decisions: DecisionsView = read_view(&state.file(RoutingDecisions::FILE))?;
    let results: ResultsView = read_view(&state.file(ExecutionResults::FILE))?;
    let patches: PatchesView = read_view(&state.file(FixPatches::FILE))?;
    let inbox = list_task_files(&state.inbox())?;
    // Each rejected file's note says why, for the DETAIL column.
    let rejected: Vec<_> = list_task_files(&state.rejected())?
        .into_iter()
        .map(|path| {
            let mut note = path.clone().into_os_string();
            note.push(".error.json");
            let view = read_view::<RejectionView>(std::path::Path::new(&note)).unwrap_or_default();
            (path, view.error, view.duplicate_of.is_some())
        })
        .collect();
    Ok(derive(
        &decisions, &results, &patches, &inbox, &rejected, live,
    ))
}

fn derive(
    decisions: &DecisionsView,
    results: &ResultsView,
    patches: &PatchesView,
    inbox: &[std::path::PathBuf],
    rejected: &[(std::path::PathBuf, Option<String>, bool)],
    live: LivePhases,
) -> Snapshot {
    let by_id: HashMap<&str, &ResultView> = results
        .results
        .iter()
        .map(|r| (r.task_id.as_str(), r))
        .collect();
    let verdicts: HashMap<(&str, u32), &RetryView> = patches
        .retries
        .iter()
        .map(|r| ((r.task_id.as_str(), r.attempt), r))
        .collect();
    let executor = live.executor.then_some("executor");
    let recovery = live.recovery.then_some("recovery");

    let mut tasks = Vec::new();
    let mut decided: HashSet<&str> = HashSet::new();
    let mut deps: HashMap<&str, &[String]> = HashMap::new();
    for d in &decisions.decisions {
        decided.insert(d.task_id.as_str());
        deps.insert(d.task_id.as_str(), &d.task.depends_on);
        let r = by_id.get(d.task_id.as_str()).copied();
        let (state, waiting_on, reason) = match r {
            None => {
                let all_ok = d.task.depends_on.iter().all(|dep| {
                    by_id
                        .get(dep.as_str())
                        .is_some_and(|r| r.status == Status::Succeeded)
                });
                if all_ok {
                    (TaskState::Routed, executor, None)
                } else {
                    // Whether it can still move is settled below, once all states are known.
                    (TaskState::Blocked, None, None)
                }
            }
            Some(r) => result_state(r, &verdicts, executor, recovery),
        };
        tasks.push(TaskView {
            id: d.task_id.clone(),
            state,
            tool: Some(d.selected_tool.clone()),
            attempt: r.map(|r| r.attempt).unwrap_or(0),
            reason,
            waiting_on,
        });
    }
    // Results without a decision (a person deleted it): still shown.
    for r in &results.results {
        if !decided.contains(r.task_id.as_str()) {
            let (state, waiting_on, reason) = result_state(r, &verdicts, executor, recovery);
            tasks.push(TaskView {
                id: r.task_id.clone(),
                state,
                tool: Some(r.tool_id.clone()),
                attempt: r.attempt,
                reason,
                waiting_on,
            });
        }
    }
    settle_blocked(&mut tasks, &deps, executor);
    for path in inbox {
        let id = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        tasks.push(TaskView {
            id,
            state: TaskState::Queued,
            tool: None,
            attempt: 0,
            reason: None,
            waiting_on: live.router.then_some("router"),
        });
    }
    for (path, note, duplicate) in rejected {
        tasks.push(TaskView {
            id: path
                .file_name()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string(),
            state: if *duplicate {
                TaskState::Duplicate
            } else {
                TaskState::Rejected
            },
            tool: None,
            attempt: 0,
            reason: Some(match note {
                Some(error) => error.clone(),
                None => format!("see {}.error.json", path.display()),
            }),
            waiting_on: None,
        });
    }
    let mut counts = BTreeMap::new();
    for t in &tasks {
        *counts.entry(t.state.as_str()).or_insert(0) += 1;
    }
    Snapshot { tasks, counts }
}

fn result_state(
    r: &ResultView,
    verdicts: &HashMap<(&str, u32), &RetryView>,
    executor: Option<&'static str>,
    recovery: Option<&'static str>,
) -> (TaskState, Option<&'static str>, Option<String>) {
    let reason = r.reason.clone();
    // `phase retry` was carried out: the next attempt is due (docs/LIFECYCLE.md).
    if r.budget_from_attempt > r.attempt && r.status != Status::Running {
        return (
            TaskState::Routed,
            executor,
            Some("retry requested".to_string()),
        );
    }
    match r.status {
        Status::Running => (TaskState::Running, executor, reason),
        Status::Succeeded => (TaskState::Succeeded, None, None),
        Status::Canceled => (TaskState::Canceled, None, reason),
        Status::Quarantined => (TaskState::Quarantined, None, reason),
        Status::DepFailed => (TaskState::DepFailed, None, reason),
        Status::Failed | Status::TimedOut => {
            match verdicts.get(&(r.task_id.as_str(), r.attempt)) {
                None if recovery.is_some() => (TaskState::Recovering, recovery, reason),
                None => (TaskState::Failed, None, reason),
                Some(v) if v.retry_recommended => (
                    TaskState::RetryScheduled,
                    executor,
                    r.retry_at.as_ref().map(|t| format!("retry at {t}")),
                ),
                // Recovery quarantined it; the executor has yet to mark the result.
                Some(v) => (TaskState::Quarantined, executor, Some(v.reason.clone())),
            }
        }
    }
}

/// A blocked task can still move if the executor runs and some dependency can still
/// move, has ended for good (the executor will mark it `dep_failed`), is unknown, or is in
/// a cycle (the executor reports both).
fn settle_blocked(
    tasks: &mut [TaskView],
    deps: &HashMap<&str, &[String]>,
    executor: Option<&'static str>,
) {
    if executor.is_none() {
        return;
    }
    let index: HashMap<String, usize> = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id.clone(), i))
        .collect();
    // Iterate to a fixed point: at most one pass per chain link.
    loop {
        let mut changed = false;
        for i in 0..tasks.len() {
            if tasks[i].state != TaskState::Blocked || tasks[i].waiting_on.is_some() {
                continue;
            }
            let movable = deps
                .get(tasks[i].id.as_str())
                .into_iter()
                .flat_map(|d| d.iter())
                .any(|dep| match index.get(dep) {
                    None => true,
                    Some(&j) => {
                        let t = &tasks[j];
                        t.waiting_on.is_some()
                            || matches!(
                                t.state,
                                TaskState::Quarantined | TaskState::Canceled | TaskState::DepFailed
                            )
                    }
                });
            if movable {
                tasks[i].waiting_on = executor;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    // A blocked cycle never moves by itself: the executor reports it.
    for task in tasks.iter_mut() {
        if task.state == TaskState::Blocked && task.waiting_on.is_none() && in_cycle(&task.id, deps)
        {
            task.waiting_on = executor;
        }
    }
}

fn in_cycle(start: &str, deps: &HashMap<&str, &[String]>) -> bool {
    let mut stack: Vec<&str> = vec![start];
    let mut seen: HashSet<&str> = HashSet::new();
    while let Some(id) = stack.pop() {
        for dep in deps.get(id).into_iter().flat_map(|d| d.iter()) {
            if dep == start {
                return true;
            }
            if seen.insert(dep.as_str()) {
                stack.push(dep.as_str());
            }
        }
    }
    false
}
