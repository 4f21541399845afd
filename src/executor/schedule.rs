//! What may run and in which order: the dependency graph (rebuilt only when the decisions
//! change), per-task counters of dependencies not yet succeeded, the ready queue with its
//! back-off timers, and the per-tool limits. Completions are incremental: a success
//! decrements its dependents' counters only, so a pass does not rescan every task. A task
//! whose files overlap a recovery fix in progress is set aside until the fix ends
//! ([`fixes`]).

mod depth;
mod fixes;
mod graph;
mod queue;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::lifecycle::Next;
use crate::model::RoutingDecision;
use crate::store::StateDir;

use super::times;
pub(super) use depth::QueueDepth;
use fixes::FixHolds;
pub(super) use graph::Graph;
pub(super) use queue::Key;
use queue::ReadyQueue;

/// The graph, the counters, the queue and the limits.
#[derive(Debug, Default)]
pub(super) struct Schedule {
    /// The tasks and their dependencies, from the last valid decisions.
    graph: Graph,
    queue: ReadyQueue,
    /// Per task (graph index): dependencies not yet succeeded (unknown ones included).
    unmet: Vec<u32>,
    /// Running attempts per tool, for `tools.<name>.max_parallel`.
    per_tool: HashMap<String, usize>,
    /// When to look at the inbox again for tasks waiting on an unknown dependency.
    recheck_unknown_at: Option<Instant>,
    /// Recovery's fixes in progress and the tasks they hold back.
    fixes: FixHolds,
    /// How many runs may wait in the runner's queue.
    pub(super) depth: QueueDepth,
}

impl Schedule {
    /// The dependency graph.
    pub(super) fn graph(&self) -> &Graph {
        &self.graph
    }

    /// New decisions: a new graph (the counters are recounted by the next re-derivation).
    pub(super) fn set_decisions(&mut self, decisions: Vec<RoutingDecision>) {
        // The old graph goes first: with 100,000 tasks, each copy is ~100 MB.
        self.graph = Graph::default();
        self.graph = Graph::build(decisions);
    }

    /// Empties the queue and recounts every task's unmet dependencies.
    pub(super) fn recount(&mut self, succeeded: impl Fn(&str) -> bool) {
        self.queue.clear();
        self.fixes.clear_held();
        let graph = &self.graph;
        self.unmet = (0..graph.len())
            .map(|t| {
                let unmet_known = graph
                    .deps(t)
                    .iter()
                    .filter(|&&d| !succeeded(graph.id(d)))
                    .count();
                (unmet_known + graph.unknown_deps(t).len()) as u32
            })
            .collect();
    }

    /// Whether every dependency of task `t` succeeded, by the counters.
    pub(super) fn is_unblocked(&self, t: usize) -> bool {
        self.unmet.get(t).is_some_and(|&u| u == 0)
    }

    /// Whether every dependency of task `t` succeeded, asked of the results themselves.
    pub(super) fn deps_succeeded(&self, t: usize, succeeded: impl Fn(&str) -> bool) -> bool {
        self.graph.unknown_deps(t).is_empty()
            && self
                .graph
                .deps(t)
                .iter()
                .all(|&d| succeeded(self.graph.id(d)))
    }

    /// Queues task `t` for what its result asks: an attempt now, one at its back-off
    /// time, or nothing.
    pub(super) fn offer(&mut self, t: usize, next: &Next) {
        match next {
            Next::Attempt {
                not_before: Some(at),
                ..
            } if !times::has_passed(at) => {
                let when = times::parse(at).map_or_else(Instant::now, times::deadline);
                self.queue.at(when, t);
            }
            Next::Attempt { .. } => {
                let d = self.graph.decision(t);
                self.queue
                    .push(Key::new(d.task.priority, d.submission_seq, t));
            }
            Next::Nothing => {}
        }
    }

    /// The best queued task (entries may be stale: the caller checks it again). A task a
    /// fix in progress holds back is set aside instead, until the fixes change.
    pub(super) fn pop(&mut self) -> Option<Key> {
        while let Some(key) = self.queue.pop() {
            let t = key.task();
            if t < self.graph.len() {
                let decision = self.graph.decision(t);
                if let Some(fix) = self.fixes.holding(decision) {
                    let fix = fix.task_id.clone();
                    self.fixes.hold(key, &decision.task_id, &fix);
                    continue;
                }
            }
            return Some(key);
        }
        None
    }

    /// Looks at recovery's fixes in progress (a `stat` per pass); the tasks they held back
    /// are queued again when they changed. `recheck`: how often a recorded fix is read
    /// again although the file did not change.
    pub(super) fn refresh_fixes(&mut self, state: &StateDir, now: Instant, recheck: Duration) {
        for key in self.fixes.refresh(state, now, recheck) {
            self.queue.push(key);
        }
    }

    /// Queues `key` again, as it was before [`Schedule::pop`].
    pub(super) fn put_back(&mut self, key: Key) {
        self.queue.push(key);
    }

    /// Whether no task is queued to run now.
    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Looks at task `t` again at `when`.
    pub(super) fn at(&mut self, when: Instant, t: usize) {
        self.queue.at(when, t);
    }

    /// Tasks whose timers are due.
    pub(super) fn due(&mut self, now: Instant) -> Vec<usize> {
        self.queue.due(now)
    }

    /// The earliest timer (a recheck of the fixes in progress included).
    pub(super) fn next_timer(&self) -> Option<Instant> {
        [self.queue.next_timer(), self.fixes.recheck_at()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Whether `tool` runs as many attempts as `limit` allows.
    pub(super) fn tool_at_limit(&self, tool: &str, limit: Option<u32>) -> bool {
        limit
            .is_some_and(|max| self.per_tool.get(tool).copied().unwrap_or(0) >= max.max(1) as usize)
    }

    /// Sets `key` aside until an attempt of `tool` ends.
    pub(super) fn wait_for_tool(&mut self, tool: &str, key: Key) {
        self.queue.wait_for_tool(tool, key);
    }

    /// An attempt of `tool` started.
    pub(super) fn tool_started(&mut self, tool: &str) {
        *self.per_tool.entry(tool.to_string()).or_insert(0) += 1;
    }

    /// An attempt of `tool` ended: its best waiting task may run.
    pub(super) fn tool_ended(&mut self, tool: &str) {
        if let Some(n) = self.per_tool.get_mut(tool) {
            *n = n.saturating_sub(1);
        }
        self.queue.tool_freed(tool);
    }

    /// Task `t` succeeded: each dependent has one unmet dependency less. Returns the
    /// dependents that have none left, or `None` if the counters are out of date (the
    /// graph changed since they were counted): everything must be re-derived then.
    pub(super) fn succeeded(&mut self, t: usize) -> Option<Vec<usize>> {
        if self.unmet.len() != self.graph.len() {
            return None;
        }
        let mut unblocked = Vec::new();
        for &d in self.graph.dependents(t) {
            self.unmet[d] = self.unmet[d].saturating_sub(1);
            if self.unmet[d] == 0 {
                unblocked.push(d);
            }
        }
        Some(unblocked)
    }

    /// Dependents of the running task `t` that wait on nothing else (`unmet` counts `t`
    /// itself while it runs), at most `limit` of them.
    pub(super) fn next_after(&self, t: usize, limit: usize) -> Vec<usize> {
        if self.unmet.len() != self.graph.len() {
            return Vec::new();
        }
        self.graph
            .dependents(t)
            .iter()
            .copied()
            .filter(|&d| self.unmet[d] == 1)
            .take(limit)
            .collect()
    }

    /// Whether the inbox must be looked at again now, for a task waiting on an unknown
    /// dependency.
    pub(super) fn recheck_due(&self, now: Instant) -> bool {
        self.recheck_unknown_at.is_some_and(|t| now >= t)
    }

    /// When to look at the inbox again (`None`: no task waits on an unknown dependency).
    pub(super) fn recheck_unknown_at(&self) -> Option<Instant> {
        self.recheck_unknown_at
    }

    /// Sets when to look at the inbox again.
    pub(super) fn set_recheck_unknown_at(&mut self, at: Option<Instant>) {
        self.recheck_unknown_at = at;
    }
}
