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
pub fn analysis_for<'a>(
    doc: &'a ErrorAnalyses,
    task: &str,
    attempt: u32,
) -> Option<&'a ErrorAnalysis> {
    doc.analyses
        .iter()
        .find(|a| a.task_id == task && a.attempt == attempt)
}

/// The `retries[]` entry of `(task, attempt)`.
pub fn retry_for<'a>(
    doc: &'a FixPatches,
    task: &str,
    attempt: u32,
) -> Option<&'a RetryRecommendation> {
    doc.retries
        .iter()
        .find(|r| r.task_id == task && r.attempt == attempt)
}

/// Replaces the analysis of the same `(task, attempt)`, or appends it.
pub fn upsert_analysis(doc: &mut ErrorAnalyses, analysis: ErrorAnalysis) {
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
pub fn verdict(
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

/// Records a fix step worth a retry: one patch per changed file, FIX_APPLIED, and a
/// `retries[]` entry recommending a retry.
pub fn fix(shared: &Engine, ws: &Workspace, step: &LadderStep, outcome: StepOutcome) -> Result<()> {
    let mut own = shared.files();
    own.patches.current(&shared.events)?;
    let now = now_rfc3339();
    let mut taken: Vec<String> = Vec::new();
    let patches: Vec<Patch> = outcome
        .changes
        .into_iter()
        .map(|(fixer, change)| {
            let patch_id = free_id(own.patches.doc(), &taken, ws.task_id(), ws.attempt);
            taken.push(patch_id.clone());
            Patch {
                patch_id,
                task_id: ws.task_id().to_string(),
                attempt: ws.attempt,
                fixer,
                file: change.file,
                diff: change.diff,
                applied: true,
                validated: outcome.validated,
                source: PatchSource::Engine,
                created_at: now.clone(),
                error: None,
                rejected: false,
            }
        })
        .collect();
    let files: Vec<&str> = patches.iter().map(|p| p.file.as_str()).collect();
    let check = if outcome.validated {
        "validated"
    } else {
        "not validated"
    };
    let reason = if patches.is_empty() {
        // An agent that exited 0: it may have acted outside the snapshot.
        format!("{step} exited 0 without changing the task's files ({check}): retry")
    } else {
        format!("{step} changed {} file(s), {check}: retry", patches.len())
    };
    shared.events.emit(
        EventType::FixApplied,
        PHASE,
        Some(ws.task_id()),
        Some(ws.attempt),
        json!({
            "ladder_step": step,
            "patch_ids": taken,
            "files": files,
            "validated": outcome.validated,
            "changed": !files.is_empty(),
            "notes": outcome.notes,
        }),
    );
    let entry = RetryRecommendation {
        task_id: ws.task_id().to_string(),
        attempt: ws.attempt,
        retry_recommended: true,
        ladder_step: step.clone(),
        patch_ids: taken,
        reason,
        decided_at: now,
    };
    shared.events.flush()?;
    own.patches.update(
        shared.lock_wait(),
        shared.events.run_id(),
        &shared.events,
        move |doc| {
            for p in patches {
                upsert_patch(doc, p);
            }
            upsert_retry(doc, entry);
        },
    )
}

/// The next unused `<task>-<attempt>-<n>`.
fn free_id(doc: &FixPatches, taken: &[String], task: &str, attempt: u32) -> String {
    (1u32..)
        .map(|n| format!("{task}-{attempt}-{n}"))
        .find(|id| !taken.contains(id) && !doc.patches.iter().any(|p| &p.patch_id == id))
        .unwrap_or_default()
}
