//! The acceptance gate (docs/RECOVERY.md "The acceptance gate"): an attempt that exited
//! 0 for a task whose decision names a `gate` is `verifying`; recovery runs the gate's
//! `verify` argv (in the task's workdir, with its own timeout), then its `review` tool
//! (given the task, the diff of what the attempt changed and the verify output), and
//! writes the verdict to `fix_patches.json` `gates[]` (GATE_PASSED / GATE_FAILED). The
//! executor records it: `succeeded`, or `failed` with reason `gate_failed: …` /
//! `review_rejected: …` — a failure recovery then analyses, fixes and retries like any
//! other, with the gate's output as its error ([`failure`]).
//!
//! Recovery runs the gate because it already runs checks in task workdirs with its own
//! process runner (stopped at shutdown), and because a failed gate is its work next.

mod changes;
pub(super) mod failure;
mod review;
mod step;

use std::collections::{HashMap, HashSet};

use serde_json::json;

use super::files::{Inputs, RecoveryFiles};
use super::fix::{Change, StepOutcome};
use super::guard::FixLock;
use super::runner::Abort;
use super::snapshot::Snapshot;
use super::worker::Job;
use super::workspace::Workspace;
use super::{Engine, PHASE};
use crate::model::{
    EventType, FixPatches, Gate, GateRun, GateStep, GateVerdict, RoutingDecision, Status,
    TaskResult, TaskSpec, now_rfc3339,
};
use crate::store::Durability;
use step::StepRun;

/// An attempt that exited 0 and waits for its gate.
#[derive(Debug, Clone)]
pub(super) struct GateJob {
    /// The task spec (from its routing decision), its id filled in.
    pub task: TaskSpec,
    /// The gate, from the decision (`None`: a person removed it; the gate passes).
    pub gate: Option<Gate>,
    /// The executor's record as planned; its latest attempt is the one to judge.
    pub result: TaskResult,
}

impl GateJob {
    /// The attempt judged.
    pub(super) fn attempt(&self) -> u32 {
        self.result.attempt
    }
}

/// The verdict of `(task, attempt)`, if recovery wrote one.
pub(super) fn verdict_for<'a>(
    doc: &'a FixPatches,
    task: &str,
    attempt: u32,
) -> Option<&'a GateVerdict> {
    doc.gates
        .iter()
        .find(|g| g.task_id == task && g.attempt == attempt)
}

/// Planning: a job per `verifying` result with no verdict yet.
pub(super) fn jobs(
    inputs: &Inputs,
    files: &RecoveryFiles,
    decisions: &HashMap<&str, &RoutingDecision>,
    spec_of: fn(&RoutingDecision) -> TaskSpec,
) -> Vec<Job> {
    let judged: HashSet<(&str, u32)> = files
        .patches
        .doc()
        .gates
        .iter()
        .map(|g| (g.task_id.as_str(), g.attempt))
        .collect();
    inputs
        .results
        .doc()
        .results
        .iter()
        .filter(|r| r.status == Status::Verifying && r.attempt > 0)
        .filter(|r| !judged.contains(&(r.task_id.as_str(), r.attempt)))
        .filter_map(|r| {
            let decision = decisions.get(r.task_id.as_str())?;
            Some(Job::Gate(GateJob {
                task: spec_of(decision),
                gate: decision.gate.as_deref().cloned(),
                result: r.clone(),
            }))
        })
        .collect()
}

/// Runs the gate of the job's attempt (once: a verdict already written ends it) and
/// records the verdict.
pub(super) fn run(shared: &Engine, job: &GateJob) -> Result<(), Abort> {
    let ws = Workspace::new(&shared.state, &job.task, job.attempt());
    {
        let mut files = shared.files();
        files.refresh(&shared.events)?;
        if verdict_for(files.patches.doc(), ws.task_id(), ws.attempt).is_some() {
            return Ok(());
        }
    }
    let gate = job.gate.clone().unwrap_or_default();
    let mut steps: Vec<GateRun> = Vec::new();
    {
        // No other recovery process's fix may change the tree under the gate.
        let _lock = FixLock::take(&shared.state)?;
        let cx = StepRun::new(shared, &ws, &job.result);
        if !gate.verify.is_empty() {
            steps.push(cx.verify(&gate)?);
        }
        if let Some(tool) = gate.review.as_deref()
            && steps.iter().all(|s| s.passed)
        {
            // A reviewer only reviews: what it changes in the workdir is found, recorded
            // as out-of-scope patches, and fails the review for a person to look at.
            let workdir = cx.workdir();
            let skip = shared.state.root();
            let before = Snapshot::take(&workdir, &[], skip);
            let mut review = review::run(&cx, tool, steps.first())?;
            let edits = before.changes(&Snapshot::take(&workdir, &[], skip), &workdir);
            if !edits.is_empty() {
                refuse_edits(shared, &ws, tool, &mut review, edits)?;
            }
            steps.push(review);
        }
    }
    record(shared, &ws, steps, job.gate.is_none())
}

/// The words a review step's outcome starts with when the reviewer changed files: how
/// the analysis of the failed gate knows it is for a person ([`failure::retype`]).
pub(super) const REVIEWER_EDITED: &str = "the reviewer changed files";

/// Records a reviewer's `edits` as out-of-scope patches (kept on disk, as a fix step's
/// are) and fails its review step, naming them.
fn refuse_edits(
    shared: &Engine,
    ws: &Workspace,
    tool: &str,
    review: &mut GateRun,
    edits: Vec<super::snapshot::FileChange>,
) -> Result<(), Abort> {
    let names: Vec<String> = edits.iter().map(|c| c.file.clone()).collect();
    tracing::warn!(task = %ws.task_id(), attempt = ws.attempt, files = ?names, "recovery: the reviewer {tool} changed files; a reviewer may only review");
    let outcome = StepOutcome {
        changes: edits
            .into_iter()
            .map(|change| Change {
                fixer: format!("review:{tool}"),
                change,
                out_of_scope: true,
            })
            .collect(),
        ..StepOutcome::default()
    };
    super::record::patches(shared, ws, &outcome)?;
    review.passed = false;
    review.outcome = format!(
        "{REVIEWER_EDITED} ({}), which it must not do: recorded as out-of-scope patches",
        names.join(", ")
    );
    Ok(())
}

/// GATE_PASSED or GATE_FAILED (flushed first, so the log stays causal), then the verdict.
fn record(
    shared: &Engine,
    ws: &Workspace,
    steps: Vec<GateRun>,
    removed: bool,
) -> Result<(), Abort> {
    let failed = steps.iter().find(|s| !s.passed);
    let reason = match failed {
        Some(s) => step_reason(s),
        None if removed => "the task's decision names no gate any more".to_string(),
        None => {
            let names: Vec<&str> = steps.iter().map(|s| s.step.as_str()).collect();
            format!("{} passed", names.join(" and "))
        }
    };
    let verdict = GateVerdict {
        task_id: ws.task_id().to_string(),
        attempt: ws.attempt,
        passed: failed.is_none(),
        failed_step: failed.map(|s| s.step),
        reason,
        steps,
        decided_at: now_rfc3339(),
    };
    let kind = match verdict.passed {
        true => EventType::GatePassed,
        false => EventType::GateFailed,
    };
    let steps: Vec<_> = verdict
        .steps
        .iter()
        .map(|s| {
            json!({
                "step": s.step,
                "tool": s.tool,
                "passed": s.passed,
                "outcome": s.outcome,
                "duration_ms": s.duration_ms,
                "log_out": s.log_out,
                "log_err": s.log_err,
            })
        })
        .collect();
    shared.events.emit(
        kind,
        PHASE,
        Some(ws.task_id()),
        Some(ws.attempt),
        json!({
            "passed": verdict.passed,
            "failed_step": verdict.failed_step,
            "reason": verdict.reason,
            "steps": steps,
        }),
    );
    shared.events.flush()?;
    let mut files = shared.files();
    // Not fsynced: the executor waits on this write, and a verdict lost in a power cut
    // only means the gate runs again (as it does after a shutdown). The task's result
    // becomes durable in the executor's own write.
    files.patches.update_with(
        shared.lock_wait(),
        (shared.events.run_id(), &shared.events),
        move |doc| upsert(doc, verdict),
        Durability::Unsynced,
    )?;
    Ok(())
}

/// One line on a failed step: what ran, how it ended, and the last (verify) or first
/// (review: its verdict) line it said.
fn step_reason(s: &GateRun) -> String {
    let said = |pick_last: bool| {
        let mut lines = s.output.lines().map(str::trim).filter(|l| !l.is_empty());
        let line = if pick_last {
            lines.next_back()
        } else {
            lines.next()
        };
        line.map(|l| format!(": {}", cut(l, 200)))
            .unwrap_or_default()
    };
    match s.step {
        GateStep::Verify => format!("verify {}{}", s.outcome, said(true)),
        GateStep::Review => {
            let tool = s.tool.as_deref().unwrap_or("?");
            format!(
                "review by {tool} rejected it ({}){}",
                s.outcome,
                said(false)
            )
        }
    }
}

/// `text` cut to at most `max` bytes at a character boundary, with `…` when cut.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Replaces the verdict of the same `(task, attempt)`, or appends it.
fn upsert(doc: &mut FixPatches, verdict: GateVerdict) {
    match doc
        .gates
        .iter_mut()
        .find(|g| g.task_id == verdict.task_id && g.attempt == verdict.attempt)
    {
        Some(slot) => *slot = verdict,
        None => doc.gates.push(verdict),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_step_says_what_ran_and_what_it_said() {
        let verify = GateRun {
            step: GateStep::Verify,
            outcome: "exit code 1".into(),
            output: "collected 3 items\nFAILED test_x - assert 1 == 2\n\n".into(),
            ..GateRun::default()
        };
        assert_eq!(
            step_reason(&verify),
            "verify exit code 1: FAILED test_x - assert 1 == 2"
        );
        let review = GateRun {
            step: GateStep::Review,
            tool: Some("claude".into()),
            outcome: "exit code 1".into(),
            output: "Rejected: no test covers the new branch\nmore\n".into(),
            ..GateRun::default()
        };
        assert_eq!(
            step_reason(&review),
            "review by claude rejected it (exit code 1): Rejected: no test covers the new branch"
        );
    }

    #[test]
    fn cut_keeps_characters_whole() {
        assert_eq!(cut("ééé", 3), "é…");
        assert_eq!(cut("abc", 3), "abc");
    }
}
