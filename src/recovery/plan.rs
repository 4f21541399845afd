//! Level-triggered planning: compares what the inputs show (failed attempts, people's
//! patches) with what recovery's files record, and lists the work that is missing.

use std::collections::{HashMap, HashSet};

use super::attempt::AttemptJob;
use super::files::{Inputs, RecoveryFiles};
use super::hand_patch::{HandPatchJob, is_pending};
use super::worker::Job;
use crate::model::{RoutingDecision, TaskSpec};

/// Which files read valid this pass.
#[derive(Debug, Clone, Copy)]
pub struct Valid {
    /// `routing_decisions.json`.
    pub decisions: bool,
    /// `execution_results.json`.
    pub results: bool,
    /// `error_analysis.json`.
    pub analyses: bool,
    /// `fix_patches.json`.
    pub patches: bool,
}

/// What planning already warned about, so it warns once.
#[derive(Debug, Default)]
pub struct Notes {
    unknown_tasks: HashSet<(String, u32)>,
}

/// The work to do: people's patches first, then failed attempts without a verdict
/// (no analysis yet, or an analysis whose step has not finished).
pub fn jobs(inputs: &Inputs, files: &RecoveryFiles, valid: &Valid, notes: &mut Notes) -> Vec<Job> {
    let mut jobs = Vec::new();
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
        }));
    }
    jobs
}

/// The decision's task spec with its id filled in.
fn spec_of(decision: &RoutingDecision) -> TaskSpec {
    let mut task = decision.task.clone();
    if task.id.as_deref().is_none_or(str::is_empty) {
        task.id = Some(decision.task_id.clone());
    }
    task
}
