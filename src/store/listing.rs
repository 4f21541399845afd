//! Read-only listings of the task-file directories.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The `*.json` entries of `dir` that are task files: not hidden, not temp files, not
/// `*.error.json` reports. Sorted by name. A missing directory is empty.
pub fn list_task_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, "list", e)),
    };
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.ends_with(".json") && !n.starts_with('.') && !n.ends_with(".error.json")
            })
        })
        .collect();
    out.sort();
    Ok(out)
}
