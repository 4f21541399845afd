//! At start: what an engine that died may have left that the results file does not show —
//! a fence naming an attempt beyond the task's entry (it died between the runner's
//! `started` and its results write), an outcome record not yet recorded (its runner
//! finished the attempt after it died). Each such task is watched, and settled at the
//! first sweep (`foreign`). Records already in the results file (it died between the
//! write and the ack) are removed. Cheap: one listing of `claims/` and of `attempts/`,
//! and a fence read only for tasks that can still run.

use std::time::Instant;

use crate::executor::{Executor, PHASE};
use crate::lifecycle::Stage;
use crate::model::Status;
use crate::store::{Fence, list_claims, list_outcomes};

impl Executor {
    /// Watches every task with an attempt the results file does not have.
    pub(in crate::executor) fn look_for_left_attempts(&mut self) {
        if self.inputs.results_broken() {
            return;
        }
        let now = Instant::now();
        match list_outcomes(&self.site.state) {
            Ok(records) => {
                for (id, attempt) in records {
                    if self.recorded(&id, attempt) {
                        self.supervisor.acks.remove_later(&id, attempt);
                    } else {
                        self.supervisor.foreign.watch(&id, now);
                    }
                }
            }
            Err(e) => tracing::warn!(phase = PHASE, "{e}"),
        }
        let claims = match list_claims(&self.site.state) {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(phase = PHASE, "{e}");
                return;
            }
        };
        for id in claims {
            if self.supervisor.foreign.contains(&id) || !self.may_run_again(&id) {
                continue;
            }
            let known = self.book.get(&id).map_or(0, |r| r.attempt);
            match Fence::read(&self.site.state, &id) {
                Ok(Some(fence)) if fence.attempt > known => {
                    self.supervisor.foreign.watch(&id, now);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(phase = PHASE, task = %id, "{e}"),
            }
        }
    }

    /// Whether `attempt` of `id` is in the results with its outcome.
    fn recorded(&self, id: &str, attempt: u32) -> bool {
        self.book.get(id).is_some_and(|r| {
            r.attempts
                .iter()
                .any(|a| a.attempt == attempt && a.status != Status::Running)
        })
    }

    /// Whether `id`'s entry still lets an attempt start (or shows one running): only
    /// then can its fence be ahead of it, short of a hand edit.
    fn may_run_again(&self, id: &str) -> bool {
        !matches!(
            self.book.stage(id),
            Stage::Succeeded | Stage::Quarantined | Stage::Canceled | Stage::DepFailed
        )
    }
}
