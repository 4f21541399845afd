//! The full re-derivation, run only when an input file changed: carry out new requests,
//! act on recovery's verdicts (schedule retries, mark quarantines), derive `dep_failed`,
//! and rebuild the ready queue with per-task counters of unmet dependencies.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::json;

use super::readiness::{Step, is_dead_end, next_step, retry_requested, verdict_for};
use super::{Executor, PHASE, times};
use crate::model::{EventType, Status, TaskResult, now_rfc3339};

/// While a task waits on an unknown dependency and the inbox is not empty, the inbox is
/// looked at again this often (a file there may be rejected instead of routed, which
/// changes none of the files the executor watches).
const UNKNOWN_RECHECK: Duration = Duration::from_millis(250);

impl Executor {
    /// Re-derives everything from the files as last read.
    pub(super) fn plan(&mut self) {
        self.needs_plan = false;
        self.recheck_unknown_at = None;
        // Without a valid results file there is nothing to derive from, and no change
        // could be written anyway.
        if !self.results.is_broken() {
            if !self.control.is_broken() {
                self.handle_requests();
            }
            if !self.patches.is_broken() {
                self.apply_verdicts();
            }
            self.derive_dep_failed();
        }
        self.rebuild_queue();
    }

    /// Recovery's verdicts: `retry_recommended: false` quarantines; `true` sets `retry_at`
    /// (finished_at + back-off) the first time it is seen.
    fn apply_verdicts(&mut self) {
        let mut quarantine = Vec::new();
        let mut schedule = Vec::new();
        for r in self.ledger.entries() {
            if self.running.contains_key(&r.task_id) {
                continue;
            }
            match verdict_for(r, &self.verdicts) {
                Some(v) if !v.retry_recommended => quarantine.push(r.task_id.clone()),
                Some(_) if r.retry_at.is_none() => schedule.push(r.task_id.clone()),
                _ => {}
            }
        }
        for id in quarantine {
            if let Some(r) = self.ledger.update(&id) {
                r.status = Status::Quarantined;
                r.retry_at = None;
            }
        }
        for id in schedule {
            self.schedule_retry(&id);
        }
    }

    fn schedule_retry(&mut self, id: &str) {
        let backoff = match self.graph.find(id) {
            Some(i) => self.config.backoff(&self.graph.decision(i).task),
            None => self.config.execution.backoff,
        };
        let Some(verdict) = self
            .ledger
            .get(id)
            .and_then(|r| verdict_for(r, &self.verdicts))
            .cloned()
        else {
            return;
        };
        let Some(r) = self.ledger.update(id) else {
            return;
        };
        let failures = r.failures_in_budget().max(1);
        let delay_ms = backoff.delay_ms(failures);
        let finished = r
            .finished_at
            .as_deref()
            .and_then(times::parse)
            .unwrap_or_else(jiff::Timestamp::now);
        let retry_at = times::format(times::add_ms(finished, delay_ms));
        r.retry_at = Some(retry_at.clone());
        let attempt = r.attempt;
        self.events.emit(
            EventType::TaskRetryScheduled,
            PHASE,
            Some(id),
            Some(attempt),
            json!({
                "retry_at": retry_at,
                "delay_ms": delay_ms,
                "next_attempt": attempt + 1,
                "failures": failures,
                "ladder_step": verdict.ladder_step,
                "patch_ids": verdict.patch_ids,
            }),
        );
    }

    /// Marks every task that can no longer run `dep_failed`, and lifts the mark where the
    /// cause went away. Dependencies come first in the graph's order, so one pass settles
    /// whole chains.
    fn derive_dep_failed(&mut self) {
        let n = self.graph.len();
        let mut dead = vec![false; n];
        let mut derived = vec![false; n];
        let mut inbox_empty: Option<bool> = None;
        let mut mark: Vec<(usize, String)> = Vec::new();
        let mut lift: Vec<usize> = Vec::new();
        for &t in self.graph.order() {
            let id = self.graph.id(t);
            let entry = self.ledger.get(id);
            let candidate = !self.running.contains_key(id)
                && entry.is_none_or(|r| r.status == Status::DepFailed || retry_requested(r));
            if !candidate {
                dead[t] = entry.is_some_and(is_dead_end);
                continue;
            }
            let cause = self.dep_failure_cause(t, &dead, &derived, &mut inbox_empty);
            dead[t] = cause.is_some();
            derived[t] = cause.is_some();
            match cause {
                Some(cause) => {
                    let same = entry.is_some_and(|r| {
                        r.status == Status::DepFailed && r.reason.as_deref() == Some(&cause)
                    });
                    if !same {
                        mark.push((t, cause));
                    }
                }
                None if entry.is_some_and(|r| r.status == Status::DepFailed) => lift.push(t),
                None => {}
            }
        }
        if inbox_empty == Some(false) {
            self.recheck_unknown_at = Some(Instant::now() + UNKNOWN_RECHECK);
        }
        for (t, cause) in mark {
            self.mark_dep_failed(t, cause);
        }
        self.lift_dep_failed(&lift);
    }

    /// Why task `t` can never run, if it cannot.
    fn dep_failure_cause(
        &self,
        t: usize,
        dead: &[bool],
        derived: &[bool],
        inbox_empty: &mut Option<bool>,
    ) -> Option<String> {
        if let Some(cycle) = self.graph.cycle(t) {
            return Some(format!("dependency cycle: {cycle}"));
        }
        for &d in self.graph.deps(t) {
            if !dead[d] {
                continue;
            }
            let dep = self.graph.id(d);
            if let Some(cycle) = self.graph.cycle(d) {
                return Some(format!("dependency {dep:?} is in a cycle: {cycle}"));
            }
            let status = if derived[d] {
                Status::DepFailed
            } else {
                self.ledger.get(dep).map_or(Status::DepFailed, |r| r.status)
            };
            return Some(format!("dependency {dep:?} is {}", status.as_str()));
        }
        let unknown = self.graph.unknown_deps(t).first()?;
        let empty = *inbox_empty.get_or_insert_with(|| inbox_is_empty(&self.state.inbox()));
        empty.then(|| {
            format!(
                "dependency {unknown:?} is unknown (no routing decision, and the inbox is empty)"
            )
        })
    }

    fn mark_dep_failed(&mut self, t: usize, cause: String) {
        let decision = self.graph.decision(t);
        let id = decision.task_id.clone();
        let tool = decision.selected_tool.clone();
        let metadata = decision.metadata.clone();
        let carried = self.orphan_requests.remove(&id).unwrap_or_default();
        let r = self.ledger.upsert(&id, || TaskResult {
            task_id: id.clone(),
            tool_id: tool,
            metadata,
            ..TaskResult::default()
        });
        r.status = Status::DepFailed;
        r.reason = Some(cause.clone());
        r.retry_at = None;
        r.finished_at = Some(now_rfc3339());
        r.handled_requests.extend(carried);
        let attempt = r.attempt;
        self.events.emit(
            EventType::TaskDepFailed,
            PHASE,
            Some(&id),
            Some(attempt),
            json!({ "reason": cause }),
        );
    }

    /// The cause went away: a task that never ran loses its entry (it is blocked or
    /// runnable again); one that ran gets its latest attempt's outcome back.
    fn lift_dep_failed(&mut self, tasks: &[usize]) {
        let mut remove = HashSet::new();
        for &t in tasks {
            let id = self.graph.id(t).to_string();
            let Some(r) = self.ledger.update(&id) else {
                continue;
            };
            match r.attempts.last() {
                None => {
                    let handled = std::mem::take(&mut r.handled_requests);
                    if !handled.is_empty() {
                        self.orphan_requests
                            .entry(id.clone())
                            .or_default()
                            .extend(handled);
                    }
                    remove.insert(id);
                }
                Some(last) => {
                    r.status = match last.status {
                        Status::Running => Status::Failed,
                        other => other,
                    };
                    r.reason = last.reason.clone();
                    r.exit_code = last.exit_code;
                    r.finished_at = last.finished_at.clone();
                }
            }
        }
        self.ledger.remove(&remove);
    }

    /// Unmet-dependency counters, the ready queue, back-off timers, and the `running`
    /// results of other executors to watch.
    fn rebuild_queue(&mut self) {
        self.queue.clear();
        let n = self.graph.len();
        self.unmet = (0..n)
            .map(|t| {
                let unmet_known = self
                    .graph
                    .deps(t)
                    .iter()
                    .filter(|&&d| !self.succeeded(self.graph.id(d)))
                    .count();
                (unmet_known + self.graph.unknown_deps(t).len()) as u32
            })
            .collect();
        for t in 0..n {
            self.consider(t);
        }
        self.foreign_running = self
            .ledger
            .entries()
            .iter()
            .filter(|r| r.status == Status::Running && !self.running.contains_key(&r.task_id))
            .map(|r| r.task_id.clone())
            .collect();
        self.sweep_at = Instant::now();
    }

    /// Queues task `t` if its dependencies are met and its result asks for an attempt
    /// (now, or at its back-off time).
    pub(super) fn consider(&mut self, t: usize) {
        if self.unmet.get(t).is_none_or(|&u| u > 0) {
            return;
        }
        let id = self.graph.id(t);
        if self.running.contains_key(id) {
            return;
        }
        let verdicts = (!self.patches.is_broken()).then_some(&self.verdicts);
        match next_step(id, self.ledger.get(id), verdicts) {
            Step::Attempt {
                not_before: Some(at),
                ..
            } if !times::has_passed(&at) => {
                let when = times::parse(&at).map_or_else(Instant::now, times::deadline);
                self.queue.at(when, t);
            }
            Step::Attempt { .. } => {
                let d = self.graph.decision(t);
                let key = super::queue::Key::new(d.task.priority, d.submission_seq, t);
                self.queue.push(key);
            }
            Step::Nothing => {}
        }
    }

    /// Timers that are due: look at their tasks again.
    pub(super) fn fire_timers(&mut self, now: Instant) {
        for t in self.queue.due(now) {
            if t < self.graph.len() {
                self.consider(t);
            }
        }
    }

    /// Whether `id`'s result is `succeeded`.
    pub(super) fn succeeded(&self, id: &str) -> bool {
        self.ledger
            .get(id)
            .is_some_and(|r| r.status == Status::Succeeded)
    }
}

/// Whether the inbox holds no task file (`*.json`, not hidden); read-only.
fn inbox_is_empty(inbox: &std::path::Path) -> bool {
    let Ok(entries) = std::fs::read_dir(inbox) else {
        return true;
    };
    !entries.flatten().any(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        name.ends_with(".json") && !name.starts_with('.')
    })
}
