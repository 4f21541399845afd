//! Recovery of one failed attempt: BASELINE (detectors, classification; the analysis is
//! committed *before* any fix runs), the ladder steps, then the verdict — a `retries[]`
//! entry in `fix_patches.json`. An analysis without that entry means "resume this step".

use std::sync::Arc;

use serde_json::json;

use super::classify::{Facts, classify};
use super::detect::{Focus, run_all};
use super::gate::failure;
use super::guard::{FixLock, Neighbours};
use super::index::TaskIndex;
use super::output::attempt_output;
use super::quarantine::{latest_attempt, quarantine};
use super::runner::Abort;
use super::step::{Budget, Next, rung};
use super::workspace::Workspace;
use super::{Engine, PHASE, ladder, record};
use crate::model::{
    Action, Attempt, Classification, ErrorAnalysis, EventType, ExecutionResults, FailureKind,
    LadderStep, TaskResult, TaskSpec, now_rfc3339,
};
use crate::store::WatchedDoc;

/// The reason the executor gives an attempt its own crash cut short.
const INTERRUPTED: &str = "interrupted";

/// A failed attempt to recover.
#[derive(Debug, Clone)]
pub(super) struct AttemptJob {
    /// The task spec (from its routing decision).
    pub task: TaskSpec,
    /// The tool that ran it.
    pub tool: String,
    /// The executor's record as planned; its latest attempt is the failed one.
    pub result: TaskResult,
    /// Every routed task's area and dependencies, as of planning.
    pub index: Arc<TaskIndex>,
}

impl AttemptJob {
    /// The failed attempt's number.
    pub(super) fn attempt(&self) -> u32 {
        self.result.attempt
    }
}

/// Analyses the attempt (once), runs its ladder steps, records the verdict.
///
/// The job works from the result as planned: analysing an attempt the task has since
/// moved past is harmless, and re-reading a big results file for every job is not. A fix
/// step and quarantine check the file again first.
pub(super) fn recover(
    shared: &Engine,
    results: &mut WatchedDoc<ExecutionResults>,
    job: &AttemptJob,
) -> Result<(), Abort> {
    let result = &job.result;
    let ws = Workspace::new(&shared.state, &job.task, job.attempt());
    let mut others = Neighbours {
        index: &job.index,
        results,
    };
    let existing = {
        let mut files = shared.files();
        files.refresh(&shared.events)?;
        if record::retry_for(files.patches.doc(), ws.task_id(), ws.attempt).is_some() {
            return Ok(());
        }
        record::analysis_for(files.analyses.doc(), ws.task_id(), ws.attempt).cloned()
    };
    let latest = latest_attempt(result);
    let budget = Budget {
        failures: counted_failures(result),
        limit: shared.config.failure_budget(&ws.task),
    };
    let mut analysis = match existing {
        Some(resumed) => {
            tracing::info!(task = %ws.task_id(), attempt = ws.attempt, step = %resumed.ladder_step, "resuming ladder step");
            resumed
        }
        None => baseline(shared, &ws, result, &latest, budget)?,
    };
    loop {
        match analysis.ladder_step.clone() {
            LadderStep::Retry => {
                let reason = analysis.summary.clone();
                return Ok(record::verdict(
                    shared,
                    &ws,
                    true,
                    &LadderStep::Retry,
                    Vec::new(),
                    reason,
                )?);
            }
            LadderStep::Quarantine => {
                return quarantine(shared, &ws, &job.tool, &mut others, &analysis);
            }
            // A rung. A hand-written analysis naming no step (BASELINE) runs as an unknown
            // agent tier does: it changes nothing, and the attempt climbs on.
            step @ (LadderStep::MechanicalFix | LadderStep::Agent(_) | LadderStep::Baseline) => {
                let next = rung(
                    shared,
                    &ws,
                    &mut analysis,
                    &latest,
                    &step,
                    budget,
                    &mut others,
                )?;
                if next == Next::Done {
                    return Ok(());
                }
            }
        }
    }
}

/// Failed attempts since `budget_from_attempt` that count against the budget: an
/// attempt cut short by the engine's own crash (`interrupted`) never does.
fn counted_failures(result: &TaskResult) -> u32 {
    let counted = result
        .attempts
        .iter()
        .filter(|a| a.attempt >= result.budget_from_attempt && a.status.is_failure())
        .filter(|a| a.reason.as_deref() != Some(INTERRUPTED))
        .count() as u32;
    // A result without its history still failed once.
    if result.attempts.is_empty() && result.reason.as_deref() != Some(INTERRUPTED) {
        return 1;
    }
    counted
}

/// BASELINE: run the detectors, read the attempt's output, classify, commit the analysis.
fn baseline(
    shared: &Engine,
    ws: &Workspace,
    result: &TaskResult,
    latest: &Attempt,
    budget: Budget,
) -> Result<ErrorAnalysis, Abort> {
    // A failed acceptance gate: the gate's output is the error (`gate/failure.rs`).
    let gate = failure::verdict(shared.files().patches.doc(), ws.task_id(), latest);
    let output = match &gate {
        Some(v) => attempt_output(&shared.state, &failure::as_attempt(latest, v)),
        None => attempt_output(&shared.state, latest),
    };
    let own = output.issues(&ws.workdir);
    let touched = latest
        .files_modified
        .iter()
        .map(String::as_str)
        .chain(own.iter().filter_map(|i| i.file.as_deref()));
    let focus = Focus::new(ws, touched);
    let scan = {
        // No other recovery process's fix may be changing the tree under the detectors.
        let _lock = FixLock::take(&shared.state)?;
        run_all(
            &shared.detectors,
            &shared.runner,
            ws,
            &shared.config,
            &focus,
        )?
    };
    let mut files = shared.files();
    files.refresh(&shared.events)?;
    if let Some(done) = record::analysis_for(files.analyses.doc(), ws.task_id(), ws.attempt) {
        return Ok(done.clone());
    }
    let recovery = &shared.config.recovery;
    let position = ladder::position(
        &recovery.ladder,
        &files.analyses.doc().analyses,
        ws.task_id(),
        result.budget_from_attempt,
        ws.attempt,
    );
    let mut diagnosis = classify(
        &Facts {
            attempt: latest,
            output: &output.text,
            runs: &scan.runs,
            failures: budget.failures,
            budget: budget.limit,
            ladder: &recovery.ladder,
            position,
            retry_unfixable: recovery.retry_unfixable,
        },
        &shared.patterns,
    );
    if let Some(v) = &gate {
        failure::retype(&mut diagnosis, v);
    }
    // A refused API key: say which tool and which variable (src/agent/auth.rs).
    if diagnosis.classification == Classification::NeedsHuman
        && let Some(hint) = crate::agent::key_refused(&shared.config, &latest.tool_id, &output.text)
    {
        diagnosis.summary = format!("{hint}; {}", diagnosis.summary);
    }
    let too_many = latest.files_modified.len() > recovery.max_files_changed as usize;
    if too_many && diagnosis.classification != Classification::NeedsHuman {
        diagnosis.classification = Classification::NeedsHuman;
        diagnosis.error_type = FailureKind::ScopeEscalation;
        diagnosis.action = Action::Quarantine;
        diagnosis.ladder_step = LadderStep::Quarantine;
        diagnosis.fix_agent = None;
        diagnosis.summary = format!(
            "attempt {} changed {} files, more than recovery.max_files_changed ({}): a person \
             should review the change: quarantine",
            ws.attempt,
            latest.files_modified.len(),
            recovery.max_files_changed
        );
    }
    let mut issues: Vec<_> = scan
        .runs
        .iter()
        .flat_map(|r| r.issues.iter().cloned())
        .collect();
    issues.extend(own);
    let analysis = ErrorAnalysis {
        task_id: ws.task_id().to_string(),
        attempt: ws.attempt,
        error_type: diagnosis.error_type,
        classification: diagnosis.classification,
        plugins_run: scan.runs.iter().map(|r| r.name.clone()).collect(),
        plugins_skipped: scan.skipped,
        issues,
        recommended_action: diagnosis.action,
        fix_agent: diagnosis.fix_agent,
        ladder_step: diagnosis.ladder_step,
        summary: diagnosis.summary,
        analyzed_at: now_rfc3339(),
        metadata: ws.task.metadata.clone(),
        agent_steps: Vec::new(),
    };
    shared.events.emit(
        EventType::ErrorAnalyzed,
        PHASE,
        Some(ws.task_id()),
        Some(ws.attempt),
        json!({
            "classification": analysis.classification,
            "action": analysis.recommended_action,
            "ladder_step": analysis.ladder_step,
            "error_type": analysis.error_type,
            "fix_agent": analysis.fix_agent,
            "issues": analysis.issues.len(),
            "plugins_run": analysis.plugins_run,
            "plugins_skipped": analysis.plugins_skipped.iter().map(|s| &s.detector).collect::<Vec<_>>(),
            "summary": analysis.summary,
        }),
    );
    if analysis.error_type == FailureKind::ScopeEscalation {
        shared.events.emit(
            EventType::ScopeEscalation,
            PHASE,
            Some(ws.task_id()),
            Some(ws.attempt),
            json!({
                "source": "attempt",
                "files": latest.files_modified,
                "count": latest.files_modified.len(),
                "limit": recovery.max_files_changed,
            }),
        );
    }
    shared.events.flush()?;
    let committed = analysis.clone();
    files.analyses.update(
        shared.lock_wait(),
        shared.events.run_id(),
        &shared.events,
        move |doc| record::upsert_analysis(doc, committed),
    )?;
    Ok(analysis)
}
