//! Dependencies: which tasks can never run (`dep_failed`, by the lifecycle's rule
//! [`is_dead`]) and which can again; then the counters of unmet dependencies, the ready
//! queue and its timers. Run only when an input changed (O(tasks + dependencies)).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::executor::{Executor, PHASE};
use crate::lifecycle::{Stage, Transition, is_dead};
use crate::model::{EventType, Status};
use crate::store::inbox_has_task_files;

/// While a task waits on an unknown dependency and the inbox is not empty, the inbox is
/// looked at again this often (a file there may be rejected instead of routed, which
/// changes none of the files the executor watches).
const UNKNOWN_RECHECK: Duration = Duration::from_millis(250);

impl Executor {
    /// Marks every task that can no longer run `dep_failed`, and lifts the mark where the
    /// cause went away. Dependencies come first in the graph's order, so one pass settles
    /// whole chains.
    pub(in crate::executor) fn derive_dep_failed(&mut self) {
        let graph = self.schedule.graph();
        let n = graph.len();
        let mut dead = vec![false; n];
        let mut derived = vec![false; n];
        let mut inbox_empty: Option<bool> = None;
        let mut mark: Vec<(usize, String)> = Vec::new();
        let mut lift: Vec<usize> = Vec::new();
        for &t in graph.order() {
            let id = graph.id(t);
            let entry = self.book.get(id);
            let stage = Stage::of_result(entry);
            // Only a task that does not run and has no outcome of its own to keep is
            // marked (or lifted); the others are dead by their own stage.
            if self.supervisor.runs(id) || stage.dependency_failed() == Transition::Stay {
                dead[t] = stage.is_dead_end();
                continue;
            }
            let cause = self.dep_failure_cause(t, &dead, &derived, &mut inbox_empty);
            dead[t] = is_dead(stage, cause.is_some());
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
                None if stage.dependencies_recovered() == Transition::Revert => lift.push(t),
                None => {}
            }
        }
        if inbox_empty == Some(false) {
            self.schedule
                .set_recheck_unknown_at(Some(Instant::now() + UNKNOWN_RECHECK));
        }
        for (t, cause) in mark {
            let decision = self.schedule.graph().decision(t);
            let attempt = self.book.mark_dep_failed(decision, cause.clone());
            self.site.events.emit(
                EventType::TaskDepFailed,
                PHASE,
                Some(&decision.task_id),
                Some(attempt),
                json!({ "reason": cause }),
            );
        }
        let graph = self.schedule.graph();
        self.book.lift_dep_failed(lift.iter().map(|&t| graph.id(t)));
    }

    /// Why task `t` can never run, if it cannot.
    fn dep_failure_cause(
        &self,
        t: usize,
        dead: &[bool],
        derived: &[bool],
        inbox_empty: &mut Option<bool>,
    ) -> Option<String> {
        let graph = self.schedule.graph();
        if let Some(cycle) = graph.cycle(t) {
            return Some(format!("dependency cycle: {cycle}"));
        }
        for &d in graph.deps(t) {
            if !dead[d] {
                continue;
            }
            let dep = graph.id(d);
            if let Some(cycle) = graph.cycle(d) {
                return Some(format!("dependency {dep:?} is in a cycle: {cycle}"));
            }
            let status = if derived[d] {
                Status::DepFailed
            } else {
                self.book.get(dep).map_or(Status::DepFailed, |r| r.status)
            };
            return Some(format!("dependency {dep:?} is {}", status.as_str()));
        }
        let unknown = graph.unknown_deps(t).first()?;
        let empty = *inbox_empty.get_or_insert_with(|| !inbox_has_task_files(&self.site.state));
        empty.then(|| {
            format!(
                "dependency {unknown:?} is unknown (no routing decision, and the inbox is empty)"
            )
        })
    }

    /// Unmet-dependency counters, the ready queue, back-off timers, and the `running`
    /// results of other executors to watch.
    pub(in crate::executor) fn rebuild_queue(&mut self) {
        let book = &self.book;
        self.schedule.recount(|id| book.succeeded(id));
        for t in 0..self.schedule.graph().len() {
            self.consider(t);
        }
        let foreign = self
            .book
            .entries()
            .iter()
            .filter(|r| {
                Stage::of_result(Some(r)) == Stage::Running && !self.supervisor.runs(&r.task_id)
            })
            .map(|r| r.task_id.clone())
            .collect();
        self.supervisor.foreign.set_running(foreign);
    }

    /// Timers that are due (back-offs, claims held elsewhere): look at their tasks again.
    /// Recovery's fixes in progress are looked at here too (every pass, before any start):
    /// the tasks a fix that ended held back are queued again.
    pub(in crate::executor) fn fire_timers(&mut self, now: Instant) {
        let recheck = Duration::from_millis(self.site.config.state.poll_interval_ms);
        self.schedule.refresh_fixes(&self.site.state, now, recheck);
        for t in self.schedule.due(now) {
            if t < self.schedule.graph().len() {
                self.consider(t);
            }
        }
    }
}
