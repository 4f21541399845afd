//! Publishing a task into `inbox/` (`phase submit`).
//!
//! The validated spec is written in canonical form (its `id` filled in) to a hidden temp
//! file in `inbox/`, fsynced, and renamed to `inbox/<id>.json` without replacing anything
//! (nq's trick): the router never sees half a file, and a task already there is never
//! overwritten.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::StateDir;
use super::atomic::create_atomic;
use super::contain::dir_below;
use super::task_file::{MAX_TASK_FILE_BYTES, parse_task_bytes, read_task_file};
use crate::model::TaskSpec;
use crate::{Error, Result};

/// A task read and validated, ready to publish.
#[derive(Debug, Clone)]
pub struct Submission {
    source: PathBuf,
    spec: TaskSpec,
}

/// A task with the same id that is already in the state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Existing {
    /// None: the id is free.
    None,
    /// The same task (equal spec) is already at this path.
    Same(PathBuf),
    /// A different (or unreadable) task file holds the id at this path.
    Different(PathBuf),
}

/// What [`Submission::publish`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// The task is now at this path in `inbox/`.
    New(PathBuf),
    /// The same task was already at this path; nothing was written.
    AlreadyThere(PathBuf),
}

impl Submission {
    /// Reads and validates a task file (see [`read_task_file`]); the id defaults to the
    /// file's stem.
    pub fn from_file(path: &Path) -> Result<Submission> {
        Ok(Submission {
            spec: read_task_file(path)?,
            source: path.to_path_buf(),
        })
    }

    /// Reads and validates a task from a stream (stdin); `name` stands for it in messages.
    /// There is no file name, so the task must give its `id`.
    pub fn from_reader(name: &Path, reader: impl Read) -> Result<Submission> {
        let mut bytes = Vec::new();
        // One byte over the limit is enough to say it is too large.
        reader
            .take(MAX_TASK_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(name, "read", e))?;
        Ok(Submission {
            spec: parse_task_bytes(name, &bytes, "")?,
            source: name.to_path_buf(),
        })
    }

    /// The task's id.
    pub fn id(&self) -> &str {
        self.spec.id()
    }

    /// Where the task came from (a path, or `<stdin>`).
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// The validated spec, `id` filled in.
    pub fn spec(&self) -> &TaskSpec {
        &self.spec
    }

    /// The file that would be written: `inbox/<id>.json`.
    pub fn target(&self, state: &StateDir) -> PathBuf {
        state.inbox().join(format!("{}.json", self.id()))
    }

    /// Whether a task with this id is already accepted (`tasks/`) or queued (`inbox/`).
    pub fn existing(&self, state: &StateDir) -> Result<Existing> {
        let name = format!("{}.json", self.id());
        for path in [state.tasks().join(&name), state.inbox().join(&name)] {
            match std::fs::symlink_metadata(&path) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(&path, "stat", e)),
            }
            // An invalid file under that name still occupies the id.
            return Ok(match read_task_file(&path) {
                Ok(spec) if spec == self.spec => Existing::Same(path),
                _ => Existing::Different(path),
            });
        }
        Ok(Existing::None)
    }

    /// The error for a different task already holding this id.
    pub fn conflict(&self, existing: &Path) -> Error {
        Error::invalid(
            &self.source,
            format!(
                "task {:?} already exists as {} with different content (use another id)",
                self.id(),
                existing.display()
            ),
        )
    }

    /// Publishes the task as `inbox/<id>.json` (creating `inbox/` if the state directory
    /// exists without it). Never overwrites: if the id is taken by the same task, reports
    /// where; by a different one, fails with [`conflict`](Self::conflict).
    pub fn publish(&self, state: &StateDir) -> Result<Published> {
        if !state.root().is_dir() {
            return Err(Error::invalid(
                state.root(),
                "no state directory here (run `phase init`)",
            ));
        }
        // Made if missing; a link in its place is refused, so nothing is published elsewhere.
        dir_below(&state.inbox(), 1, true)?;
        let mut bytes = serde_json::to_vec_pretty(&self.spec)
            .map_err(|e| Error::invalid(&self.source, format!("cannot serialise: {e}")))?;
        bytes.push(b'\n');
        let target = self.target(state);
        // A few rounds cover the router moving inbox/<id>.json to tasks/ in between.
        for _ in 0..3 {
            match self.existing(state)? {
                Existing::Same(path) => return Ok(Published::AlreadyThere(path)),
                Existing::Different(path) => return Err(self.conflict(&path)),
                Existing::None => {}
            }
            match create_atomic(&target, &bytes) {
                Ok(()) => return Ok(Published::New(target)),
                Err(Error::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        Err(Error::invalid(
            &target,
            "another process keeps creating and removing this file; try again",
        ))
    }
}
