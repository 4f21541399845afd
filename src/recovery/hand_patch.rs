//! Patches people write into `fix_patches.json` (`applied: false`, no `error`, not
//! `rejected`): applied with diffy to `<workdir>/<file>`, validated with the detectors,
//! and their entry updated. One that does not apply gets `error` and `rejected: true` and
//! is never tried again.

use std::os::unix::fs::PermissionsExt;

use serde_json::json;

use super::detect::{Focus, run_all};
use super::guard::FixLock;
use super::runner::Abort;
use super::workspace::Workspace;
use super::{Engine, PHASE};
use crate::model::{EventType, FixPatches, Patch, TaskSpec};

/// A person's patch to apply.
#[derive(Debug, Clone)]
pub(super) struct HandPatchJob {
    /// The patch as planned (its id, file and diff are checked again before writing back).
    pub patch: Patch,
    /// The task it names, when known.
    pub task: Option<TaskSpec>,
}

/// Whether a patch is waiting to be applied.
pub(super) fn is_pending(p: &Patch) -> bool {
    !p.applied && p.error.is_none() && !p.rejected
}

/// Applies and validates the patch, then records the outcome in its entry.
pub(super) fn apply(shared: &Engine, job: &HandPatchJob) -> Result<(), Abort> {
    let patch = &job.patch;
    {
        let mut files = shared.files();
        files.refresh(&shared.events)?;
        if !files
            .patches
            .doc()
            .patches
            .iter()
            .any(|p| same_patch(p, patch) && is_pending(p))
        {
            return Ok(());
        }
    }
    let outcome = match &job.task {
        None => Err(format!("no routing decision for task {:?}", patch.task_id)),
        Some(task) => {
            let ws = Workspace::new(&shared.state, task, patch.attempt);
            // Writes a task's file: never while another recovery process runs a fix.
            let _lock = FixLock::take(&shared.state)?;
            match write_patched(&ws, patch) {
                Ok(()) => {
                    let focus = Focus::new(&ws, [patch.file.as_str()]);
                    let scan = run_all(
                        &shared.detectors,
                        &shared.runner,
                        &ws,
                        &shared.config,
                        &focus,
                    )?;
                    Ok(!scan.runs.is_empty() && scan.runs.iter().all(|r| r.clean))
                }
                Err(e) => Err(e),
            }
        }
    };
    let task = Some(patch.task_id.as_str());
    let attempt = Some(patch.attempt);
    match &outcome {
        Ok(validated) => shared.events.emit(
            EventType::FixApplied,
            PHASE,
            task,
            attempt,
            json!({ "ladder_step": "human", "patch_ids": [patch.patch_id], "files": [patch.file], "validated": validated }),
        ),
        Err(error) => {
            tracing::error!(patch = %patch.patch_id, "fix_patches.json: patch {:?} does not apply: {error}", patch.patch_id);
            shared.events.emit(
                EventType::FixFailed,
                PHASE,
                task,
                attempt,
                json!({ "ladder_step": "human", "patch_ids": [patch.patch_id], "reason": error }),
            )
        }
    }
    shared.events.flush()?;
    let planned = patch.clone();
    let mut files = shared.files();
    files.patches.update(
        shared.lock_wait(),
        shared.events.run_id(),
        &shared.events,
        move |doc: &mut FixPatches| {
            // Only the entry that was applied: if a person changed it meanwhile, theirs stays
            // pending and is applied next.
            if let Some(entry) = doc.patches.iter_mut().find(|p| same_patch(p, &planned)) {
                match outcome {
                    Ok(validated) => {
                        entry.applied = true;
                        entry.validated = validated;
                        entry.error = None;
                    }
                    Err(error) => {
                        entry.error = Some(error);
                        entry.rejected = true;
                    }
                }
            }
        },
    )?;
    Ok(())
}

fn same_patch(a: &Patch, b: &Patch) -> bool {
    a.patch_id == b.patch_id && a.file == b.file && a.diff == b.diff && a.task_id == b.task_id
}

/// Applies the diff to the file (a missing file is empty). A diff whose result is already
/// there (applied before a crash) counts as applied.
fn write_patched(ws: &Workspace, patch: &Patch) -> Result<(), String> {
    let path = ws
        .inside(&patch.file)
        .ok_or_else(|| format!("file {:?} is not inside the task's workdir", patch.file))?;
    let (base, mode) = match std::fs::read(&path) {
        Ok(bytes) => {
            let text = String::from_utf8(bytes)
                .map_err(|_| format!("{} is not UTF-8 text", path.display()))?;
            let mode = std::fs::metadata(&path)
                .map(|m| m.permissions().mode())
                .ok();
            (text, mode)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (String::new(), None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let parsed =
        diffy::Patch::from_str(&patch.diff).map_err(|e| format!("not a unified diff: {e}"))?;
    let patched = match diffy::apply(&base, &parsed) {
        Ok(text) => text,
        Err(e) => {
            if diffy::apply(&base, &parsed.reverse()).is_ok() {
                return Ok(());
            }
            return Err(format!("does not apply to {}: {e}", patch.file));
        }
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    crate::store::write_atomic(&path, patched.as_bytes()).map_err(|e| e.to_string())?;
    if let Some(mode) = mode {
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode));
    }
    Ok(())
}
