//! Where a task's recovery work happens: its spec, its absolute workdir, the attempt.

use std::path::{Path, PathBuf};

use crate::model::TaskSpec;
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
