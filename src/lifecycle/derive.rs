//! Every task's derived state from the files: the stage its result records, recovery's
//! recommendation on it, its dependencies, pending requests, and which phases run.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::facts::{DecisionView, Facts, GateView, ResultView, RetryView};
use super::stage::{Recommendation, Stage, Transition};
use super::view::{LivePhases, Snapshot, TaskState, TaskView};
use crate::store::FixInProgress;

/// Derives every task's state (docs/LIFECYCLE.md, "States").
pub fn derive(facts: &Facts, live: LivePhases) -> Snapshot {
    let by_id: HashMap<&str, &ResultView> = facts
        .results
        .results
        .iter()
        .map(|r| (r.task_id.as_str(), r))
        .collect();
    let recommendations: HashMap<(&str, u32), &RetryView> = facts
        .patches
        .retries
        .iter()
        .map(|r| ((r.task_id.as_str(), r.attempt), r))
        .collect();
    let gates: HashMap<(&str, u32), &GateView> = facts
        .patches
        .gates
        .iter()
        .map(|g| ((g.task_id.as_str(), g.attempt), g))
        .collect();
    let advice = Advice {
        recommendations: &recommendations,
        gates: &gates,
    };
    let executor = live.executor.then_some("executor");
    let recovery = live.recovery.then_some("recovery");
    let succeeded = |dep: &String| {
        by_id
            .get(dep.as_str())
            .is_some_and(|r| r.stage() == Stage::Succeeded)
    };

    // Sized up front: at 100,000 tasks, a vector grown by doubling holds up to half again
    // as much, while every phase still holds its documents.
    let mut tasks = Vec::with_capacity(
        facts
            .decisions
            .decisions
            .len()
            .max(facts.results.results.len())
            + facts.inbox.len()
            + facts.rejected.len(),
    );
    let mut decided: HashSet<&str> = HashSet::new();
    let mut deps: HashMap<&str, &[String]> = HashMap::new();
    for d in &facts.decisions.decisions {
        decided.insert(d.task_id.as_str());
        deps.insert(d.task_id.as_str(), &d.task.depends_on);
        let r = by_id.get(d.task_id.as_str()).copied();
        let stage = r.map_or(Stage::New, ResultView::stage);
        let (state, waiting_on, reason) = match stage {
            // Due to run once every dependency succeeded; whether a blocked one can still
            // move is settled below, once all states are known.
            Stage::New | Stage::RetryDue => {
                let reason = (stage == Stage::RetryDue).then(|| "retry requested".to_string());
                if d.task.depends_on.iter().all(succeeded) {
                    (TaskState::Routed, executor, reason)
                } else {
                    (TaskState::Blocked, None, reason)
                }
            }
            _ => match r {
                Some(r) => recorded_state(r, stage, &advice, executor, recovery),
                None => (TaskState::Blocked, None, None),
            },
        };
        // Held back by the router (no candidate tool may take it now): say what for.
        let reason = match (&d.waiting, state) {
            (Some(w), TaskState::Routed | TaskState::RetryScheduled) => Some(match &w.until {
                Some(until) => format!("waiting until {until}: {}", w.reason),
                None => format!("waiting: {}", w.reason),
            }),
            _ => reason,
        };
        // Held back by the executor while a fix that may touch its files runs.
        let (waiting_on, reason) = match fix_holding(facts, d) {
            Some(fix) if state == TaskState::Routed => (
                recovery.or(waiting_on),
                Some(format!(
                    "waiting for the fix of {} ({}) to end: it may change the same files",
                    fix.task_id, fix.step
                )),
            ),
            _ => (waiting_on, reason),
        };
        tasks.push(TaskView {
            id: d.task_id.clone(),
            state,
            tool: Some(d.selected_tool.clone()),
            attempt: r.map(|r| r.attempt).unwrap_or(0),
            reason,
            waiting_on,
            request_pending: false,
            job_id: r.and_then(ResultView::job_id),
        });
    }
    // Results without a decision (a person deleted it): still shown.
    for r in &facts.results.results {
        if !decided.contains(r.task_id.as_str()) {
            let (state, waiting_on, reason) =
                recorded_state(r, r.stage(), &advice, executor, recovery);
            tasks.push(TaskView {
                id: r.task_id.clone(),
                state,
                tool: Some(r.tool_id.clone()),
                attempt: r.attempt,
                reason,
                waiting_on,
                request_pending: false,
                job_id: r.job_id(),
            });
        }
    }
    settle_blocked(&mut tasks, &deps, executor);
    note_pending_requests(&mut tasks, facts, &by_id, executor);
    push_files(&mut tasks, facts, live);
    let mut counts = BTreeMap::new();
    for t in &tasks {
        *counts.entry(t.state.as_str()).or_insert(0) += 1;
    }
    Snapshot { tasks, counts }
}

/// Recovery's word on attempts, by (task, attempt): retry recommendations and gate
/// verdicts.
struct Advice<'a> {
    recommendations: &'a HashMap<(&'a str, u32), &'a RetryView>,
    gates: &'a HashMap<(&'a str, u32), &'a GateView>,
}

/// The state of a task whose entry records `stage` (not due to run).
fn recorded_state(
    r: &ResultView,
    stage: Stage,
    advice: &Advice<'_>,
    executor: Option<&'static str>,
    recovery: Option<&'static str>,
) -> (TaskState, Option<&'static str>, Option<String>) {
    let reason = r.reason.clone();
    let recommendations = advice.recommendations;
    match stage {
        Stage::Running => (TaskState::Running, executor, reason),
        // Recovery runs the gate; once its verdict is written, the executor records it.
        Stage::Verifying => match advice.gates.get(&(r.task_id.as_str(), r.attempt)) {
            None => (
                TaskState::Verifying,
                recovery,
                Some("waiting for its acceptance gate".to_string()),
            ),
            Some(g) => {
                let verdict = if g.passed {
                    "gate passed"
                } else {
                    "gate failed"
                };
                let reason = match g.reason.is_empty() {
                    true => verdict.to_string(),
                    false => format!("{verdict}: {}", g.reason),
                };
                (TaskState::Verifying, executor, Some(reason))
            }
        },
        Stage::Succeeded => (TaskState::Succeeded, None, None),
        Stage::Canceled => (TaskState::Canceled, None, reason),
        Stage::Quarantined => (TaskState::Quarantined, None, reason),
        // Terminal even with a `phase retry` kept on it: it cannot run while its cause
        // lasts, and the executor lifts the mark (and runs it) once the cause goes away.
        Stage::DepFailed => (TaskState::DepFailed, None, reason),
        Stage::New | Stage::RetryDue => (TaskState::Routed, executor, reason),
        Stage::Failed | Stage::TimedOut => {
            let Some(v) = recommendations.get(&(r.task_id.as_str(), r.attempt)) else {
                return match recovery {
                    Some(_) => (TaskState::Recovering, recovery, reason),
                    None => (TaskState::Failed, None, reason),
                };
            };
            match stage.judge(Recommendation::from_flag(v.retry_recommended)) {
                // Recovery quarantined it; the executor has yet to mark the result.
                Transition::To(Stage::Quarantined) => {
                    (TaskState::Quarantined, executor, Some(v.reason.clone()))
                }
                _ => (
                    TaskState::RetryScheduled,
                    executor,
                    r.retry_at.as_ref().map(|t| format!("retry at {t}")),
                ),
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

/// A `cancel` or `retry` request the executor has not carried out yet still moves its
/// task: `phase retry X` followed at once by `phase wait` must not see X's old ending as
/// final. Only tasks with an entry count: a request on a task that never ran is kept in
/// the executor's memory until the task has an entry to record it in. The task waits on
/// the executor only if one runs (so `--once` of the other phases still ends).
fn note_pending_requests(
    tasks: &mut [TaskView],
    facts: &Facts,
    by_id: &HashMap<&str, &ResultView>,
    executor: Option<&'static str>,
) {
    if facts.control.requests.is_empty() {
        return;
    }
    let pending: HashSet<&str> = facts
        .control
        .requests
        .iter()
        .filter(|q| {
            by_id
                .get(q.task_id.as_str())
                .is_some_and(|r| !r.handled_requests.contains(&q.request_id))
        })
        .map(|q| q.task_id.as_str())
        .collect();
    if pending.is_empty() {
        return;
    }
    for t in tasks.iter_mut() {
        if pending.contains(t.id.as_str()) {
            t.request_pending = true;
            t.waiting_on = executor.or(t.waiting_on);
        }
    }
}

/// The inbox (queued) and `rejected/` (rejected or duplicate), after the routed tasks.
fn push_files(tasks: &mut Vec<TaskView>, facts: &Facts, live: LivePhases) {
    for path in &facts.inbox {
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
            request_pending: false,
            job_id: None,
        });
    }
    for file in &facts.rejected {
        tasks.push(TaskView {
            id: file
                .path
                .file_name()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string(),
            state: if file.duplicate {
                TaskState::Duplicate
            } else {
                TaskState::Rejected
            },
            tool: None,
            attempt: 0,
            reason: Some(match &file.error {
                Some(error) => error.clone(),
                None => format!("see {}.error.json", file.path.display()),
            }),
            waiting_on: None,
            request_pending: false,
            job_id: None,
        });
    }
}

/// The fix in progress of another task whose files overlap those of `d`'s task, if any
/// (the executor holds the task back until it ends: docs/RECOVERY.md "Scope").
fn fix_holding<'f>(facts: &'f Facts, d: &DecisionView) -> Option<&'f FixInProgress> {
    if facts.fixes.is_empty() {
        return None;
    }
    let area = crate::workdir::task_area(
        &facts.project_root,
        d.task.workdir.as_deref(),
        &d.task.files,
    );
    facts
        .fixes
        .iter()
        .find(|f| f.task_id != d.task_id && f.overlaps(&area))
}
