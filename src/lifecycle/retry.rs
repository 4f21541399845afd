//! What `phase retry` may ask for. A task whose dependency can never succeed stays
//! `dep_failed` however often it is retried, so the retry is refused, naming the
//! dependencies to retry first; with `--with-deps` those are retried with it.

use std::collections::{HashMap, HashSet};

use super::facts::Facts;
use super::stage::{Stage, Transition, is_dead};

/// The retries to request, or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPlan {
    /// Tasks to request a retry of, dependencies first.
    pub requests: Vec<String>,
    /// Tasks that would stay `dep_failed` after these retries.
    pub refused: Vec<Refusal>,
}

/// A task a retry cannot revive, and what stands in its way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The task asked for.
    pub task: String,
    /// Its dependencies that can never succeed, and their stages.
    pub dead_dependencies: Vec<(String, Stage)>,
    /// Upstream tasks that ended for good by themselves (quarantined or canceled), which a
    /// person must retry first; the rest recover by themselves once these run again.
    pub retry_first: Vec<(String, Stage)>,
    /// Upstream tasks no routing decision names (and not in the inbox): no retry
    /// revives what waits on them.
    pub unknown: Vec<String>,
    /// Upstream tasks in a dependency cycle: no retry revives them.
    pub cyclic: Vec<String>,
}

/// The plan for `phase retry [--with-deps] IDS`.
pub fn plan_retry(facts: &Facts, ids: &[String], with_deps: bool) -> RetryPlan {
    let graph = Upstream::new(facts);
    let mut requests: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for id in ids {
        if with_deps {
            for dep in graph.retryable_upstream(id) {
                if seen.insert(dep.clone()) {
                    requests.push(dep);
                }
            }
        }
        if seen.insert(id.clone()) {
            requests.push(id.clone());
        }
    }
    let retried: HashSet<&str> = requests.iter().map(String::as_str).collect();
    let mut dead = DeadMemo::default();
    let refused = ids
        .iter()
        .filter_map(|id| graph.refusal(id, &retried, &mut dead))
        .collect();
    RetryPlan { requests, refused }
}

/// Dependencies and stages by task id.
struct Upstream<'a> {
    deps: HashMap<&'a str, &'a [String]>,
    stages: HashMap<&'a str, Stage>,
    /// Ids of task files in the inbox: not routed yet, but they may be.
    queued: HashSet<&'a str>,
}

/// Whether each task can never run after the planned retries (`None` while being
/// computed: a task met again on the way is in a cycle, and dead).
#[derive(Default)]
struct DeadMemo<'a>(HashMap<&'a str, Option<bool>>);

impl<'a> Upstream<'a> {
    fn new(facts: &'a Facts) -> Upstream<'a> {
        Upstream {
            deps: facts
                .decisions
                .decisions
                .iter()
                .map(|d| (d.task_id.as_str(), d.task.depends_on.as_slice()))
                .collect(),
            stages: facts
                .results
                .results
                .iter()
                .map(|r| (r.task_id.as_str(), r.stage()))
                .collect(),
            queued: facts
                .inbox
                .iter()
                .filter_map(|p| p.file_stem().and_then(|s| s.to_str()))
                .collect(),
        }
    }

    fn stage(&self, id: &str) -> Stage {
        self.stages.get(id).copied().unwrap_or(Stage::New)
    }

    fn deps(&self, id: &str) -> &'a [String] {
        self.deps.get(id).copied().unwrap_or_default()
    }

    /// Every task upstream of `id` that has not succeeded and that a retry changes,
    /// dependencies first.
    fn retryable_upstream(&self, id: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut visited: HashSet<&str> = HashSet::from([id]);
        // Iterative post-order: a long chain must not overflow the stack.
        let mut stack: Vec<(&str, usize)> = vec![(id, 0)];
        while let Some((node, next)) = stack.pop() {
            let deps = self.deps(node);
            if let Some(dep) = deps.get(next) {
                stack.push((node, next + 1));
                let dep = dep.as_str();
                if self.stage(dep) != Stage::Succeeded
                    && self.deps.contains_key(dep)
                    && visited.insert(dep)
                {
                    stack.push((dep, 0));
                }
                continue;
            }
            if node != id && matches!(self.stage(node).retry(), Transition::To(_)) {
                out.push(node.to_string());
            }
        }
        out
    }

    /// The stage `id` has once the retries in `retried` are carried out.
    fn stage_after(&self, id: &str, retried: &HashSet<&str>) -> Stage {
        let stage = self.stage(id);
        match stage.retry() {
            Transition::To(next) if retried.contains(id) => next,
            _ => stage,
        }
    }

    /// Whether `id` can never run once the retries in `retried` are carried out: the
    /// executor's `dep_failed` rule ([`is_dead`]) applied up the graph. An unknown task
    /// (no decision, not in the inbox) is dead, and so is a cycle.
    fn is_dead_after(&self, id: &'a str, retried: &HashSet<&str>, memo: &mut DeadMemo<'a>) -> bool {
        if let Some(known) = self.known_dead(id, memo) {
            return known;
        }
        memo.0.insert(id, None);
        // Iterative post-order (a long chain must not overflow the stack): each frame is a
        // task, its next dependency to look at, and whether one so far is dead.
        let mut stack: Vec<(&'a str, usize, bool)> = vec![(id, 0, false)];
        while let Some(top) = stack.last_mut() {
            let (node, next) = (top.0, top.1);
            if let Some(dep) = self.deps(node).get(next) {
                top.1 += 1;
                let dep = dep.as_str();
                match self.known_dead(dep, memo) {
                    Some(dead) => top.2 |= dead,
                    None => {
                        memo.0.insert(dep, None);
                        stack.push((dep, 0, false));
                    }
                }
                continue;
            }
            let dead = is_dead(self.stage_after(node, retried), top.2);
            memo.0.insert(node, Some(dead));
            stack.pop();
            if let Some(parent) = stack.last_mut() {
                parent.2 |= dead;
            }
        }
        self.known_dead(id, memo).unwrap_or(true)
    }

    /// What is already known of `id`: dead if unknown or met again while being computed
    /// (a cycle), else the memo's answer.
    fn known_dead(&self, id: &str, memo: &DeadMemo<'a>) -> Option<bool> {
        if !self.deps.contains_key(id) {
            return Some(!self.queued.contains(id));
        }
        match memo.0.get(id) {
            Some(Some(dead)) => Some(*dead),
            Some(None) => Some(true),
            None => None,
        }
    }

    /// Whether `start` depends on itself through the tasks in `within`.
    fn on_cycle(&self, start: &str, within: &HashSet<&str>) -> bool {
        let mut stack: Vec<&str> = vec![start];
        let mut visited: HashSet<&str> = HashSet::new();
        while let Some(node) = stack.pop() {
            for d in self.deps(node) {
                let d = d.as_str();
                if d == start {
                    return true;
                }
                if within.contains(d) && visited.insert(d) {
                    stack.push(d);
                }
            }
        }
        false
    }

    /// Why retrying `id` would leave it `dep_failed`, if it would.
    fn refusal(
        &self,
        id: &str,
        retried: &HashSet<&str>,
        memo: &mut DeadMemo<'a>,
    ) -> Option<Refusal> {
        let dead: Vec<&String> = self
            .deps(id)
            .iter()
            .filter(|d| self.is_dead_after(d, retried, memo))
            .collect();
        if dead.is_empty() {
            return None;
        }
        let mut refusal = Refusal {
            task: id.to_string(),
            dead_dependencies: dead
                .iter()
                .map(|d| (d.to_string(), self.stage(d)))
                .collect(),
            retry_first: Vec::new(),
            unknown: Vec::new(),
            cyclic: Vec::new(),
        };
        // Walk up through the dead tasks to those that ended by themselves.
        let mut stack: Vec<&str> = dead.iter().map(|d| d.as_str()).collect();
        let mut seen: HashSet<&str> = stack.iter().copied().collect();
        while let Some(node) = stack.pop() {
            let stage = self.stage_after(node, retried);
            if !self.deps.contains_key(node) {
                refusal.unknown.push(node.to_string());
                continue;
            }
            if matches!(stage, Stage::Quarantined | Stage::Canceled) {
                refusal.retry_first.push((node.to_string(), stage));
                continue;
            }
            for d in self.deps(node) {
                if self.is_dead_after(d, retried, memo) && seen.insert(d.as_str()) {
                    stack.push(d.as_str());
                }
            }
        }
        if refusal.retry_first.is_empty() && refusal.unknown.is_empty() {
            // Dead, and nothing upstream ended by itself: a cycle is the cause.
            refusal.cyclic = seen
                .iter()
                .filter(|n| self.on_cycle(n, &seen))
                .map(|n| n.to_string())
                .collect();
        }
        refusal.retry_first.sort_by(|a, b| a.0.cmp(&b.0));
        refusal.unknown.sort();
        refusal.cyclic.sort();
        Some(refusal)
    }
}
