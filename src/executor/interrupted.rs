//! A result `running` whose claim nobody holds was left by an executor that died: its
//! attempt becomes `failed` with reason `interrupted` (pueue's repair after a crash, but
//! proven with a lock instead of guessed).

use std::time::{Duration, Instant};

use serde_json::json;

use super::{Executor, PHASE};
use crate::model::{EventType, Status, now_rfc3339};
use crate::store::Claim;

/// The reason recorded for an attempt whose executor died or was shut down.
pub(super) const INTERRUPTED: &str = "interrupted";

/// Between two checks of the same `running` results of other executors.
const SWEEP_INTERVAL: Duration = Duration::from_millis(250);

impl Executor {
    /// Checks the `running` results of other executors; repairs those nobody runs.
    pub(super) fn sweep_interrupted(&mut self) {
        let now = Instant::now();
        if self.foreign_running.is_empty() || self.results.is_broken() || now < self.sweep_at {
            return;
        }
        self.sweep_at = now + SWEEP_INTERVAL;
        let candidates = std::mem::take(&mut self.foreign_running);
        let mut still_running = Vec::new();
        for id in candidates {
            match Claim::is_held(&self.state, &id) {
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
        self.foreign_running.extend(still_running);
    }

    /// Marks `id` interrupted unless it turns out to be finished or taken; `false` if it
    /// is still someone's to watch.
    fn repair(&mut self, id: &str) -> bool {
        let claim = match self.take_claim(id) {
            Ok(Some(claim)) => claim,
            Ok(None) => return false,
            Err(e) => {
                tracing::warn!(phase = PHASE, task = %id, "{e}");
                return false;
            }
        };
        // Its executor writes the result before releasing the claim: read what it wrote.
        self.refresh_results();
        let dangling = !self.running.contains_key(id)
            && self
                .ledger
                .get(id)
                .is_some_and(|r| r.status == Status::Running);
        // Kept until the next write either way: it may be one of ours whose result is
        // not on disk yet.
        self.flusher.hold(id, claim);
        if !dangling {
            return true;
        }
        let now = now_rfc3339();
        let Some(r) = self.ledger.update(id) else {
            return true;
        };
        let attempt = r.attempt;
        r.status = Status::Failed;
        r.reason = Some(INTERRUPTED.to_string());
        r.exit_code = None;
        r.finished_at = Some(now.clone());
        if let Some(a) = r.attempts.iter_mut().rev().find(|a| a.attempt == attempt) {
            a.status = Status::Failed;
            a.reason = Some(INTERRUPTED.to_string());
            a.finished_at = Some(now);
        }
        let executor = r
            .attempts
            .last()
            .map(|a| a.executor.clone())
            .unwrap_or_default();
        tracing::warn!(phase = PHASE, task = %id, attempt, "attempt interrupted: its executor {executor} is gone");
        self.events.emit(
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
