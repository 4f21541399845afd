//! Level-triggered planning: compares what the inputs show (failed attempts, people's
//! patches, quarantined tasks that succeeded since) with what recovery's files record,
//! and lists the work that is missing.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::attempt::AttemptJob;
use super::escalation;
use super::files::{Inputs, RecoveryFiles};
use super::hand_patch::{HandPatchJob, is_pending};
use super::index::TaskIndex;
use super::resolve::ResolveJob;
use super::worker::Job;
use crate::model::{RoutingDecision, Status, TaskSpec};
use crate::store::StateDir;

/// Which files read valid this pass.
#[derive(Debug, Clone, Copy)]
pub(super) struct Valid {
    /// `routing_decisions.json`.
    pub decisions: bool,
    /// `execution_results.json`.
    pub results: bool,
    /// `error_analysis.json`.
    pub analyses: bool,
    /// `fix_patches.json`.
    pub patches: bool,
}

/// What planning already warned about or finished with, so it does it once.
#[derive(Debug, Default)]
pub(super) struct Notes {
    unknown_tasks: HashSet<(String, u32)>,
    /// Succeeded `(task, attempt)`s whose report is marked resolved (or that have none).
    pub resolved: HashSet<(String, u32)>,
}

/// What planning reads besides the files.
#[derive(Debug)]
pub(super) struct Context<'a> {
    /// Where the escalation reports are.
    pub state: &'a StateDir,
    /// The tasks' areas and dependencies, as of the decisions read.
    pub index: &'a Arc<TaskIndex>,
}

/// The work to do: reports of quarantined tasks that succeeded since, people's patches,
/// then failed attempts without a verdict (no analysis yet, or an analysis whose step has
/// not finished).
pub(super) fn jobs(
    inputs: &Inputs,
    files: &RecoveryFiles,
    valid: &Valid,
    notes: &mut Notes,
    cx: &Context<'_>,
) -> Vec<Job> {
    let mut jobs = Vec::new();
    if valid.results {
        resolutions(inputs, notes, cx.state, &mut jobs);
    }
    if !(valid.decisions && valid.patches) {
        return jobs;
    }
    let specs: HashMap<&str, &RoutingDecision> = inputs
        .decisions
        .doc()
        .decisions
        .iter()
        .map(|d| (d.task_id.as_str(), d))
        .collect();
    for patch in files.patches.doc().patches.iter().filter(|p| is_pending(p)) {
        jobs.push(Job::HandPatch(HandPatchJob {
            patch: patch.clone(),
            task: specs.get(patch.task_id.as_str()).map(|d| spec_of(d)),
        }));
    }
    if valid.results {
        jobs.extend(super::gate::jobs(inputs, files, &specs, spec_of));
    }
    if !(valid.results && valid.analyses) {
        return jobs;
    }
    let decided: HashSet<(&str, u32)> = files
        .patches
        .doc()
        .retries
        .iter()
        .map(|r| (r.task_id.as_str(), r.attempt))
        .collect();
    for result in &inputs.results.doc().results {
        if !result.status.is_failure()
            || result.attempt == 0
            || decided.contains(&(result.task_id.as_str(), result.attempt))
        {
            continue;
        }
        let Some(decision) = specs.get(result.task_id.as_str()) else {
            if notes
                .unknown_tasks
                .insert((result.task_id.clone(), result.attempt))
            {
                tracing::warn!(task = %result.task_id, "failed task has no routing decision; recovery cannot analyse it");
            }
            continue;
        };
        let tool = if result.tool_id.is_empty() {
            &decision.selected_tool
        } else {
            &result.tool_id
        };
        jobs.push(Job::Attempt(AttemptJob {
            task: spec_of(decision),
            tool: tool.clone(),
            result: result.clone(),
            index: Arc::clone(cx.index),
        }));
    }
    jobs
}

/// Tasks that succeeded after a `phase retry` and have an escalation report not yet
/// marked resolved.
fn resolutions(inputs: &Inputs, notes: &mut Notes, state: &StateDir, jobs: &mut Vec<Job>) {
    for r in &inputs.results.doc().results {
        if r.status != Status::Succeeded {
            continue;
        }
        let key = (r.task_id.clone(), r.attempt);
        if notes.resolved.contains(&key) {
            continue;
        }
        if !escalation::path(state, &r.task_id).exists() {
            notes.resolved.insert(key);
            continue;
        }
        jobs.push(Job::Resolve(ResolveJob {
            task_id: r.task_id.clone(),
            attempt: r.attempt,
            finished_at: r.finished_at.clone().unwrap_or_default(),
        }));
    }
}

/// The decision's task spec with its id filled in.
fn spec_of(decision: &RoutingDecision) -> TaskSpec {
    let mut task = decision.task.clone();
    if task.id.as_deref().is_none_or(str::is_empty) {
        task.id = Some(decision.task_id.clone());
    }
    task
}
