//! Containment (issue 8): nothing the engine reads or writes on behalf of a file — a task's
//! `workdir` and `files`, a patch's target, a log path — leaves the project, and nothing in
//! the state directory is reached through a symbolic link someone planted there.
//!
//! Two halves, both on cap-std directory handles instead of string checks:
//! - [`ProjectRoot::resolve`] resolves a path a person or a file gave *when it is used*,
//!   through every symbolic link on the way, beneath the project root (the state
//!   directory's parent): a path that leads out — absolute, `..`, or a link pointing
//!   elsewhere — is refused with an error naming the field, and so is one into the state
//!   directory itself (state files are edited through the engine, not by tasks).
//! - [`open_below`] and [`dir_below`] open files and directories *inside* the state
//!   directory one component at a time with `O_NOFOLLOW`: a link is refused by name.
//!
//! Resolving is a check at the moment of use, not a lock: a task that swaps a directory
//! for a link between the check and the use can still win that race. What it prevents is
//! every path the files themselves can name.

mod below;

use std::path::{Component, Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;

use super::StateDir;
use crate::model::TaskSpec;
use crate::{Error, Result};

pub use below::{Access, dir_below, open_below, symlink_error};

/// The project a state directory belongs to, opened as a directory handle.
#[derive(Debug)]
pub struct ProjectRoot {
    dir: Dir,
    /// Canonical absolute path of the root.
    path: PathBuf,
    /// The state directory, relative to the root, when it lies inside it.
    state: Option<PathBuf>,
}

/// A path resolved inside the project, every symbolic link on the way followed and found
/// to stay inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contained {
    relative: PathBuf,
    absolute: PathBuf,
}

impl Contained {
    /// The absolute path, links resolved: use this one, not the one given.
    pub fn path(&self) -> &Path {
        &self.absolute
    }

    /// The path relative to the project root (empty for the root itself).
    pub fn relative(&self) -> &Path {
        &self.relative
    }
}

impl ProjectRoot {
    /// The project of `state`: the state directory's parent.
    pub fn of(state: &StateDir) -> Result<ProjectRoot> {
        let mut root = ProjectRoot::at(&state.project_root())?;
        let state_path = std::fs::canonicalize(state.root()).ok();
        root.state =
            state_path.and_then(|s| s.strip_prefix(&root.path).ok().map(Path::to_path_buf));
        Ok(root)
    }

    /// A project rooted at `path` (no state directory in it is known).
    pub fn at(path: &Path) -> Result<ProjectRoot> {
        let canonical = std::fs::canonicalize(path)
            .map_err(|e| Error::io(path, "resolve the project root", e))?;
        let dir = Dir::open_ambient_dir(&canonical, ambient_authority())
            .map_err(|e| Error::io(&canonical, "open the project root", e))?;
        Ok(ProjectRoot {
            dir,
            path: canonical,
            state: None,
        })
    }

    /// The root's canonical path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The project root itself, as a [`Contained`] base.
    pub fn top(&self) -> Contained {
        Contained {
            relative: PathBuf::new(),
            absolute: self.path.clone(),
        }
    }

    /// Resolves `given` — relative to `base` (the root when `None`), or absolute — through
    /// every symbolic link, and refuses it when it leads outside the project or into the
    /// state directory. A path that does not exist yet resolves through its deepest
    /// existing directory; a dangling link is refused (writing through it would create its
    /// target). `field` names what `given` is (`workdir`, `files[2]`) in the error.
    pub fn resolve(&self, base: Option<&Contained>, given: &str, field: &str) -> Result<Contained> {
        let given_path = Path::new(given);
        let wanted = if given_path.is_absolute() {
            match given_path.strip_prefix(&self.path) {
                Ok(rel) => rel.to_path_buf(),
                Err(_) => return Err(self.refuse(given_path, field, "is outside the project")),
            }
        } else {
            base.map_or_else(PathBuf::new, |b| b.relative.clone())
                .join(given_path)
        };
        let shown = self.path.join(&wanted);
        let relative = self.canonical(&wanted, &shown, field)?;
        if let Some(state) = &self.state
            && relative.starts_with(state)
        {
            return Err(self.refuse(&shown, field, "is inside the state directory"));
        }
        Ok(Contained {
            absolute: self.path.join(&relative),
            relative,
        })
    }

    /// `wanted` (relative to the root) with links resolved, relative to the root.
    fn canonical(&self, wanted: &Path, shown: &Path, field: &str) -> Result<PathBuf> {
        if wanted.components().all(|c| c == Component::CurDir) {
            return Ok(PathBuf::new());
        }
        match self.dir.canonicalize(wanted) {
            Ok(p) => Ok(p.components().filter(|c| *c != Component::CurDir).collect()),
            Err(e) if is_escape(&e) => Err(self.refuse(shown, field, "leads outside the project")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if self.dir.symlink_metadata(wanted).is_ok() {
                    return Err(self.refuse(shown, field, "is a symbolic link to nothing"));
                }
                let (Some(name), Some(parent)) = (wanted.file_name(), wanted.parent()) else {
                    return Err(self.refuse(shown, field, "names a directory that does not exist"));
                };
                if matches!(wanted.components().next_back(), Some(Component::ParentDir)) {
                    return Err(self.refuse(shown, field, "names a directory that does not exist"));
                }
                Ok(self.canonical(parent, shown, field)?.join(name))
            }
            Err(e) => Err(Error::io(shown, "resolve", e)),
        }
    }

    fn refuse(&self, shown: &Path, field: &str, why: &str) -> Error {
        Error::invalid(
            shown,
            format!("{field}: {why} {}; refused", self.path.display()),
        )
    }
}

/// Resolves a task's `workdir` and every one of its `files` (relative to the workdir) in
/// the project of `state`; returns the workdir's resolved path, or `Ok(None)` when the task
/// names neither (it runs in the project root and nothing needs resolving). The error
/// names the field (`workdir`, `files[2]`) and the path.
pub fn contain_task_paths(state: &StateDir, task: &TaskSpec) -> Result<Option<PathBuf>> {
    let workdir = task.workdir.as_deref().filter(|w| !w.is_empty());
    if workdir.is_none() && task.files.is_empty() {
        return Ok(None);
    }
    let root = ProjectRoot::of(state)?;
    let dir = match workdir {
        Some(w) => root.resolve(None, w, "workdir")?,
        None => root.top(),
    };
    for (i, file) in task.files.iter().enumerate() {
        root.resolve(Some(&dir), file, &format!("files[{i}]"))?;
    }
    Ok(Some(dir.absolute))
}

/// cap-std's "a path led outside of the filesystem": permission denied with no OS code.
fn is_escape(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::PermissionDenied && e.raw_os_error().is_none()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn project() -> (tempfile::TempDir, ProjectRoot) {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("p");
        std::fs::create_dir_all(p.join("src/deep")).unwrap();
        std::fs::create_dir_all(p.join(".state")).unwrap();
        std::fs::create_dir_all(dir.path().join("outside")).unwrap();
        std::fs::write(p.join("src/a.py"), "x").unwrap();
        symlink(dir.path().join("outside"), p.join("out")).unwrap();
        symlink("src", p.join("inner")).unwrap();
        symlink("src/none", p.join("dangling")).unwrap();
        symlink(dir.path().join("outside/none"), p.join("away")).unwrap();
        let root = ProjectRoot::of(&StateDir::new(p.join(".state"))).unwrap();
        (dir, root)
    }

    #[test]
    fn paths_inside_resolve_through_links_that_stay_inside() {
        let (_d, root) = project();
        let top = root.top();
        let r = |g: &str| {
            root.resolve(Some(&top), g, "files[0]")
                .map(|c| c.relative().to_path_buf())
        };
        assert_eq!(r("src/a.py").unwrap(), Path::new("src/a.py"));
        assert_eq!(r("inner/a.py").unwrap(), Path::new("src/a.py"));
        assert_eq!(r("src/deep/../a.py").unwrap(), Path::new("src/a.py"));
        assert_eq!(r("src/new/file.py").unwrap(), Path::new("src/new/file.py"));
        assert_eq!(r(".").unwrap(), Path::new(""));
        let abs = root.path().join("src/a.py");
        assert_eq!(r(abs.to_str().unwrap()).unwrap(), Path::new("src/a.py"));
        let src = root.resolve(None, "src", "workdir").unwrap();
        let inside = root.resolve(Some(&src), "deep/x", "files[1]").unwrap();
        assert_eq!(inside.path(), root.path().join("src/deep/x"));
    }

    #[test]
    fn paths_that_leave_are_refused_naming_the_field() {
        let (_d, root) = project();
        for (given, why) in [
            ("../outside/x", "leads outside"),
            ("out/x", "leads outside"),
            ("out", "leads outside"),
            ("/etc/passwd", "is outside the project"),
            ("dangling", "symbolic link to nothing"),
            ("away", "leads outside"),
            (
                ".state/routing_decisions.json",
                "inside the state directory",
            ),
            ("src/missing/../../../x", "does not exist"),
        ] {
            let err = root
                .resolve(None, given, "files[3]")
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("files[3]: ") && err.contains(why),
                "{given}: {err}"
            );
        }
    }
}
