//! The attempt fence: the last attempt started under a task's claim, kept in the fence log
//! `claims/fences.jsonl` (docs/ATTEMPTS.md).
//!
//! Whoever takes the claim to start attempt `n` first reads the fence: if it names `n` or a
//! later attempt, that attempt already started (maybe by a process that died since, maybe
//! by another executor) and must not start again. Otherwise it writes the fence, then
//! starts the command. So an attempt runs at most once across crashes and executors.
//!
//! A fence is written by appending a line (`store::fence_log`): no file is created per
//! task. It is not fsynced: it survives any process crash, not a power cut (which ends the
//! attempt too).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Claim, StateDir};
use crate::{Error, Result};

/// The most a fence may take in the log, its newline included.
pub const FENCE_BYTES: usize = 512;

/// The last attempt started under a task's claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fence {
    /// Always 1 for this format.
    pub schema_version: u32,
    /// The task it fences.
    pub task: String,
    /// The attempt started last.
    pub attempt: u32,
    /// Who started it (the runner's id).
    pub runner: String,
    /// The command's pid; null between writing the fence and the spawn, or if it never
    /// started.
    pub pid: Option<u32>,
    /// The command's process group (the same number: it leads its own group).
    pub pgid: Option<u32>,
    /// When the attempt started.
    pub started_at: String,
    /// When its timeout expires; null without one.
    pub deadline: Option<String>,
}

impl Fence {
    /// Reads the fence of `task_id` without taking its claim: what an observer (a
    /// restarted engine adopting a held claim) needs. `Ok(None)` when no attempt of it was
    /// ever fenced. A fence being written as this reads is not seen yet.
    pub fn read(state: &StateDir, task_id: &str) -> Result<Option<Fence>> {
        let fence = super::fence_log::last_fence(state, task_id)?;
        if let Some(f) = &fence
            && f.task != task_id
        {
            return Err(Error::Schema {
                path: state.fence_log_path(),
                pointer: "/task".into(),
                message: format!("the fence is for task {:?}, not {task_id:?}", f.task),
            });
        }
        Ok(fence)
    }

    /// The fence as a log line: JSON, no newline.
    fn encode(&self, path: &Path) -> Result<Vec<u8>> {
        let bytes = serde_json::to_vec(self)
            .map_err(|e| Error::invalid(path, format!("cannot encode the fence: {e}")))?;
        if bytes.len() >= FENCE_BYTES {
            return Err(Error::invalid(
                path,
                format!(
                    "the fence takes {} bytes, more than the {FENCE_BYTES} it may",
                    bytes.len()
                ),
            ));
        }
        Ok(bytes)
    }
}

/// A task's claim, taken to start an attempt, with the fence log to read and write its
/// fence. Dropping it releases the claim.
#[derive(Debug)]
pub struct FencedClaim {
    _claim: Claim,
    state: StateDir,
    path: PathBuf,
    task_id: String,
}

impl FencedClaim {
    /// Takes `task_id`'s claim if nobody holds it; `Ok(None)` when another process (or
    /// another claim of this process) does.
    pub fn try_take(state: &StateDir, task_id: &str) -> Result<Option<FencedClaim>> {
        if !crate::model::is_valid_task_id(task_id) {
            return Err(Error::invalid(
                state.root().join("claims"),
                format!("{task_id:?} is not a valid task id"),
            ));
        }
        let Some(claim) = Claim::try_acquire(state, task_id)? else {
            return Ok(None);
        };
        Ok(Some(FencedClaim {
            _claim: claim,
            state: state.clone(),
            path: state.fence_log_path(),
            task_id: task_id.to_string(),
        }))
    }

    /// The task's fence; `Ok(None)` if none was ever written. Every fence written before
    /// this claim was taken is seen: its writer appended it while holding the claim.
    pub fn fence(&self) -> Result<Option<Fence>> {
        Fence::read(&self.state, &self.task_id)
    }

    /// Writes `fence` as the task's fence (one appended line).
    pub fn set_fence(&self, fence: &Fence) -> Result<()> {
        let line = fence.encode(&self.path)?;
        super::fence_log::append(&self.state, &line)
    }

    /// The fence log, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fence(task: &str, attempt: u32, runner: &str) -> Fence {
        Fence {
            schema_version: 1,
            task: task.into(),
            attempt,
            runner: runner.into(),
            pid: Some(42),
            pgid: Some(42),
            started_at: "2026-01-02T03:04:05.678Z".into(),
            deadline: None,
        }
    }

    #[test]
    fn a_new_claim_has_no_fence_and_keeps_the_one_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::new(dir.path());
        let claim = FencedClaim::try_take(&state, "t").unwrap().expect("free");
        assert_eq!(claim.fence().unwrap(), None);
        assert_eq!(Fence::read(&state, "t").unwrap(), None);
        claim.set_fence(&fence("t", 1, &"r".repeat(200))).unwrap();
        claim.set_fence(&fence("t", 2, "r")).unwrap();
        assert_eq!(claim.fence().unwrap(), Some(fence("t", 2, "r")));
        assert_eq!(Fence::read(&state, "t").unwrap(), Some(fence("t", 2, "r")));
        // Held by this claim: a second one is refused, and free again after the drop.
        assert!(FencedClaim::try_take(&state, "t").unwrap().is_none());
        drop(claim);
        let again = FencedClaim::try_take(&state, "t").unwrap().expect("free");
        assert_eq!(again.fence().unwrap().map(|f| f.attempt), Some(2));
    }

    #[test]
    fn a_fence_line_that_does_not_match_its_index_is_an_error_naming_the_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::new(dir.path());
        std::fs::create_dir_all(dir.path().join("claims")).unwrap();
        // Parses as a head (task "t") but not as a fence: an unknown field.
        std::fs::write(
            state.fence_log_path(),
            "{\"schema_version\":1,\"task\":\"t\",\"attempt\":1,\"extra\":true}\n",
        )
        .unwrap();
        let err = Fence::read(&state, "t").unwrap_err().to_string();
        assert!(
            err.contains("claims/fences.jsonl") && err.contains("invalid attempt fence"),
            "{err}"
        );
    }

    #[test]
    fn an_oversized_fence_is_refused_and_an_invalid_id_never_makes_a_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::new(dir.path());
        let claim = FencedClaim::try_take(&state, "t").unwrap().expect("free");
        let err = claim
            .set_fence(&fence("t", 1, &"r".repeat(600)))
            .unwrap_err();
        assert!(err.to_string().contains("more than the 512"), "{err}");
        assert!(FencedClaim::try_take(&state, "../x").is_err());
    }
}
