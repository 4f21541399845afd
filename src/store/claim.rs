//! Claims: a held `flock` on `claims/<task>.lock` says "this task is running here". The
//! kernel drops it when the holder dies, so "is it really running?" has a true answer.

use std::path::Path;

use super::{LockGuard, StateDir};
use crate::Result;

/// A held claim on a task. Dropping it releases the claim.
#[derive(Debug)]
pub struct Claim {
    _guard: LockGuard,
}

impl Claim {
    /// Claims `task_id` if nobody holds it; `Ok(None)` if another process does.
    pub fn try_acquire(state: &StateDir, task_id: &str) -> Result<Option<Claim>> {
        let guard = LockGuard::try_acquire(&state.claim_path(task_id))?;
        Ok(guard.map(|g| Claim { _guard: g }))
    }

    /// The claim file, open to read and write.
    pub(super) fn file(&self) -> &std::fs::File {
        self._guard.file()
    }

    /// Whether some live process holds the claim on `task_id`.
    ///
    /// Within one process a second open file description is used, so a claim held by this
    /// very process also reads as held (flock locks are per open file description).
    pub fn is_held(state: &StateDir, task_id: &str) -> Result<bool> {
        let path = state.claim_path(task_id);
        if !Path::new(&path).exists() {
            return Ok(false);
        }
        Ok(LockGuard::try_acquire(&path)?.is_none())
    }
}

/// The task ids that have a claim file (`claims/<id>.lock`), held or not.
pub fn list_claims(state: &StateDir) -> Result<Vec<String>> {
    let dir = state.root().join("claims");
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(crate::Error::io(&dir, "list", e)),
    };
    Ok(entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let id = name.to_str()?.strip_suffix(".lock")?;
            crate::model::is_valid_task_id(id).then(|| id.to_string())
        })
        .collect())
}
