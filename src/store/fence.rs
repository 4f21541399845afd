//! The attempt fence: the last attempt started under a task's claim, kept *inside* the
//! claim file `claims/<task>.lock` (docs/ATTEMPTS.md).
//!
//! Whoever takes the claim to start attempt `n` first reads the fence: if it names `n` or a
//! later attempt, that attempt already started (maybe by a process that died since, maybe
//! by another executor) and must not start again. Otherwise it writes the fence, then
//! starts the command. So an attempt runs at most once across crashes and executors.
//!
//! The fence is written in place, as one `pwrite` at offset 0 of a fixed-size buffer padded
//! with spaces: a reader never sees the end of an older, longer fence, and no rename is
//! needed (the claim file's inode must not change: the flock lives on it). It is not
//! fsynced: it survives any process crash, not a power cut (which ends the attempt too).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Claim, StateDir};
use crate::{Error, Result};

/// The size of the fence on disk: one JSON object, padded with spaces, ending in `\n`.
pub const FENCE_BYTES: usize = 512;

/// How often an observer re-reads a fence that does not parse (it may have caught a write
/// half-way: `pwrite` and `read` of one page are not atomic with each other on every
/// file system).
const OBSERVER_READS: usize = 3;

/// The last attempt started under a task's claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fence {
    /// Always 1 for this format.
    pub schema_version: u32,
    /// The task (must match the claim file's name).
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
    /// Reads the fence of `task_id`'s claim without taking the claim: what an observer (a
    /// restarted engine adopting a held claim) needs. `Ok(None)` when there is no claim
    /// file or no fence in it yet.
    pub fn read(state: &StateDir, task_id: &str) -> Result<Option<Fence>> {
        let path = state.claim_path(task_id);
        // Never through a planted link (claims/ or the file itself): refused by name.
        let file = match super::open_below(&path, 2, super::Access::Read) {
            Ok(f) => f,
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let mut last = None;
        for _ in 0..OBSERVER_READS {
            match read_fence(&file, &path, task_id) {
                Ok(fence) => return Ok(fence),
                Err(e) if e.is_content_error() => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::invalid(&path, "unreadable fence")))
    }

    /// The fence as written: JSON padded with spaces to [`FENCE_BYTES`].
    fn encode(&self, path: &Path) -> Result<Vec<u8>> {
        let mut bytes = serde_json::to_vec(self)
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
        bytes.resize(FENCE_BYTES - 1, b' ');
        bytes.push(b'\n');
        Ok(bytes)
    }
}

/// A task's claim, taken to start an attempt, with its claim file open to read and write
/// the fence. Dropping it releases the claim.
#[derive(Debug)]
pub struct FencedClaim {
    // The fence is read and written through the claim's own descriptor: an attempt the
    // runner holds until its ack costs one descriptor, and every spawn copies (and closes
    // at exec) the runner's descriptors.
    claim: Claim,
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
            claim,
            path: state.claim_path(task_id),
            task_id: task_id.to_string(),
        }))
    }

    /// The fence in the claim file; `Ok(None)` if none was ever written. A fence that does
    /// not parse is an error naming the file: nobody can tell which attempt it stood for.
    pub fn fence(&self) -> Result<Option<Fence>> {
        read_fence(self.claim.file(), &self.path, &self.task_id)
    }

    /// Writes `fence` over the previous one, in one `pwrite`.
    pub fn set_fence(&self, fence: &Fence) -> Result<()> {
        let bytes = fence.encode(&self.path)?;
        match self.claim.file().write_at(&bytes, 0) {
            Ok(n) if n == bytes.len() => Ok(()),
            Ok(n) => Err(Error::invalid(
                &self.path,
                format!("short write of the fence ({n} of {} bytes)", bytes.len()),
            )),
            Err(e) => Err(Error::io(&self.path, "write the fence", e)),
        }
    }

    /// The claim file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The fence at the start of `file`, checked to be about `task_id`.
fn read_fence(file: &File, path: &Path, task_id: &str) -> Result<Option<Fence>> {
    let mut buf = [0u8; FENCE_BYTES];
    let mut len = 0;
    while len < buf.len() {
        match file.read_at(&mut buf[len..], len as u64) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(path, "read the fence", e)),
        }
    }
    let text = &buf[..len];
    if text.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let fence: Fence = serde_json::from_slice(text.trim_ascii()).map_err(|e| Error::Syntax {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: format!("invalid attempt fence: {e}"),
    })?;
    if fence.task != task_id {
        return Err(Error::Schema {
            path: path.to_path_buf(),
            pointer: "/task".into(),
            message: format!("the fence is for task {:?}, not {task_id:?}", fence.task),
        });
    }
    Ok(Some(fence))
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
        // A long runner id first, then a short one: no tail of the first may survive.
        claim.set_fence(&fence("t", 1, &"r".repeat(200))).unwrap();
        claim.set_fence(&fence("t", 2, "r")).unwrap();
        assert_eq!(claim.fence().unwrap(), Some(fence("t", 2, "r")));
        assert_eq!(Fence::read(&state, "t").unwrap(), Some(fence("t", 2, "r")));
        let on_disk = std::fs::read(claim.path()).unwrap();
        assert_eq!(on_disk.len(), FENCE_BYTES);
        // Held by this claim: a second one is refused, and free again after the drop.
        assert!(FencedClaim::try_take(&state, "t").unwrap().is_none());
        drop(claim);
        let again = FencedClaim::try_take(&state, "t").unwrap().expect("free");
        assert_eq!(again.fence().unwrap().map(|f| f.attempt), Some(2));
    }

    #[test]
    fn a_foreign_or_broken_fence_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::new(dir.path());
        std::fs::create_dir_all(dir.path().join("claims")).unwrap();
        std::fs::write(state.claim_path("t"), "{not json").unwrap();
        let err = Fence::read(&state, "t").unwrap_err().to_string();
        assert!(
            err.contains("claims/t.lock") && err.contains("invalid attempt fence"),
            "{err}"
        );
        let other = serde_json::to_vec(&fence("u", 1, "r")).unwrap();
        std::fs::write(state.claim_path("t"), other).unwrap();
        let claim = FencedClaim::try_take(&state, "t").unwrap().expect("free");
        let err = claim.fence().unwrap_err().to_string();
        assert!(err.contains("/task") && err.contains("\"u\""), "{err}");
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
