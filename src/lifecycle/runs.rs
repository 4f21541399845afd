//! Which tasks a run judges (`phase run --once`, `phase wait`, `phase archive`). A run
//! (`runs.json`) is a span of time; a task belongs to it when it was still moving at the
//! run's start, or when something happened to it since — routed, an attempt started or
//! ended, recovery or its gate decided, rejected. The files record each of those times,
//! so no phase keeps a list: a task dropped by hand, retried or re-run joins the run in
//! which it moves, and old failures stay in the run they ended in.

use std::collections::{BTreeMap, HashMap};

use super::facts::Facts;
use super::view::{Snapshot, TaskView};

/// When something last happened to each task (or rejected file, by its file name), as an
/// RFC 3339 string (they sort as times).
pub fn last_activity(facts: &Facts) -> HashMap<String, String> {
    let mut at: HashMap<String, String> = HashMap::new();
    let mut note = |id: &str, time: &str| {
        if time.is_empty() {
            return;
        }
        match at.get_mut(id) {
            Some(t) if t.as_str() >= time => {}
            Some(t) => *t = time.to_string(),
            None => {
                at.insert(id.to_string(), time.to_string());
            }
        }
    };
    for d in &facts.decisions.decisions {
        note(&d.task_id, &d.decided_at);
    }
    for r in &facts.results.results {
        note(&r.task_id, &r.started_at);
        note(&r.task_id, r.finished_at.as_deref().unwrap_or_default());
    }
    for r in &facts.patches.retries {
        note(&r.task_id, &r.decided_at);
    }
    for g in &facts.patches.gates {
        note(&g.task_id, &g.decided_at);
    }
    for f in &facts.rejected {
        if let Some(name) = f.path.file_name().and_then(|n| n.to_str()) {
            note(name, f.rejected_at.as_deref().unwrap_or_default());
        }
    }
    at
}

/// Whether nothing will move `t` any more: ended, no phase acting on it, no request
/// waiting.
pub fn is_settled(t: &TaskView) -> bool {
    t.state.has_ended() && t.waiting_on.is_none() && !t.request_pending
}

impl Snapshot {
    /// The tasks of the run that started at `from`: those still moving, and those with
    /// activity since `from`. With `until` (a finished run), only settled tasks whose last
    /// activity is in `[from, until]` — what `phase archive` moves. Counts are redone.
    pub fn of_run(
        &self,
        activity: &HashMap<String, String>,
        from: &str,
        until: Option<&str>,
    ) -> Snapshot {
        let tasks: Vec<TaskView> = self
            .tasks
            .iter()
            .filter(|t| {
                let at = activity.get(&t.id).map(String::as_str);
                match until {
                    None => !is_settled(t) || at.is_some_and(|a| a >= from),
                    Some(until) => is_settled(t) && at.is_some_and(|a| a >= from && a <= until),
                }
            })
            .cloned()
            .collect();
        let mut counts = BTreeMap::new();
        for t in &tasks {
            *counts.entry(t.state.as_str()).or_insert(0) += 1;
        }
        Snapshot { tasks, counts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::TaskState;

    fn task(id: &str, state: TaskState, waiting: bool) -> TaskView {
        TaskView {
            id: id.to_string(),
            state,
            tool: None,
            attempt: 1,
            reason: None,
            waiting_on: waiting.then_some("executor"),
            request_pending: false,
            job_id: None,
        }
    }

    fn snapshot(tasks: Vec<TaskView>) -> Snapshot {
        Snapshot {
            tasks,
            counts: BTreeMap::new(),
        }
    }

    #[test]
    fn a_run_has_what_moves_and_what_happened_since_its_start() {
        let snap = snapshot(vec![
            task("old-failure", TaskState::Quarantined, false),
            task("new-success", TaskState::Succeeded, false),
            task("still-queued", TaskState::Queued, true),
            task("never-routed", TaskState::Blocked, false),
        ]);
        let activity = HashMap::from([
            (
                "old-failure".to_string(),
                "2026-01-01T00:00:00.000Z".to_string(),
            ),
            (
                "new-success".to_string(),
                "2026-01-02T00:00:01.000Z".to_string(),
            ),
        ]);
        let run = snap.of_run(&activity, "2026-01-02T00:00:00.000Z", None);
        let ids: Vec<&str> = run.tasks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["new-success", "still-queued", "never-routed"]);
        assert_eq!(run.counts.get("succeeded"), Some(&1));
        assert_eq!(run.counts.get("quarantined"), None);
        // A finished run keeps only what settled within it.
        let past = snap.of_run(&activity, "", Some("2026-01-01T12:00:00.000Z"));
        let ids: Vec<&str> = past.tasks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["old-failure"]);
    }
}
