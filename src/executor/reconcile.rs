//! One reconcile pass, as ordered small passes over the executor's parts (pueue's tick):
//!
//! 1. `reports`: take what the attempt runner reported (started, refused, finished) and
//!    record it (`finished`);
//! 2. inputs: re-read the files that changed (a `stat` each when nothing did);
//! 3. if any changed, re-derive everything ([`Executor::plan`]): `requests` (cancel,
//!    retry), `gate` (acceptance gate verdicts: `verifying` → `succeeded`/`failed`),
//!    `advice` (recovery's recommendations: retries, quarantines),
//!    `dependencies` (`dep_failed`, counters, the ready queue);
//! 4. `foreign`: attempts this process does not run — adopt those whose engine died,
//!    record those that ended from their outcome records, or as interrupted;
//! 5. `spawn`: start ready tasks within the limits;
//! 6. `flush`: write the results when the cadence allows, the pass's events first.
//!
//! Each pass is idempotent, so a pass after a crash, a missed event or a hand edit puts
//! things right (level-triggered, DESIGN.md §3).

mod advice;
mod cluster;
mod dependencies;
mod finished;
mod flush;
mod foreign;
mod gate;
mod left;
mod reports;
mod requests;
mod spawn;

use std::time::Instant;

use super::Executor;
use super::inputs::Refreshed;
use crate::lifecycle::next_step;
use crate::phase::Outcome;

impl Executor {
    /// One pass, in order.
    pub(super) fn pass(&mut self) -> Outcome {
        // Before anything can be dispatched: a job a previous engine submitted is never
        // submitted again.
        self.adopt_cluster_jobs();
        self.collect_reports();
        self.read_inputs();
        let now = Instant::now();
        if self.schedule.recheck_due(now) {
            self.needs_plan = true;
        }
        if self.needs_plan {
            self.plan();
        }
        self.sweep_foreign();
        self.fire_timers(now);
        // A runner that died is replaced here (at most once a second).
        self.supervisor.runner_ready(now);
        self.dispatch();
        let now = Instant::now();
        self.maybe_flush(now);
        self.flush_events(now);
        self.outcome(Instant::now())
    }

    /// Re-derives everything from the files as last read.
    pub(super) fn plan(&mut self) {
        self.needs_plan = false;
        self.schedule.set_recheck_unknown_at(None);
        // Without a valid results file there is nothing to derive from, and no change
        // could be written anyway.
        if !self.inputs.results_broken() {
            if !self.inputs.control_broken() {
                self.handle_requests();
            }
            if self.inputs.advice().is_some() {
                self.apply_gate_verdicts();
                self.apply_recommendations();
            }
            self.derive_dep_failed();
        }
        self.rebuild_queue();
    }

    /// Re-reads the files that changed and hands new content to the parts that keep it;
    /// any change means the whole picture is re-derived.
    pub(super) fn read_inputs(&mut self) {
        let polled = self.inputs.poll(&self.site.events);
        if let Some(doc) = polled.results {
            self.book.adopt(doc);
        }
        if let Some(decisions) = polled.decisions {
            self.schedule.set_decisions(decisions);
        }
        if polled.changed {
            self.needs_plan = true;
        }
    }

    /// Looks at the results file again before acting on a task under its claim; `true`
    /// if someone else changed it (or it is invalid now), so the caller must look at the
    /// task again.
    pub(super) fn refresh_results(&mut self) -> bool {
        match self.inputs.refresh_results(&self.site.events) {
            Refreshed::Changed(doc) => {
                self.book.adopt(doc);
                self.needs_plan = true;
                true
            }
            Refreshed::Recovered => {
                self.needs_plan = true;
                false
            }
            Refreshed::Unchanged => false,
            Refreshed::Broken => true,
        }
    }

    /// Whether new attempts may start: not stopping, a runner is up, and the files they
    /// depend on are valid.
    pub(super) fn can_start(&self) -> bool {
        !self.stopping && self.supervisor.runner_up() && self.inputs.allow_starts()
    }

    /// Queues task `t` if its dependencies are met and its result asks for an attempt
    /// (now, or at its back-off time).
    pub(super) fn consider(&mut self, t: usize) {
        if !self.schedule.is_unblocked(t) {
            return;
        }
        let id = self.schedule.graph().id(t);
        if self.supervisor.runs(id) {
            return;
        }
        if let Some(until) = self.supervisor.held_back(id, Instant::now()) {
            // Refused for a passing error (a full disk): not before its back-off.
            self.schedule.at(until, t);
            return;
        }
        let next = next_step(id, self.book.get(id), self.inputs.advice());
        self.schedule.offer(t, &next);
    }

    /// What the coordinator needs to know after a pass: when to wake it without an
    /// event, and whether it is idle.
    fn outcome(&self, now: Instant) -> Outcome {
        let flush_pending = self.book.is_dirty() && !self.inputs.results_broken();
        let next_wake = [
            flush_pending.then(|| self.book.write_due().unwrap_or(now)),
            self.book.cadence.events_due(),
            self.schedule.next_timer(),
            self.supervisor.next_sweep(),
            self.supervisor.slurm_wake(now),
            self.supervisor.runner_retry_at(),
            self.supervisor
                .started_check_at(self.book.cadence.interval(), now),
            self.schedule.recheck_unknown_at(),
            self.inputs.next_check(),
            self.needs_plan.then_some(now),
        ]
        .into_iter()
        .flatten()
        .min();
        let runnable_now = self.can_start() && !self.schedule.is_empty();
        Outcome {
            next_wake,
            idle: self.supervisor.count() == 0
                && self.supervisor.foreign.is_empty()
                && !runnable_now
                && !flush_pending
                && !self.needs_plan,
        }
    }
}
