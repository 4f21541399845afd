//! Where a task's recovery work happens: its spec, its absolute workdir, the attempt.

use std::path::{Path, PathBuf};

use std::sync::Mutex;

use crate::config::ToolConfig;
use crate::model::{Attempt, Isolation, MergeOutcome, TaskSpec, WorktreeRun};
use crate::store::{ProjectRoot, StateDir};
use crate::template::Vars;

/// A task's working directory as recovery sees it.
#[derive(Debug, Clone)]
pub(super) struct Workspace {
    /// The accepted task spec (from its routing decision).
    pub task: TaskSpec,
    /// The failed attempt being worked on.
    pub attempt: u32,
    /// The project root joined with the task's `workdir`.
    pub workdir: PathBuf,
    workdir_text: String,
    /// [`inside`](Self::inside) resolves beneath its project.
    state: StateDir,
}

impl Workspace {
    /// The workspace of `task` inside the project of `state`.
    pub(super) fn new(state: &StateDir, task: &TaskSpec, attempt: u32) -> Workspace {
        let root = state.project_root();
        let workdir = match task.workdir.as_deref() {
            Some(dir) if !dir.is_empty() => root.join(dir),
            _ => root,
        };
        Workspace {
            task: task.clone(),
            attempt,
            workdir_text: workdir.to_string_lossy().into_owned(),
            workdir,
            state: state.clone(),
        }
    }

    /// The task's id.
    pub(super) fn task_id(&self) -> &str {
        self.task.id()
    }

    /// The same task and attempt, working in `dir` instead (a tier's worktree).
    fn moved_to(&self, dir: PathBuf) -> Workspace {
        Workspace {
            workdir_text: dir.to_string_lossy().into_owned(),
            workdir: dir,
            ..self.clone()
        }
    }

    /// The worktree agent tier `tier` (tool `tool`) runs in, when it is isolated: when the
    /// attempt it fixes ran in a worktree (the task's or its tool's `isolation =
    /// "worktree"`), or the tier's own tool asks for one. `Ok(None)`: it runs in the
    /// workdir. The error says why the worktree could not be made (the tier does not run).
    pub(super) fn tier_worktree(
        &self,
        tier: &str,
        tool: &ToolConfig,
        fixed: Option<&Attempt>,
    ) -> Result<Option<TierWorktree>, String> {
        let isolated = fixed.is_some_and(|a| a.worktree.is_some())
            || self.task.isolation.or(tool.isolation) == Some(Isolation::Worktree);
        if !isolated {
            return Ok(None);
        }
        // A tier name is a config key; what a ref may not hold becomes `_`.
        let tier: String = tier
            .chars()
            .map(
                |c| match c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    true => c,
                    false => '_',
                },
            )
            .collect();
        let name = format!("{}.{tier}", self.attempt);
        let started = crate::worktree::start_named(
            &self.state,
            self.task_id(),
            &name,
            &self.workdir,
            &self.task.files,
        )?;
        Ok(Some(TierWorktree {
            ws: self.moved_to(started.cwd),
            run: Mutex::new(Some(started.run)),
            state: self.state.clone(),
        }))
    }

    /// Template values: the task's own, with `description` and `prompt_file` as given.
    pub(super) fn vars<'a>(
        &'a self,
        description: &'a str,
        prompt_file: Option<&'a str>,
    ) -> Vars<'a> {
        Vars {
            command: &self.task.command,
            description,
            files: &self.task.files,
            task_id: self.task.id(),
            attempt: self.attempt,
            workdir: &self.workdir_text,
            prompt_file,
            prompt: None,
        }
    }

    /// `file` (relative to the workdir) as a path inside it, symbolic links resolved;
    /// `None` if it would escape (absolute, `..` past the workdir, a link leading out of
    /// the workdir or the project, or a workdir that itself leads out) — said in the
    /// engine's log with the reason.
    pub(super) fn inside(&self, file: &str) -> Option<PathBuf> {
        self.lexically_inside(file)?;
        let resolved = ProjectRoot::of(&self.state).and_then(|root| {
            let workdir = self.task.workdir.as_deref().unwrap_or("");
            let dir = root.resolve(None, workdir, "workdir")?;
            let path = root.resolve(Some(&dir), file, "file")?;
            match path.path().starts_with(dir.path()) {
                true => Ok(path.path().to_path_buf()),
                false => Err(crate::Error::invalid(
                    path.path(),
                    "file: leads out of the workdir",
                )),
            }
        });
        resolved
            .inspect_err(|e| tracing::warn!(task = %self.task_id(), "{e}"))
            .ok()
    }

    /// The lexical half of [`inside`](Self::inside).
    fn lexically_inside(&self, file: &str) -> Option<PathBuf> {
        let rel = Path::new(file);
        let mut depth = 0usize;
        for part in rel.components() {
            match part {
                std::path::Component::Normal(_) => depth += 1,
                std::path::Component::CurDir => {}
                std::path::Component::ParentDir => depth = depth.checked_sub(1)?,
                _ => return None,
            }
        }
        (depth > 0).then(|| self.workdir.join(rel))
    }
}

/// A ladder tier's own git worktree (`<state>/worktrees/<task>/<attempt>.<tier>`, branch
/// `phase/<task>/<attempt>.<tier>`): the agent works there, and its change comes back
/// into the task's workdir only when its CLI succeeded ([`TierWorktree::bring_back`]), so
/// a tier that failed half-way leaves nothing behind for the next rung. Removed, with
/// nothing merged, when dropped unsettled.
#[derive(Debug)]
pub(super) struct TierWorktree {
    /// The task's workspace in the worktree: where the tier runs, what its prompt names.
    pub ws: Workspace,
    /// `None` once settled.
    run: Mutex<Option<WorktreeRun>>,
    state: StateDir,
}

impl TierWorktree {
    /// Ends the worktree: its change (also kept as `logs/<task>/<attempt>.<tier>.patch`)
    /// merged into the workdir when the tier's CLI `succeeded`, else only the patch. A
    /// line for the step's notes.
    pub(super) fn bring_back(&self, succeeded: bool) -> String {
        let Some(run) = self.run.lock().ok().and_then(|mut r| r.take()) else {
            return String::new();
        };
        let name = Path::new(&run.path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let settled = crate::worktree::settle(
            &self.state,
            self.ws.task_id(),
            self.ws.attempt,
            &run,
            succeeded,
        );
        let patch = settled.run.patch.as_deref().unwrap_or("no patch");
        match (settled.run.merge, settled.failure) {
            (_, Some(why)) => format!("worktree {name}: {why}"),
            (MergeOutcome::Merged, None) => {
                format!("worktree {name}: its change merged into the workdir ({patch})")
            }
            (MergeOutcome::NothingChanged, None) => format!("worktree {name}: nothing changed"),
            (_, None) => {
                format!("worktree {name}: the tier failed; its change was not merged ({patch})")
            }
        }
    }
}

impl Drop for TierWorktree {
    fn drop(&mut self) {
        let _ = self.bring_back(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_refuses_paths_that_escape() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("p");
        std::fs::create_dir_all(p.join(".state")).unwrap();
        std::fs::create_dir_all(p.join("a")).unwrap();
        std::os::unix::fs::symlink(dir.path(), p.join("up")).unwrap();
        let p = std::fs::canonicalize(&p).unwrap();
        let state = StateDir::new(p.join(".state"));
        let ws = Workspace::new(&state, &TaskSpec::default(), 1);
        assert_eq!(ws.workdir, p);
        assert_eq!(ws.inside("a/b.py"), Some(p.join("a/b.py")));
        assert_eq!(ws.inside("a/../b.py"), Some(p.join("b.py")));
        assert_eq!(ws.inside("../etc/passwd"), None);
        assert_eq!(ws.inside("/etc/passwd"), None);
        assert_eq!(ws.inside("."), None);
        assert_eq!(ws.inside("up/x"), None, "a link out of the project");
        assert_eq!(ws.inside(".state/fix_patches.json"), None);
        let escaped = TaskSpec {
            workdir: Some("up".into()),
            ..TaskSpec::default()
        };
        assert_eq!(Workspace::new(&state, &escaped, 1).inside("x"), None);
    }
}
