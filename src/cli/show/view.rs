//! Everything the files say about one task, gathered into one document: the shape of
//! `phase show ID --json` (`schemas/show.schema.json`) and the source of its text form.

use std::path::Path;

use serde::Serialize;

use super::shape::{
    AnalysisShow, AttemptShow, Blocker, DecisionShow, FixShow, GateShow, GateStepShow, RetryShow,
    TaskShow,
};
use crate::Result;
use crate::config::Config;
use crate::lifecycle::{Snapshot, TaskView};
use crate::model::{
    Attempt, ErrorAnalyses, ErrorAnalysis, ExecutionResults, FixPatches, GateVerdict, Patch,
    RetryRecommendation, RoutingDecision, RoutingDecisions, TaskResult, TaskSpec,
};
use crate::store::{StateDir, StateFile, list_inbox, read_accepted_task, read_task_file};

/// A serialised unit enum (or open enum) as its name in the files.
fn name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// Gathers the task `id` from the files; `None` when no file knows it.
pub(crate) fn gather(
    state: &StateDir,
    snap: &Snapshot,
    config: Option<&Config>,
    id: &str,
) -> Result<Option<TaskShow>> {
    let Some(view) = snap.tasks.iter().find(|t| t.id == id) else {
        return Ok(None);
    };
    let decisions = StateFile::<RoutingDecisions>::new(state).read()?;
    let decision = decisions.decisions.into_iter().find(|d| d.task_id == id);
    let results = StateFile::<ExecutionResults>::new(state).read()?;
    let result = results.results.into_iter().find(|r| r.task_id == id);
    let analyses = StateFile::<ErrorAnalyses>::new(state).read()?;
    let patches = StateFile::<FixPatches>::new(state).read()?;
    let (spec, task_file) = task_spec(state, id, view, decision.as_ref());
    let depends_on = spec
        .as_ref()
        .map(|s| s.depends_on.clone())
        .unwrap_or_default();
    let blocked_on = depends_on
        .iter()
        .filter_map(|dep| {
            let state = snap
                .tasks
                .iter()
                .find(|t| &t.id == dep)
                .map_or("unknown", |t| t.state.as_str());
            (state != "succeeded").then(|| Blocker {
                task: dep.clone(),
                state,
            })
        })
        .collect();
    let retries: Vec<&RetryRecommendation> =
        patches.retries.iter().filter(|r| r.task_id == id).collect();
    let escalation = state.escalations().join(format!("{id}.md"));
    Ok(Some(TaskShow {
        id: id.to_string(),
        state: view.state.as_str(),
        reason: view.reason.clone(),
        waiting_on: view.waiting_on,
        request_pending: view.request_pending,
        task_file,
        kind: spec.as_ref().map(|s| s.kind.clone()),
        description: spec
            .as_ref()
            .map(|s| s.description.clone())
            .filter(|d| !d.is_empty()),
        files: spec.as_ref().map(|s| s.files.to_vec()).unwrap_or_default(),
        depends_on: depends_on.to_vec(),
        dependents: dependents(state, snap, id),
        blocked_on,
        decision: decision.as_ref().map(|d| decision_show(d, config)),
        attempts: result.as_ref().map(attempts).unwrap_or_default(),
        retry_at: result.as_ref().and_then(|r| r.retry_at.clone()),
        analyses: analyses
            .analyses
            .iter()
            .filter(|a| a.task_id == id)
            .map(analysis_show)
            .collect(),
        fixes: patches
            .patches
            .iter()
            .filter(|p| p.task_id == id)
            .map(|p| fix_show(p, &retries))
            .collect(),
        retries: retries.iter().map(|r| retry_show(r)).collect(),
        gates: patches
            .gates
            .iter()
            .filter(|g| g.task_id == id)
            .map(gate_show)
            .collect(),
        escalation: escalation
            .is_file()
            .then(|| escalation.display().to_string()),
        logs: log_files(state, id),
    }))
}

/// The task's spec and the file it came from: the accepted file, else the decision's
/// copy, else the inbox file; a rejected file has none that can be read as a task.
fn task_spec(
    state: &StateDir,
    id: &str,
    view: &TaskView,
    decision: Option<&RoutingDecision>,
) -> (Option<TaskSpec>, Option<String>) {
    let accepted = state.tasks().join(format!("{id}.json"));
    if accepted.is_file() {
        let spec = read_accepted_task(state, id)
            .ok()
            .or_else(|| decision.map(|d| d.task.clone()));
        return (spec, Some(accepted.display().to_string()));
    }
    if let Some(d) = decision {
        return (Some(d.task.clone()), None);
    }
    if view.state.as_str() == "queued" {
        let queued = list_inbox(state).unwrap_or_default().into_iter().find(|f| {
            Path::new(&f.file_name).file_stem() == Some(id.as_ref())
                || read_task_file(&f.path).is_ok_and(|s| s.id() == id)
        });
        if let Some(f) = queued {
            return (
                read_task_file(&f.path).ok(),
                Some(f.path.display().to_string()),
            );
        }
    }
    let rejected = state.rejected().join(id);
    (
        None,
        rejected.is_file().then(|| rejected.display().to_string()),
    )
}

/// The tasks whose decisions name `id` as a dependency.
fn dependents(state: &StateDir, snap: &Snapshot, id: &str) -> Vec<String> {
    let decisions = StateFile::<RoutingDecisions>::new(state)
        .read()
        .unwrap_or_default();
    let mut out: Vec<String> = decisions
        .decisions
        .iter()
        .filter(|d| d.task.depends_on.iter().any(|dep| dep == id))
        .map(|d| d.task_id.clone())
        .collect();
    // Submission order, as `phase status` lists them.
    out.sort_by_key(|t| snap.tasks.iter().position(|v| &v.id == t));
    out
}

fn decision_show(d: &RoutingDecision, config: Option<&Config>) -> DecisionShow {
    // The argv an attempt runs is the tool's template with the task's values put in;
    // the attempts record the expanded argv.
    let tool_command = config
        .and_then(|c| c.tools.get(&d.selected_tool))
        .map(|t| t.command.clone())
        .unwrap_or_default();
    DecisionShow {
        tool: d.selected_tool.clone(),
        strategy: name(&d.strategy),
        reason: d.reason.clone(),
        candidates: d.candidates.to_vec(),
        command: d.task.command.clone(),
        tool_command,
        workdir: d.task.workdir.clone().unwrap_or_else(|| ".".to_string()),
        depends_on: d.task.depends_on.to_vec(),
        decided_at: d.decided_at.clone(),
        waiting: d.waiting.as_ref().map(|w| match &w.until {
            Some(until) => format!("{} (until {until})", w.reason),
            None => w.reason.clone(),
        }),
        fallbacks: d
            .fallbacks
            .iter()
            .map(|f| {
                format!(
                    "after attempt {}: {} -> {} ({})",
                    f.after_attempt, f.from, f.to, f.reason
                )
            })
            .collect(),
    }
}

fn attempts(r: &TaskResult) -> Vec<AttemptShow> {
    r.attempts.iter().map(attempt_show).collect()
}

fn attempt_show(a: &Attempt) -> AttemptShow {
    AttemptShow {
        attempt: a.attempt,
        tool: a.tool_id.clone(),
        status: a.status.as_str(),
        exit_code: a.exit_code,
        signal: a.signal,
        reason: a.reason.clone(),
        started_at: a.started_at.clone(),
        finished_at: a.finished_at.clone(),
        duration_ms: a.duration_ms,
        argv: a.argv.clone(),
        log_out: a.log_out.clone(),
        log_err: a.log_err.clone(),
        patch_id: a.patch_id.clone(),
        files_modified: a.files_modified.clone(),
        job_id: a.job_id.clone(),
        slurm_state: a.slurm_state.clone(),
    }
}

fn analysis_show(a: &ErrorAnalysis) -> AnalysisShow {
    AnalysisShow {
        attempt: a.attempt,
        error_type: name(&a.error_type),
        classification: name(&a.classification),
        recommended_action: name(&a.recommended_action),
        ladder_step: name(&a.ladder_step),
        summary: a.summary.clone(),
        issues: a
            .issues
            .iter()
            .map(|i| {
                let at = match (&i.file, i.line) {
                    (Some(f), Some(l)) => format!("{f}:{l}: "),
                    (Some(f), None) => format!("{f}: "),
                    _ => String::new(),
                };
                let rule = i.rule.as_deref().map_or(String::new(), |r| format!("{r} "));
                format!("{at}{rule}{} ({})", i.message, i.detector)
            })
            .collect(),
        analyzed_at: a.analyzed_at.clone(),
    }
}

fn fix_show(p: &Patch, retries: &[&RetryRecommendation]) -> FixShow {
    // The ladder step is recorded with the retry that carries the patch.
    let ladder_step = retries
        .iter()
        .find(|r| r.patch_ids.contains(&p.patch_id))
        .map(|r| name(&r.ladder_step));
    FixShow {
        patch_id: p.patch_id.clone(),
        attempt: p.attempt,
        fixer: p.fixer.clone(),
        file: p.file.clone(),
        ladder_step,
        applied: p.applied,
        validated: p.validated,
        rejected: p.rejected,
        out_of_scope: p.out_of_scope,
        error: p.error.clone(),
        source: name(&p.source),
        created_at: p.created_at.clone(),
    }
}

fn retry_show(r: &RetryRecommendation) -> RetryShow {
    RetryShow {
        attempt: r.attempt,
        retry_recommended: r.retry_recommended,
        ladder_step: name(&r.ladder_step),
        patch_ids: r.patch_ids.clone(),
        reason: r.reason.clone(),
        decided_at: r.decided_at.clone(),
    }
}

fn gate_show(g: &GateVerdict) -> GateShow {
    GateShow {
        attempt: g.attempt,
        passed: g.passed,
        failed_step: g.failed_step.map(|s| s.as_str().to_string()),
        reason: g.reason.clone(),
        steps: g
            .steps
            .iter()
            .map(|s| GateStepShow {
                step: s.step.as_str().to_string(),
                tool: s.tool.clone(),
                passed: s.passed,
                exit_code: s.exit_code,
                outcome: s.outcome.clone(),
                duration_ms: s.duration_ms,
                log_out: s.log_out.clone(),
                log_err: s.log_err.clone(),
            })
            .collect(),
        decided_at: g.decided_at.clone(),
    }
}

/// The files in `logs/<id>/` (attempts, fix steps, gate steps, prompts), relative to the
/// state directory, attempt by attempt.
pub(crate) fn log_files(state: &StateDir, id: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(state.task_logs(id)) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| !n.starts_with('.'))
        .collect();
    // `10.out` after `9.out`: by attempt number first, then by name.
    names.sort_by_key(|n| {
        let attempt: u32 = n
            .split('.')
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or(0);
        (attempt, n.clone())
    });
    names
        .into_iter()
        .map(|n| format!("logs/{id}/{n}"))
        .collect()
}
