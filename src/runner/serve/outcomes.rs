//! How an attempt's end leaves the runner: reported to the engine and released at its
//! ack — or, once the engine is gone, written as an outcome record and then released.

use std::time::{Duration, Instant};

use super::Runner;
use crate::runner::protocol::RunnerMessage;
use crate::runner::supervise::Attempt;
use crate::runner::timers::Timer;
use crate::store::write_outcome;

/// Between two tries at an outcome record that could not be written (disk full).
const RECORD_RETRY: Duration = Duration::from_secs(1);
/// After this long without managing to write an outcome record, the claim is released
/// without one: the engine then records the attempt as interrupted and runs the next.
const RECORD_GIVE_UP: Duration = Duration::from_secs(120);

impl Runner {
    /// An attempt that just ended is reported to the engine, or recorded if it is gone.
    pub(super) fn report_if_ended(&mut self, id: u64) {
        let Some(finished) = self.attempts.get_mut(&id).and_then(Attempt::take_report) else {
            return;
        };
        let (task, attempt, succeeded) = (
            finished.task.clone(),
            finished.attempt,
            finished.succeeded(),
        );
        let message = RunnerMessage::Finished(finished);
        if self.link.alive() {
            if !self.link.send(&message) {
                self.engine_gone();
            }
        } else {
            self.record(id);
        }
        self.settle_held(&task, attempt, succeeded);
    }

    /// The engine is gone: every ended attempt it did not ack gets its outcome record now,
    /// every running one when it ends.
    /// Idempotent: records being retried are left to their timers.
    pub(super) fn engine_gone(&mut self) {
        self.link.close(&self.poller);
        // Never started, so nothing of them was written: nobody is left to ask for them.
        self.queue.clear();
        self.held.clear();
        let ended: Vec<u64> = self
            .attempts
            .iter()
            .filter(|(id, a)| a.finished().is_some() && !self.unrecorded.contains_key(id))
            .map(|(id, _)| *id)
            .collect();
        ended.into_iter().for_each(|id| self.record(id));
    }

    /// Writes the outcome record, then releases the claim; retries a failed write for a
    /// while, holding the claim meanwhile.
    pub(super) fn record(&mut self, id: u64) {
        let Some(finished) = self.attempts.get(&id).and_then(Attempt::finished) else {
            return;
        };
        let outcome = finished.to_outcome(&self.id, &self.host);
        match write_outcome(&self.state, &outcome) {
            Ok(_) => self.release(id),
            // The state directory itself is gone (a test's temporary project removed):
            // nobody is left to read a record, and nothing is gained by waiting.
            Err(_) if !self.state.root().exists() => self.release(id),
            Err(e) => {
                let now = Instant::now();
                let give_up = *self.unrecorded.entry(id).or_insert(now + RECORD_GIVE_UP);
                if now >= give_up {
                    tracing::error!("{e}; releasing the claim without an outcome record");
                    self.release(id);
                } else {
                    tracing::warn!("{e}; trying again");
                    self.timers.set(now + RECORD_RETRY, Timer::Record(id));
                }
            }
        }
    }

    /// Forgets the attempt, which releases its claim.
    pub(super) fn release(&mut self, id: u64) {
        self.unrecorded.remove(&id);
        if let Some(a) = self.attempts.remove(&id) {
            self.by_task.remove(&a.task);
        }
    }
}
