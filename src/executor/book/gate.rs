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
    /// Whether recovery's gate verdict applies to `id`'s entry: it is `verifying` at the
    /// verdict's attempt (else it moved on: a person canceled it, a newer attempt runs).
    pub(in crate::executor) fn awaits_verdict(&self, id: &str, verdict: &GateVerdict) -> bool {
        self.get(id).is_some_and(|e| e.attempt == verdict.attempt)
            && matches!(
                self.stage(id).gate(GateOutcome::from_flag(verdict.passed)),
                Transition::To(_)
            )
    }

    /// Applies recovery's gate verdict to `id`'s `verifying` entry (attempt `attempt`);
    /// `merge_failure`: the gate passed but the isolated attempt's change could not be
    /// merged (the attempt fails with that reason). Returns the stage it moved to, or
    /// `None` if the verdict does not apply ([`Self::awaits_verdict`]).
    pub(in crate::executor) fn judge_gate(
        &mut self,
        id: &str,
        verdict: &GateVerdict,
        merge_failure: Option<String>,
    ) -> Option<Stage> {
        let entry = self.get(id)?;
        if entry.attempt != verdict.attempt {
            return None;
        }
        let passed = verdict.passed && merge_failure.is_none();
        let Transition::To(to) = self.stage(id).gate(GateOutcome::from_flag(passed)) else {
            return None;
        };
        let reason = match merge_failure {
            Some(why) => Some(why),
            None => (!passed).then(|| verdict.failure_reason()),
        };
        let r = self.update(id)?;
        enter(r, to);
        r.reason = reason.clone();
        let attempt = r.attempt;
        if let Some(a) = r.attempts.iter_mut().rev().find(|a| a.attempt == attempt) {
            enter_attempt(a, to);
            a.reason = reason;
        }
        if !passed {
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
