//! Fixes in progress (`fixes_in_progress.json`, written by recovery through the store):
//! a new attempt of a task whose files overlap the files a fix step of another task may
//! change waits until that fix ends, so a fixer never rewrites files under a running
//! attempt (docs/RECOVERY.md, "Scope"). The file is looked at with a `stat` per pass and
//! read when it changed; while a fix is recorded it is read again every poll interval too,
//! so a record a dead recovery process left (its claim released) stops holding tasks back.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::queue::Key;
use crate::executor::PHASE;
use crate::model::RoutingDecision;
use crate::store::{FixInProgress, StateDir, fixes_in_progress_path, live_fixes};

/// What identifies a version of the file: inode (an atomic write makes a new one), size
/// and modification time.
type Version = (u64, u64, i128);

/// The live fixes and the tasks they hold back.
#[derive(Debug, Default)]
pub(in crate::executor) struct FixHolds {
    fixes: Vec<FixInProgress>,
    /// The version of the file last read (`None`: missing).
    seen: Option<Version>,
    /// When to read it again although it did not change (claims may have been released).
    recheck_at: Option<Instant>,
    /// The project root task workdirs are relative to.
    root: PathBuf,
    /// Tasks taken off the ready queue because a fix held them back.
    held: Vec<(Key, String)>,
    /// A broken file was reported (once, until it is readable again).
    warned: bool,
}

impl FixHolds {
    /// Looks at the file (a `stat`; a read when it changed or a recheck is due). Returns
    /// the held tasks to queue again when the fixes changed: each is checked once more.
    pub(in crate::executor) fn refresh(
        &mut self,
        state: &StateDir,
        now: Instant,
        recheck: Duration,
    ) -> Vec<Key> {
        let version = std::fs::metadata(fixes_in_progress_path(state))
            .ok()
            .map(|m| {
                let mtime = i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec());
                (m.ino(), m.len(), mtime)
            });
        let due = self.recheck_at.is_some_and(|t| now >= t);
        if version == self.seen && !due {
            return Vec::new();
        }
        self.seen = version;
        if self.root.as_os_str().is_empty() {
            self.root = state.project_root();
        }
        let fixes = match version {
            None => Vec::new(),
            Some(_) => match live_fixes(state) {
                Ok(fixes) => {
                    self.warned = false;
                    fixes
                }
                Err(e) => {
                    // A broken record holds nothing back: recovery rewrites it at its next
                    // fix, and its own wait keeps fixes off running attempts meanwhile.
                    if !self.warned {
                        tracing::warn!(phase = PHASE, "{e}");
                        self.warned = true;
                    }
                    Vec::new()
                }
            },
        };
        self.recheck_at = (!fixes.is_empty()).then(|| now + recheck);
        self.fixes = fixes;
        self.held.drain(..).map(|(key, _)| key).collect()
    }

    /// When the file must be read again although it did not change.
    pub(in crate::executor) fn recheck_at(&self) -> Option<Instant> {
        self.recheck_at
    }

    /// The fix holding task `decision` back, if one does: a fix of another task whose
    /// paths overlap the task's files (its whole workdir when it names none).
    pub(in crate::executor) fn holding(
        &self,
        decision: &RoutingDecision,
    ) -> Option<&FixInProgress> {
        if self.fixes.is_empty() {
            return None;
        }
        let area = area_of(&self.root, decision);
        self.fixes
            .iter()
            .find(|f| f.task_id != decision.task_id && f.overlaps(&area))
    }

    /// Sets `key` aside until the fixes change; logs why the first time.
    pub(in crate::executor) fn hold(&mut self, key: Key, task: &str, fix: &str) {
        if !self.held.iter().any(|(_, t)| t == task) {
            tracing::info!(
                phase = PHASE,
                task,
                "waiting on the fix of task {fix}: it may change the same files"
            );
        }
        self.held.push((key, task.to_string()));
    }

    /// Forgets the held tasks (the queue is rebuilt from the results).
    pub(in crate::executor) fn clear_held(&mut self) {
        self.held.clear();
    }
}

fn area_of(root: &Path, decision: &RoutingDecision) -> Vec<PathBuf> {
    let task = &decision.task;
    crate::workdir::task_area(root, task.workdir.as_deref(), &task.files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TaskSpec;

    fn decision(id: &str, workdir: Option<&str>, files: &[&str]) -> RoutingDecision {
        RoutingDecision {
            task_id: id.to_string(),
            task: TaskSpec {
                id: Some(id.to_string()),
                workdir: workdir.map(String::from),
                files: files.iter().map(|f| f.to_string()).collect(),
                ..TaskSpec::default()
            },
            ..RoutingDecision::default()
        }
    }

    fn holds(paths: &[&str]) -> FixHolds {
        FixHolds {
            fixes: vec![FixInProgress {
                task_id: "a".to_string(),
                attempt: 1,
                step: "mechanical_fix".to_string(),
                paths: paths.iter().map(PathBuf::from).collect(),
                started_at: String::new(),
                claim: "_recovery-a".to_string(),
            }],
            root: PathBuf::from("/p"),
            ..FixHolds::default()
        }
    }

    #[test]
    fn a_task_is_held_when_its_files_overlap_a_fix_of_another_task() {
        let h = holds(&["/p/api"]);
        assert!(h.holding(&decision("b", None, &["api/m.py"])).is_some());
        assert!(h.holding(&decision("b", None, &["./api/"])).is_some());
        assert!(h.holding(&decision("b", Some("api"), &["m.py"])).is_some());
        assert!(
            h.holding(&decision("b", None, &[])).is_some(),
            "whole workdir"
        );
        assert!(h.holding(&decision("b", None, &["apis/m.py"])).is_none());
        assert!(h.holding(&decision("b", Some("web"), &[])).is_none());
        assert!(
            h.holding(&decision("a", None, &["api/m.py"])).is_none(),
            "its own"
        );
        let file = holds(&["/p/x.txt"]);
        assert!(file.holding(&decision("b", None, &["."])).is_some());
        assert!(file.holding(&decision("b", None, &["y.txt"])).is_none());
    }
}
