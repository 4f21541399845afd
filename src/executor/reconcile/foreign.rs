//! Attempts this executor does not run (docs/ATTEMPTS.md, "What a restarted engine must
//! do"): a `running` result of another executor, or an attempt a fence names that the
//! results file does not have. Always the claim first, then the record:
//!
//! - **claim held**: the attempt runs (or ended, not yet recorded) under some runner.
//!   Never started again. If its engine is gone, it is *adopted*: shown `running`, a
//!   cancel request ends its group (the fence's `pgid`), and so does a deadline its runner
//!   let pass;
//! - **claim free**: taken here (no runner starts the task meanwhile), the results file
//!   looked at again (a live owner writes before it releases), then the fence: its attempt
//!   is recorded from its outcome record, or — no record: its runner died with it — its
//!   group is SIGKILLed if anything of it is left, and it is recorded `interrupted`, which
//!   uses no retry budget.

mod record;

use std::time::{Duration, Instant};

use crate::executor::supervisor::engine_gone;
use crate::executor::{Executor, PHASE, times};
use crate::lifecycle::Stage;
use crate::process::kill_group;
use crate::store::{Claim, Fence};

/// A deadline the attempt's own runner let pass by this much (beyond the kill grace) is
/// enforced from here.
const OVERDUE: Duration = Duration::from_secs(5);

impl Executor {
    /// Looks at the watched attempts, when a look is due.
    pub(in crate::executor) fn sweep_foreign(&mut self) {
        if self.inputs.results_broken() {
            return;
        }
        let Some(ids) = self.supervisor.foreign.due(Instant::now()) else {
            return;
        };
        for id in ids {
            // A cluster job (a submission record): the Slurm lane reports it. Queued, it
            // has a free claim and no fence, which is no sign of an interrupted attempt.
            if self.supervisor.slurm.owns(&id) {
                self.supervisor.foreign.forget(&id);
                continue;
            }
            if self.supervisor.runs(&id) || self.supervisor.acks.waits_on(&id) {
                // Ours after all: our runner holds its claim.
                self.supervisor.foreign.forget(&id);
                continue;
            }
            if self.supervisor.claims.holds(&id) {
                // Recorded here already; looked at again after the write.
                continue;
            }
            match Claim::is_held(&self.site.state, &id) {
                Ok(true) => self.adopt(&id),
                Ok(false) => {
                    if self.settle(&id) {
                        self.supervisor.foreign.forget(&id);
                        if let Some(t) = self.schedule.graph().find(&id) {
                            self.consider(t);
                        }
                    }
                }
                Err(e) => tracing::warn!(phase = PHASE, task = %id, "{e}"),
            }
        }
    }

    /// The claim of `id` is held: if the attempt's engine is gone, it is shown `running`
    /// and cancels and an overdue deadline are carried out on its group.
    fn adopt(&mut self, id: &str) {
        let fence = match Fence::read(&self.site.state, id) {
            Ok(Some(fence)) => fence,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(phase = PHASE, task = %id, "{e}");
                return;
            }
        };
        if !engine_gone(&fence.runner, &self.site.executor_id) {
            return;
        }
        let entry = self.book.get(id);
        let known = entry.map_or(0, |r| r.attempt);
        if fence.attempt > known {
            self.record_adopted(id, &fence);
        } else if fence.attempt < known || self.book.stage(id) != Stage::Running {
            // Recorded already: its runner only writes the outcome record now.
            return;
        }
        self.enforce(id, &fence);
    }

    /// Ends an adopted attempt's group when a cancel asks for it or its deadline is long
    /// past: SIGTERM, then SIGKILL after the kill grace.
    fn enforce(&mut self, id: &str, fence: &Fence) {
        let Some(pgid) = fence.pgid.and_then(|p| i32::try_from(p).ok()) else {
            return;
        };
        let grace = Duration::from_millis(self.site.config.execution.kill_grace_ms);
        let overdue = fence
            .deadline
            .as_deref()
            .and_then(times::parse)
            .is_some_and(|d| {
                let ms = u64::try_from((grace + OVERDUE).as_millis()).unwrap_or(u64::MAX);
                times::add_ms(d, ms) <= jiff::Timestamp::now()
            });
        let Some(w) = self.supervisor.foreign.get_mut(id) else {
            return;
        };
        if w.cancel_requests.is_empty() && !overdue {
            return;
        }
        let now = Instant::now();
        match w.term_sent {
            None => {
                tracing::info!(phase = PHASE, task = %id, pgid, "ending an adopted attempt (canceled, or past its deadline)");
                kill_group(pgid, rustix::process::Signal::TERM);
                w.term_sent = Some(now);
            }
            Some(at) if now >= at + grace => kill_group(pgid, rustix::process::Signal::KILL),
            Some(_) => {}
        }
    }

    /// The claim of `id` was free: records what its fence says happened; `true` when
    /// nothing is left to watch.
    fn settle(&mut self, id: &str) -> bool {
        let claim = match Claim::try_acquire(&self.site.state, id) {
            Ok(Some(claim)) => claim,
            Ok(None) => return false,
            Err(e) => {
                tracing::warn!(phase = PHASE, task = %id, "{e}");
                return false;
            }
        };
        // A live owner writes its result before it releases the claim: read it.
        self.refresh_results();
        let fence = match Fence::read(&self.site.state, id) {
            Ok(fence) => fence,
            Err(e) => {
                // Nobody can tell which attempt it stood for.
                tracing::warn!(phase = PHASE, task = %id, "{e}");
                None
            }
        };
        let fenced = fence.as_ref().map_or(0, |f| f.attempt);
        let known = self.book.get(id).map_or(0, |r| r.attempt);
        let mut changed = false;
        if self.book.stage(id) == Stage::Running && fenced <= known {
            // `running` in the file: it ran under that fence, or never reached a runner.
            let ran = fence.as_ref().filter(|f| f.attempt == known);
            changed = self.record_left(id, known, ran);
        } else if let Some(fence) = fence.as_ref().filter(|f| f.attempt > known) {
            if self.book.stage(id) == Stage::Running {
                // A later attempt started than the file knows; the one it shows ended.
                self.interrupt_running(id);
            }
            changed = self.record_ahead(id, fence);
        } else if fenced == known && fenced > 0 && self.outcome_record(id, known).is_some() {
            // Recorded already (its engine died between the write and the ack): the
            // record is not needed any more.
            self.supervisor.acks.remove_later(id, known);
        }
        let asked_cancel = self
            .supervisor
            .foreign
            .get_mut(id)
            .is_some_and(|w| !w.cancel_requests.is_empty());
        if changed || asked_cancel {
            // A cancel not recorded with an outcome is carried out on the task as it
            // now stands.
            self.needs_plan = true;
        }
        if changed {
            // Held until the change is on disk: no runner starts the task meanwhile.
            self.supervisor.claims.hold(id, claim);
        }
        true
    }
}
