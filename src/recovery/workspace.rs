//! Where a task's recovery work happens: its spec, its absolute workdir, the attempt.

use std::path::{Path, PathBuf};

use crate::model::TaskSpec;
use crate::store::StateDir;
use crate::template::Vars;

/// A task's working directory as recovery sees it.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The accepted task spec (from its routing decision).
    pub task: TaskSpec,
    /// The failed attempt being worked on.
    pub attempt: u32,
    /// The project root joined with the task's `workdir`.
    pub workdir: PathBuf,
    workdir_text: String,
}

impl Workspace {
    /// The workspace of `task` inside the project of `state`.
    pub fn new(state: &StateDir, task: &TaskSpec, attempt: u32) -> Workspace {
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
        }
    }

    /// The task's id.
    pub fn task_id(&self) -> &str {
        self.task.id()
    }

    /// Template values: the task's own, with `description` and `prompt_file` as given.
    pub fn vars<'a>(&'a self, description: &'a str, prompt_file: Option<&'a str>) -> Vars<'a> {
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

    /// `file` (relative to the workdir) as a path inside it; `None` if it would escape
    /// (absolute, or `..` past the workdir).
    pub fn inside(&self, file: &str) -> Option<PathBuf> {
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
        let state = StateDir::new("/p/.state");
        let ws = Workspace::new(&state, &TaskSpec::default(), 1);
        assert_eq!(ws.workdir, PathBuf::from("/p"));
        assert_eq!(ws.inside("a/b.py"), Some(PathBuf::from("/p/a/b.py")));
        assert_eq!(ws.inside("a/../b.py"), Some(PathBuf::from("/p/a/../b.py")));
        assert_eq!(ws.inside("../etc/passwd"), None);
        assert_eq!(ws.inside("/etc/passwd"), None);
        assert_eq!(ws.inside("."), None);
    }
}
