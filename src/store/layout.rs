//! Where everything lives inside the state directory (DESIGN.md §2).

use std::path::{Path, PathBuf};

use super::contain::dir_below;
use crate::{Error, Result};

/// A state directory, e.g. `.state/`. The project root is its parent: task workdirs are
/// relative to it.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

/// Sub-directories created by `phase init`.
pub(super) const SUBDIRS: [&str; 7] = [
    "inbox",
    "tasks",
    "rejected",
    "logs",
    "escalations",
    "locks",
    "claims",
];

impl StateDir {
    /// Wraps a path; nothing is created.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The state directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory task workdirs are relative to: the state directory's parent.
    pub fn project_root(&self) -> PathBuf {
        let abs = std::path::absolute(&self.root).unwrap_or_else(|_| self.root.clone());
        abs.parent().map(Path::to_path_buf).unwrap_or(abs)
    }

    /// A file directly in the state directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// `inbox/`: the drop zone.
    pub fn inbox(&self) -> PathBuf {
        self.root.join("inbox")
    }

    /// `tasks/`: accepted task specs.
    pub fn tasks(&self) -> PathBuf {
        self.root.join("tasks")
    }

    /// `rejected/`: rejected task files and their `.error.json`.
    pub fn rejected(&self) -> PathBuf {
        self.root.join("rejected")
    }

    /// `logs/<task>/`: per-attempt stdout and stderr.
    pub fn task_logs(&self, task_id: &str) -> PathBuf {
        self.root.join("logs").join(task_id)
    }

    /// A log path as the results record it, relative to the state directory, made a path:
    /// it must be `logs/<task>/<file>` — anything else (absolute, `..`, another directory;
    /// a hand edit of `execution_results.json`) is refused with an error naming it. Open
    /// the result with [`open_below`](super::open_below) at depth 3, so no link is followed.
    pub fn log_path(&self, rel: &str) -> Result<PathBuf> {
        use std::path::Component::Normal;
        let parts: Vec<_> = Path::new(rel).components().collect();
        match parts.as_slice() {
            [Normal(logs), Normal(_), Normal(_)] if *logs == "logs" => Ok(self.root.join(rel)),
            _ => Err(Error::invalid(
                self.root.join(rel),
                format!(
                    "log path {rel:?} is not logs/<task>/<file> inside the state directory; refused"
                ),
            )),
        }
    }

    /// `escalations/`: human-readable reports.
    pub fn escalations(&self) -> PathBuf {
        self.root.join("escalations")
    }

    /// `locks/<name>.lock`: the sidecar lock of a state file.
    pub fn lock_path(&self, name: &str) -> PathBuf {
        self.root.join("locks").join(format!("{name}.lock"))
    }

    /// `claims/locks`: every claim is a lock on one byte of it (`store::Claim`).
    pub fn claim_locks_path(&self) -> PathBuf {
        self.root.join("claims").join("locks")
    }

    /// `claims/fences.jsonl`: the attempt fences, one line each (`store::Fence`).
    pub fn fence_log_path(&self) -> PathBuf {
        self.root.join("claims").join("fences.jsonl")
    }

    /// Creates the layout; returns the paths that did not exist before.
    pub fn ensure_layout(&self) -> Result<Vec<PathBuf>> {
        let mut created = Vec::new();
        for dir in
            std::iter::once(self.root.clone()).chain(SUBDIRS.iter().map(|d| self.root.join(d)))
        {
            if !dir.is_dir() {
                std::fs::create_dir_all(&dir)
                    .map_err(|e| Error::io(&dir, "create directory", e))?;
                created.push(dir);
            }
        }
        self.ensure_runtime_dirs()?;
        Ok(created)
    }

    /// Makes sure the directories a running phase needs exist (cheap when they do). A
    /// symbolic link in place of one is refused by name: nothing is written through it.
    pub fn ensure_runtime_dirs(&self) -> Result<()> {
        for d in SUBDIRS {
            let dir = self.root.join(d);
            if dir_below(&dir, 1, true)?.is_none() {
                return Err(Error::io(
                    &dir,
                    "create directory",
                    std::io::ErrorKind::NotFound.into(),
                ));
            }
        }
        Ok(())
    }

    /// Makes sure the two files every claim uses exist (`claims/locks`,
    /// `claims/fences.jsonl`), made by the running engine (so under its umask). A symbolic
    /// link in place of one is refused by name: no run starts on a state directory whose
    /// claims cannot work, and nothing is written through the link.
    pub fn ensure_claims_files(&self) -> Result<()> {
        super::fence_log::open_regular(&self.claim_locks_path(), super::Access::Lock)?;
        super::fence_log::open_regular(&self.fence_log_path(), super::Access::ReadAppend)?;
        Ok(())
    }
}
