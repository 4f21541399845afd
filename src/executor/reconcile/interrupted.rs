//! A result `running` whose claim nobody holds was left by an executor that died: its
//! attempt becomes `failed` with reason `interrupted` ([`Stage::interrupt`]).
//!
//! [`Stage::interrupt`]: crate::lifecycle::Stage::interrupt

use std::time::Instant;

use serde_json::json;

use crate::executor::book::INTERRUPTED;
use crate::executor::{Executor, PHASE};
use crate::model::EventType;
use crate::store::Claim;

impl Executor {
    /// Checks the `running` results of other executors, when a check is due; repairs
    /// those nobody runs.
    pub(in crate::executor) fn sweep_interrupted(&mut self) {
        if self.inputs.results_broken() {
            return;
        }
        let Some(candidates) = self.supervisor.foreign_due(Instant::now()) else {
            return;
        };
        let mut still_running = Vec::new();
        for id in candidates {
            match Claim::is_held(&self.site.state, &id) {
                Ok(true) => still_running.push(id),
                Ok(false) => {
                    if !self.repair(&id) {
                        still_running.push(id);
                    }
                }
                Err(e) => {
                    tracing::warn!(phase = PHASE, task = %id, "{e}");
                    still_running.push(id);
                }
            }
        }
        self.supervisor.keep_watching(still_running);
    }

    /// Marks `id` interrupted unless it turns out to be finished or taken; `false` if it
    /// is still someone's to watch.
    fn repair(&mut self, id: &str) -> bool {
        let claim = match self.supervisor.take_claim(&self.site.state, id) {
            Ok(Some(claim)) => claim,
            Ok(None) => return false,
            Err(e) => {
                tracing::warn!(phase = PHASE, task = %id, "{e}");
                return false;
            }
        };
        // Its executor writes the result before releasing the claim: read what it wrote.
        self.refresh_results();
        let ours = self.supervisor.runs(id);
        // Kept until the next write either way: it may be one of ours whose result is
        // not on disk yet.
        self.supervisor.claims.hold(id, claim);
        if ours {
            return true;
        }
        let Some((attempt, executor)) = self.book.interrupt(id) else {
            return true;
        };
        tracing::warn!(phase = PHASE, task = %id, attempt, "attempt interrupted: its executor {executor} is gone");
        self.site.events.emit(
            EventType::TaskFailed,
            PHASE,
            Some(id),
            Some(attempt),
            json!({ "reason": INTERRUPTED, "exit_code": null, "executor": executor, "stderr_tail": "" }),
        );
        self.needs_plan = true;
        true
    }
}
