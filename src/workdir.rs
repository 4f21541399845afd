//! What every phase that looks through a task's workdir agrees on.

use std::path::{Component, Path, PathBuf};

/// Directories never walked when a workdir (or a directory in a task's `files`) is looked
/// through for changes: version control, the state directory, build output, caches and
/// virtual environments — large, and never what a task or a fix is about.
pub const SKIP_DIRS: [&str; 14] = [
    ".git",
    ".hg",
    ".svn",
    ".state",
    "target",
    "node_modules",
    "__pycache__",
    ".venv",
    "venv",
    ".tox",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".cache",
];

/// `path` with `.` and `..` resolved lexically (no file system access), as recovery
/// records a fix's paths and the phases compare them.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// What a task may touch, as absolute paths: its `files` (each a file or a directory)
/// under its workdir, or the whole workdir when it names none. `root` is the project root
/// its `workdir` is relative to.
pub fn task_area(root: &Path, workdir: Option<&str>, files: &[String]) -> Vec<PathBuf> {
    let workdir = match workdir {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.to_path_buf(),
    };
    if files.is_empty() {
        return vec![normalize(&workdir)];
    }
    files.iter().map(|f| normalize(&workdir.join(f))).collect()
}
