//! Recording what recovery decided and did in its own files. Every change is an upsert by
//! key (`(task, attempt)` for analyses and retries, `patch_id` for patches) so that it can
//! be re-applied on top of a version someone else wrote.

use serde_json::json;

use super::fix::StepOutcome;
use super::workspace::Workspace;
use super::{Engine, PHASE};
use crate::Result;
use crate::model::{
    ErrorAnalyses, ErrorAnalysis, EventType, FixPatches, LadderStep, Patch, PatchSource,
    RetryRecommendation, now_rfc3339,
};

/// The analysis of `(task, attempt)`.
pub(super) fn analysis_for<'a>(
    doc: &'a ErrorAnalyses,
    task: &str,
    attempt: u32,
) -> Option<&'a ErrorAnalysis> {
    doc.analyses
        .iter()
        .find(|a| a.task_id == task && a.attempt == attempt)
}

/// The `retries[]` entry of `(task, attempt)`.
pub(super) fn retry_for<'a>(
    doc: &'a FixPatches,
    task: &str,
    attempt: u32,
) -> Option<&'a RetryRecommendation> {
    doc.retries
        .iter()
        .find(|r| r.task_id == task && r.attempt == attempt)
}

/// Replaces the analysis of the same `(task, attempt)`, or appends it.
pub(super) fn upsert_analysis(doc: &mut ErrorAnalyses, analysis: ErrorAnalysis) {
    match doc
        .analyses
        .iter_mut()
        .find(|a| a.task_id == analysis.task_id && a.attempt == analysis.attempt)
    {
        Some(slot) => *slot = analysis,
        None => doc.analyses.push(analysis),
    }
}

fn upsert_retry(doc: &mut FixPatches, entry: RetryRecommendation) {
    match doc
        .retries
        .iter_mut()
        .find(|r| r.task_id == entry.task_id && r.attempt == entry.attempt)
    {
        Some(slot) => *slot = entry,
        None => doc.retries.push(entry),
    }
}

fn upsert_patch(doc: &mut FixPatches, patch: Patch) {
    match doc
        .patches
        .iter_mut()
        .find(|p| p.patch_id == patch.patch_id)
    {
        Some(slot) => *slot = patch,
        None => doc.patches.push(patch),
    }
}

/// Writes the attempt's `retries[]` entry (events first, so the log stays causal).
pub(super) fn verdict(
    shared: &Engine,
    ws: &Workspace,
    retry: bool,
    step: &LadderStep,
    patch_ids: Vec<String>,
    reason: String,
) -> Result<()> {
    let entry = RetryRecommendation {
        task_id: ws.task_id().to_string(),
        attempt: ws.attempt,
        retry_recommended: retry,
        ladder_step: step.clone(),
        patch_ids,
        reason,
        decided_at: now_rfc3339(),
    };
    shared.events.flush()?;
    let mut files = shared.files();
    files.patches.update(
        shared.lock_wait(),
        shared.events.run_id(),
        &shared.events,
        move |doc| upsert_retry(doc, entry),
    )
}

/// Records every change of a step as a patch — one per changed file, `applied: true`,
/// `out_of_scope` where it is — before anything is decided on them, so that a crash
/// cannot lose one; returns their ids, in order.
pub(super) fn patches(
    shared: &Engine,
    ws: &Workspace,
    outcome: &StepOutcome,
) -> Result<Vec<String>> {
    if outcome.changes.is_empty() {
        return Ok(Vec::new());
    }
    let mut own = shared.files();
    own.patches.current(&shared.events)?;
    let now = now_rfc3339();
    let mut taken: Vec<String> = Vec::new();
    let patches: Vec<Patch> = outcome
        .changes
        .iter()
        .map(|c| {
            let patch_id = free_id(own.patches.doc(), &taken, ws.task_id(), ws.attempt);
            taken.push(patch_id.clone());
            Patch {
                patch_id,
                task_id: ws.task_id().to_string(),
                attempt: ws.attempt,
                fixer: c.fixer.clone(),
                file: c.change.file.clone(),
                diff: c.change.diff.clone(),
                applied: true,
                validated: outcome.validated,
                source: PatchSource::Engine,
                created_at: now.clone(),
                error: None,
                rejected: false,
                out_of_scope: c.out_of_scope,
            }
        })
        .collect();
    own.patches.update(
        shared.lock_wait(),
        shared.events.run_id(),
        &shared.events,
        move |doc| {
            for p in patches {
                upsert_patch(doc, p);
            }
        },
    )?;
    Ok(taken)
}

/// The engine's patches for `(task, attempt)` made by one of `fixers`: what a step that
/// ran before a crash recorded, so that resuming it decides on them instead of running
/// it again (it would find nothing left to change).
pub(super) fn recorded(
    doc: &FixPatches,
    task: &str,
    attempt: u32,
    fixers: &[String],
) -> Vec<Patch> {
    doc.patches
        .iter()
        .filter(|p| p.task_id == task && p.attempt == attempt)
        .filter(|p| p.source == PatchSource::Engine && fixers.contains(&p.fixer))
        .cloned()
        .collect()
}

/// Records a fix step worth a retry: FIX_APPLIED, and a `retries[]` entry recommending a
/// retry after the step's patches.
pub(super) fn fix(
    shared: &Engine,
    ws: &Workspace,
    step: &LadderStep,
    patch_ids: Vec<String>,
    outcome: &StepOutcome,
) -> Result<()> {
    let files: Vec<&str> = outcome
        .changes
        .iter()
        .map(|c| c.change.file.as_str())
        .collect();
    let check = if outcome.validated {
        "validated"
    } else {
        "not validated"
    };
    let reason = format!("{step} changed {} file(s), {check}: retry", files.len());
    shared.events.emit(
        EventType::FixApplied,
        PHASE,
        Some(ws.task_id()),
        Some(ws.attempt),
        json!({
            "ladder_step": step,
            "patch_ids": patch_ids,
            "files": files,
            "validated": outcome.validated,
            "changed": !files.is_empty(),
            "notes": outcome.notes,
        }),
    );
    verdict(shared, ws, true, step, patch_ids, reason)
}

/// The next unused `<task>-<attempt>-<n>`.
fn free_id(doc: &FixPatches, taken: &[String], task: &str, attempt: u32) -> String {
    (1u32..)
        .map(|n| format!("{task}-{attempt}-{n}"))
        .find(|id| !taken.contains(id) && !doc.patches.iter().any(|p| &p.patch_id == id))
        .unwrap_or_default()
}
