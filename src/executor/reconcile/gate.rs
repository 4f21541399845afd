//! The acceptance gate, executor side (docs/RECOVERY.md "The acceptance gate"): an
//! attempt that exits 0 for a task whose decision has a `gate` is recorded `verifying`
//! (TASK_VERIFYING) instead of `succeeded`; recovery runs the gate and writes its verdict
//! to `fix_patches.json` (`gates[]`); this pass records the verdict — `succeeded`
//! (TASK_SUCCEEDED), or `failed` with reason `gate_failed: …` / `review_rejected: …`
//! (TASK_FAILED), which recovery then analyses like any failure. An isolated attempt's
//! change is merged into the task's workdir only once its gate passed
//! ([`crate::agent::settle_gated`]).

use serde_json::json;

use crate::executor::supervisor::Done;
use crate::executor::{Executor, PHASE};
use crate::lifecycle::{Ending, Stage};
use crate::model::{EventType, GateVerdict};

impl Executor {
    /// How an attempt that ended `ending` is recorded: an exit 0 of a task with a gate
    /// awaits the gate.
    pub(in crate::executor) fn gated(&self, id: &str, ending: Ending) -> Ending {
        let graph = self.schedule.graph();
        let has_gate = graph
            .find(id)
            .is_some_and(|t| graph.decision(t).gate.is_some());
        match ending {
            Ending::Succeeded if has_gate => Ending::AwaitsGate,
            other => other,
        }
    }

    /// TASK_VERIFYING's data: how the attempt ended and the gate it now waits for.
    pub(in crate::executor) fn verifying_data(
        &self,
        id: &str,
        exit_code: Option<i32>,
        done: &Done,
    ) -> serde_json::Value {
        let graph = self.schedule.graph();
        let gate = graph.find(id).and_then(|t| graph.decision(t).gate.clone());
        json!({
            "exit_code": exit_code,
            "duration_ms": done.duration_ms,
            "files_modified": done.files_modified,
            "gate": gate,
        })
    }

    /// Records every gate verdict on a `verifying` attempt.
    pub(in crate::executor) fn apply_gate_verdicts(&mut self) {
        let Some(advice) = self.inputs.advice() else {
            return;
        };
        let verdicts: Vec<GateVerdict> = self
            .book
            .entries()
            .iter()
            .filter(|r| Stage::of_result(Some(r)) == Stage::Verifying)
            .filter(|r| !self.supervisor.runs(&r.task_id))
            .filter_map(|r| advice.gate(&r.task_id, r.attempt).cloned())
            .collect();
        for verdict in verdicts {
            self.record_gate(&verdict);
        }
    }

    /// Moves the verdict's task on and announces it; the re-derivation that follows
    /// (`rebuild_queue`) starts its dependents after a pass.
    fn record_gate(&mut self, verdict: &GateVerdict) {
        let id = verdict.task_id.as_str();
        if !self.book.awaits_verdict(id, verdict) {
            return;
        }
        // An isolated attempt's change was kept in its worktree for the gate: merged into
        // the workdir only now that it passed; after a failed gate only its patch remains.
        let settled = crate::agent::settle_gated(
            &self.site.state,
            self.book.get(id),
            id,
            verdict.attempt,
            verdict.passed,
        );
        let merge_failure = settled.failure.clone();
        let Some(to) = self.book.judge_gate(id, verdict, merge_failure) else {
            return;
        };
        self.book.record_agent(id, verdict.attempt, settled);
        let Some(r) = self.book.get(id) else {
            return;
        };
        let gate = json!({
            "passed": verdict.passed,
            "failed_step": verdict.failed_step,
            "reason": verdict.reason,
        });
        let (kind, data) = match to {
            Stage::Succeeded => (
                EventType::TaskSucceeded,
                json!({
                    "exit_code": r.exit_code,
                    "duration_ms": r.duration_ms,
                    "files_modified": r.files_modified,
                    "gate": gate,
                }),
            ),
            _ => (
                EventType::TaskFailed,
                json!({
                    "exit_code": r.exit_code,
                    "signal": null,
                    "reason": r.reason,
                    "error_type": verdict.failed_step.map(|s| s.failure_kind()),
                    "stderr_tail": verdict.steps.last().map(|s| s.output.as_str()),
                    "duration_ms": r.duration_ms,
                    "timed_out": false,
                    "gate": gate,
                }),
            ),
        };
        let attempt = r.attempt;
        self.site
            .events
            .emit(kind, PHASE, Some(id), Some(attempt), data);
    }
}
