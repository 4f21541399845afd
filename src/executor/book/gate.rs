//! The acceptance gate in the results: an attempt that exited 0 for a task with a gate is
//! recorded `verifying` ([`Ending::AwaitsGate`](crate::lifecycle::Ending)), and recovery's
//! verdict moves it to `succeeded` or `failed` ([`Stage::gate`]). The hand-offs recovery
//! waits for — `verifying`, and `failed` after a failed gate — are written promptly; a
//! success waits for the usual cadence like any other (this executor starts the
//! dependents itself, and one write less keeps recovery from re-reading the file just
//! before the next `verifying` in a chain).

use super::ResultsBook;
use super::transitions::{enter, enter_attempt};
use crate::lifecycle::{GateOutcome, Stage, Transition};
use crate::model::GateVerdict;

impl ResultsBook {
    /// Applies recovery's gate verdict to `id`'s `verifying` entry (attempt `attempt`).
    /// Returns the stage it moved to, or `None` if the verdict does not apply (the entry
    /// moved on: a person canceled it, a newer attempt runs).
    pub(in crate::executor) fn judge_gate(
        &mut self,
        id: &str,
        verdict: &GateVerdict,
    ) -> Option<Stage> {
        let entry = self.get(id)?;
        if entry.attempt != verdict.attempt {
            return None;
        }
        let Transition::To(to) = self.stage(id).gate(GateOutcome::from_flag(verdict.passed)) else {
            return None;
        };
        let reason = (!verdict.passed).then(|| verdict.failure_reason());
        let r = self.update(id)?;
        enter(r, to);
        r.reason = reason.clone();
        let attempt = r.attempt;
        if let Some(a) = r.attempts.iter_mut().rev().find(|a| a.attempt == attempt) {
            enter_attempt(a, to);
            a.reason = reason;
        }
        if !verdict.passed {
            self.hurry();
        }
        Some(to)
    }

    /// Something another phase waits for changed (an attempt entered `verifying`, a gate
    /// verdict was recorded): write it at the next pass's end, not after the coalescing
    /// interval.
    pub(in crate::executor) fn hurry(&mut self) {
        self.hurried = true;
    }
}
