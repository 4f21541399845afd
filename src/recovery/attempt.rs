//! Recovery of one failed attempt: BASELINE (detectors, classification; the analysis is
//! committed *before* any fix runs), the ladder step, then the verdict — a `retries[]`
//! entry in `fix_patches.json`. An analysis without that entry means "resume this step".

use serde_json::json;

use super::classify::{Facts, classify};
use super::detect::run_all;
use super::fix::{StepOutcome, run_step};
use super::ladder::next_rung;
use super::output::attempt_output;
use super::record;
use super::runner::Abort;
use super::workspace::Workspace;
use super::{Engine, PHASE, escalation, ladder};
use crate::model::{
    Action, Attempt, ErrorAnalysis, EventType, ExecutionResults, LadderStep, TaskResult, TaskSpec,
    now_rfc3339,
};
use crate::store::{Unreported, WatchedDoc};

/// A failed attempt to recover.
#[derive(Debug, Clone)]
pub struct AttemptJob {
    /// The task spec (from its routing decision).
    pub task: TaskSpec,
    /// The tool that ran it.
    pub tool: String,
    /// The executor's record as planned; its latest attempt is the failed one.
    pub result: TaskResult,
}

impl AttemptJob {
    /// The failed attempt's number.
    pub fn attempt(&self) -> u32 {
        self.result.attempt
    }
}

/// Analyses the attempt (once), runs its ladder step, records the verdict.
///
/// The job works from the result as planned: analysing an attempt the task has since
/// moved past is harmless, and re-reading a big results file for every job is not. Only
/// quarantine, which tells people the task is stuck, checks the file again first.
pub fn recover(
    shared: &Engine,
    results: &mut WatchedDoc<ExecutionResults>,
    job: &AttemptJob,
) -> Result<(), Abort> {
    let result = &job.result;
    let ws = Workspace::new(&shared.state, &job.task, job.attempt());
    let existing = {
        let mut files = shared.files();
        files.refresh(&shared.events)?;
        if record::retry_for(files.patches.doc(), ws.task_id(), ws.attempt).is_some() {
            return Ok(());
        }
        record::analysis_for(files.analyses.doc(), ws.task_id(), ws.attempt).cloned()
    };
    let mut analysis = match existing {
        Some(resumed) => {
            tracing::info!(task = %ws.task_id(), attempt = ws.attempt, step = %resumed.ladder_step, "resuming ladder step");
            resumed
        }
        None => baseline(shared, &ws, result)?,
    };
    loop {
        match &analysis.ladder_step {
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
                if !still_latest(results, &ws)? {
                    tracing::info!(task = %ws.task_id(), attempt = ws.attempt, "task moved on; not quarantining an old attempt");
                    return Ok(());
                }
                return quarantine(shared, &ws, &job.tool, results, &analysis);
            }
            // A rung. A hand-written analysis naming no step (BASELINE) runs as an unknown
            // agent tier does: it changes nothing, and the attempt climbs to quarantine.
            step @ (LadderStep::MechanicalFix | LadderStep::Agent(_) | LadderStep::Baseline) => {
                let step = step.clone();
                let outcome =
                    run_step(shared, &ws, &analysis, Some(&latest_attempt(result)), &step)?;
                if outcome.worth_a_retry() {
                    return Ok(record::fix(shared, &ws, &step, outcome)?);
                }
                climb(shared, &ws, &mut analysis, &step, &outcome)?;
            }
        }
    }
}

/// BASELINE: run the detectors, read the attempt's output, classify, commit the analysis.
fn baseline(shared: &Engine, ws: &Workspace, result: &TaskResult) -> Result<ErrorAnalysis, Abort> {
    let runs = run_all(&shared.detectors, &shared.runner, ws, &shared.config)?;
    let latest = latest_attempt(result);
    let output = attempt_output(&shared.state, &latest);
    let mut files = shared.files();
    files.refresh(&shared.events)?;
    if let Some(done) = record::analysis_for(files.analyses.doc(), ws.task_id(), ws.attempt) {
        return Ok(done.clone());
    }
    let ladder_config = &shared.config.recovery.ladder;
    let position = ladder::position(
        ladder_config,
        &files.analyses.doc().analyses,
        ws.task_id(),
        result.budget_from_attempt,
        ws.attempt,
    );
    let diagnosis = classify(
        &Facts {
            attempt: &latest,
            output: &output.text,
            runs: &runs,
            failures: result.failures_in_budget(),
            budget: shared.config.failure_budget(&ws.task),
            ladder: ladder_config,
            position,
        },
        &shared.patterns,
    );
    let mut issues: Vec<_> = runs.iter().flat_map(|r| r.issues.iter().cloned()).collect();
    issues.extend(output.issues(&ws.workdir));
    let analysis = ErrorAnalysis {
        task_id: ws.task_id().to_string(),
        attempt: ws.attempt,
        error_type: diagnosis.error_type,
        classification: diagnosis.classification,
        plugins_run: runs.iter().map(|r| r.name.clone()).collect(),
        issues,
        recommended_action: diagnosis.action,
        fix_agent: diagnosis.fix_agent,
        ladder_step: diagnosis.ladder_step,
        summary: diagnosis.summary,
        analyzed_at: now_rfc3339(),
        metadata: ws.task.metadata.clone(),
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
            "summary": analysis.summary,
        }),
    );
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

/// The step changed nothing: report it, and move the attempt's analysis to the next rung
/// (or quarantine), committed before that rung runs. The same attempt climbs on: retrying
/// a task nothing changed for would fail the same way and spend its budget.
fn climb(
    shared: &Engine,
    ws: &Workspace,
    analysis: &mut ErrorAnalysis,
    step: &LadderStep,
    outcome: &StepOutcome,
) -> Result<(), Abort> {
    let ladder_config = &shared.config.recovery.ladder;
    let next = ladder_config
        .iter()
        .position(|rung| rung == step)
        .and_then(|i| next_rung(ladder_config, Some(i), false));
    let why = outcome.notes.join("; ");
    shared.events.emit(
        EventType::FixFailed,
        PHASE,
        Some(ws.task_id()),
        Some(ws.attempt),
        json!({ "ladder_step": step, "reason": format!("changed nothing: {why}"), "next": next.unwrap_or(&LadderStep::Quarantine) }),
    );
    analysis.summary = format!("{}; {step} changed nothing ({why})", analysis.summary);
    match next {
        Some(tier) => {
            analysis.recommended_action = Action::AgentFix;
            analysis.fix_agent = Some(tier.to_string());
            analysis.ladder_step = tier.clone();
        }
        None => {
            analysis.recommended_action = Action::Quarantine;
            analysis.fix_agent = None;
            analysis.ladder_step = LadderStep::Quarantine;
            analysis.summary.push_str("; no ladder step left");
        }
    }
    shared.events.flush()?;
    let committed = analysis.clone();
    let mut files = shared.files();
    files.analyses.update(
        shared.lock_wait(),
        shared.events.run_id(),
        &shared.events,
        move |doc| record::upsert_analysis(doc, committed),
    )?;
    Ok(())
}

/// QUARANTINE: the escalation report, the events, then `retry_recommended: false`.
fn quarantine(
    shared: &Engine,
    ws: &Workspace,
    tool: &str,
    results: &WatchedDoc<ExecutionResults>,
    analysis: &ErrorAnalysis,
) -> Result<(), Abort> {
    let fresh = results
        .doc()
        .results
        .iter()
        .find(|r| r.task_id == ws.task_id());
    let Some(result) = fresh else {
        return Ok(());
    };
    let report_path = {
        let mut files = shared.files();
        files.refresh(&shared.events)?;
        let report = escalation::Report {
            ws,
            tool,
            result,
            analyses: files
                .analyses
                .doc()
                .analyses
                .iter()
                .filter(|a| a.task_id == ws.task_id())
                .collect(),
            patches: files.patches.doc(),
            verdict: analysis,
        };
        escalation::write(&shared.state, &report)?
    };
    let shown = report_path
        .strip_prefix(shared.state.root())
        .unwrap_or(&report_path)
        .to_string_lossy()
        .into_owned();
    let data = json!({
        "reason": analysis.summary,
        "classification": analysis.classification,
        "error_type": analysis.error_type,
        "report": shown,
        "retry": format!("phase retry {}", ws.task_id()),
    });
    let events = &shared.events;
    events.emit(
        EventType::TaskQuarantined,
        PHASE,
        Some(ws.task_id()),
        Some(ws.attempt),
        data.clone(),
    );
    events.emit(
        EventType::TaskEscalated,
        PHASE,
        Some(ws.task_id()),
        Some(ws.attempt),
        data,
    );
    tracing::warn!(task = %ws.task_id(), attempt = ws.attempt, report = %shown, "quarantined: {}", analysis.summary);
    Ok(record::verdict(
        shared,
        ws,
        false,
        &LadderStep::Quarantine,
        Vec::new(),
        analysis.summary.clone(),
    )?)
}

/// The latest attempt's record; made up from the result's own fields when the executor
/// recorded no history.
fn latest_attempt(result: &TaskResult) -> Attempt {
    match result.latest() {
        Some(a) if a.attempt == result.attempt => a.clone(),
        _ => Attempt {
            attempt: result.attempt,
            tool_id: result.tool_id.clone(),
            status: result.status,
            exit_code: result.exit_code,
            reason: result.reason.clone(),
            started_at: result.started_at.clone(),
            finished_at: result.finished_at.clone(),
            ..Attempt::default()
        },
    }
}

/// Whether the attempt is still the task's latest, failed one (re-reads the results).
fn still_latest(results: &mut WatchedDoc<ExecutionResults>, ws: &Workspace) -> Result<bool, Abort> {
    // The phase thread reports a broken results file; this second view stays quiet.
    results.current(&Unreported)?;
    Ok(results
        .doc()
        .results
        .iter()
        .any(|r| r.task_id == ws.task_id() && r.attempt == ws.attempt && r.status.is_failure()))
}
