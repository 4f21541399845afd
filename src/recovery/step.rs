//! One rung of the ladder for one failed attempt, and what its changes decide: a change
//! out of scope, or more files than `recovery.max_files_changed`, sends the task to a
//! person; a change to the task's files earns a retry; anything else climbs on.

use serde_json::json;

use super::fix::{Change, StepOutcome, run_step, step_scope, task_files};
use super::guard::{FixLock, FixRecord, Neighbours};
use super::ladder::next_rung;
use super::runner::Abort;
use super::scope::normalize;
use super::snapshot::FileChange;
use super::workspace::Workspace;
use super::{Engine, PHASE, record};
use crate::model::{
    Action, Attempt, Classification, ErrorAnalysis, EventType, FailureKind, LadderStep, Patch,
};

/// What the attempt's recovery does after a rung.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// A verdict was written: the job is done.
    Done,
    /// The analysis moved (climbed, or escalated to quarantine): act on its new step.
    Continue,
}

/// Whether the task's failures so far leave room for another attempt.
#[derive(Debug, Clone, Copy)]
pub(super) struct Budget {
    /// Failed attempts that count, this one included.
    pub failures: u32,
    /// `Config::failure_budget` for the task.
    pub limit: u32,
}

/// Runs `step` for the attempt — or, when a run before a crash recorded its patches,
/// decides on those — then writes the verdict or moves the analysis.
pub(super) fn rung(
    shared: &Engine,
    ws: &Workspace,
    analysis: &mut ErrorAnalysis,
    attempt: &Attempt,
    step: &LadderStep,
    budget: Budget,
    others: &mut Neighbours<'_>,
) -> Result<Next, Abort> {
    let prior = {
        let files = shared.files();
        record::recorded(
            files.patches.doc(),
            ws.task_id(),
            ws.attempt,
            &fixer_names(shared, step),
        )
    };
    let (outcome, ids) = if prior.is_empty() {
        let scope = step_scope(shared, ws, analysis, step);
        let me = (ws.task_id(), ws.attempt);
        let waited = others.wait_for_others(shared, me, &scope)?;
        let _lock = FixLock::take(&shared.state)?;
        let step_name = step.to_string();
        let _fixing = FixRecord::begin(shared, me, &step_name, &scope, others, waited.is_some())?;
        let mut outcome = run_step(shared, ws, analysis, Some(attempt), step, others)?;
        outcome.notes.extend(waited);
        let ids = record::patches(shared, ws, &outcome)?;
        (outcome, ids)
    } else {
        tracing::info!(task = %ws.task_id(), attempt = ws.attempt, %step, "deciding on the patches a step recorded before a restart");
        recorded_outcome(ws, &prior)
    };
    // Agent tiers' time and cost stay on the analysis.
    let agent_steps = outcome.agent_runs.iter().map(|r| r.step.clone());
    analysis.agent_steps.extend(agent_steps);
    let too_many = outcome.files_touched() > shared.config.recovery.max_files_changed as usize;
    if too_many || outcome.out_of_scope().next().is_some() {
        escalate(shared, ws, analysis, step, &outcome, too_many)?;
        return Ok(Next::Continue);
    }
    if outcome.worth_a_retry(task_files(ws).as_ref()) {
        if !outcome.agent_runs.is_empty() {
            commit(shared, analysis)?;
        }
        record::fix(shared, ws, step, ids, &outcome)?;
        return Ok(Next::Done);
    }
    // A refused key or a rate limit is no reason to climb (src/recovery/turned_away.rs).
    if let Some(next) = super::turned_away::judge(shared, ws, analysis, step, &outcome, budget)? {
        return Ok(next);
    }
    climb(shared, ws, analysis, step, &outcome, budget)
}

/// The names a step's patches carry: an agent tier's, or every detector's for
/// `mechanical_fix`.
fn fixer_names(shared: &Engine, step: &LadderStep) -> Vec<String> {
    match step {
        LadderStep::MechanicalFix => shared.config.recovery.detectors.keys().cloned().collect(),
        other => vec![other.to_string()],
    }
}

/// A step's outcome as its recorded patches tell it.
fn recorded_outcome(ws: &Workspace, prior: &[Patch]) -> (StepOutcome, Vec<String>) {
    let changes = prior
        .iter()
        .map(|p| Change {
            fixer: p.fixer.clone(),
            change: FileChange {
                path: normalize(&ws.workdir.join(&p.file)),
                file: p.file.clone(),
                diff: p.diff.clone(),
            },
            out_of_scope: p.out_of_scope,
        })
        .collect();
    let outcome = StepOutcome {
        changes,
        notes: vec!["recorded before a restart".to_string()],
        validated: prior.iter().all(|p| p.validated),
        agent_runs: Vec::new(),
    };
    (outcome, prior.iter().map(|p| p.patch_id.clone()).collect())
}

/// The step changed files out of its scope, or too many: a person decides. The changes
/// stay on disk, recorded as patches; the analysis moves to quarantine (`needs_human`).
fn escalate(
    shared: &Engine,
    ws: &Workspace,
    analysis: &mut ErrorAnalysis,
    step: &LadderStep,
    outcome: &StepOutcome,
    too_many: bool,
) -> Result<(), Abort> {
    let limit = shared.config.recovery.max_files_changed;
    let files: Vec<&str> = outcome
        .changes
        .iter()
        .map(|c| c.change.file.as_str())
        .collect();
    let outside: Vec<&str> = outcome
        .out_of_scope()
        .map(|c| c.change.file.as_str())
        .collect();
    let mut why = Vec::new();
    if too_many {
        why.push(format!(
            "{step} changed {} files, more than recovery.max_files_changed ({limit})",
            outcome.files_touched()
        ));
        shared.events.emit(
            EventType::ScopeEscalation,
            PHASE,
            Some(ws.task_id()),
            Some(ws.attempt),
            json!({
                "source": "fix_step",
                "ladder_step": step,
                "files": files,
                "count": outcome.files_touched(),
                "limit": limit,
                "out_of_scope": outside,
            }),
        );
    }
    if !outside.is_empty() {
        why.push(format!(
            "{step} changed {} file(s) outside its scope: {}",
            outside.len(),
            outside.join(", ")
        ));
    }
    let why = format!(
        "{}; the changes are kept and recorded, a person decides",
        why.join("; ")
    );
    tracing::warn!(task = %ws.task_id(), attempt = ws.attempt, "{why}");
    analysis.summary = format!("{}; {why}", analysis.summary);
    analysis.classification = Classification::NeedsHuman;
    analysis.error_type = if too_many {
        FailureKind::ScopeEscalation
    } else {
        FailureKind::OutOfScope
    };
    analysis.recommended_action = Action::Quarantine;
    analysis.fix_agent = None;
    analysis.ladder_step = LadderStep::Quarantine;
    commit(shared, analysis)
}

/// The step changed none of the task's files: report it, and move the attempt's analysis
/// to the next rung, committed before that rung runs. The same attempt climbs on:
/// retrying a task nothing changed for would fail the same way and spend its budget. With
/// no rung left it is retried as is while the budget allows (`recovery.retry_unfixable`;
/// the analysis keeps its rung, so the next attempt does not climb again), else
/// quarantined.
fn climb(
    shared: &Engine,
    ws: &Workspace,
    analysis: &mut ErrorAnalysis,
    step: &LadderStep,
    outcome: &StepOutcome,
    budget: Budget,
) -> Result<Next, Abort> {
    let recovery = &shared.config.recovery;
    let next = recovery
        .ladder
        .iter()
        .position(|rung| rung == step)
        .and_then(|i| next_rung(&recovery.ladder, Some(i), false));
    let retry_as_is = next.is_none() && recovery.retry_unfixable && budget.failures < budget.limit;
    let why = outcome.notes.join("; ");
    let then = match next {
        Some(tier) => tier.clone(),
        None if retry_as_is => LadderStep::Retry,
        None => LadderStep::Quarantine,
    };
    shared.events.emit(
        EventType::FixFailed,
        PHASE,
        Some(ws.task_id()),
        Some(ws.attempt),
        json!({ "ladder_step": step, "reason": format!("changed nothing: {why}"), "next": then }),
    );
    analysis.summary = format!("{}; {step} changed nothing ({why})", analysis.summary);
    match next {
        Some(tier) => {
            analysis.recommended_action = Action::AgentFix;
            analysis.fix_agent = Some(tier.to_string());
            analysis.ladder_step = tier.clone();
        }
        None if retry_as_is => {
            analysis.recommended_action = Action::Retry;
            analysis.fix_agent = None;
            analysis.summary.push_str(
                "; nothing on the ladder fixes it: retry as is (recovery.retry_unfixable)",
            );
        }
        None => {
            analysis.recommended_action = Action::Quarantine;
            analysis.fix_agent = None;
            analysis.ladder_step = LadderStep::Quarantine;
            analysis.summary.push_str("; no ladder step left");
        }
    }
    commit(shared, analysis)?;
    if retry_as_is {
        let reason = analysis.summary.clone();
        record::verdict(shared, ws, true, &LadderStep::Retry, Vec::new(), reason)?;
        return Ok(Next::Done);
    }
    Ok(Next::Continue)
}

/// Flushes the events, then commits the analysis.
pub(super) fn commit(shared: &Engine, analysis: &ErrorAnalysis) -> Result<(), Abort> {
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
