//! The inbox's second exit: `rejected/<file>` with `<file>.error.json` saying why, under
//! the first free name, so a rejected file never overwrites another.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{InboxLock, present};
use crate::model::now_rfc3339;
use crate::store::StateDir;
use crate::store::atomic::create_unsynced_dir;
use crate::store::contain::dir_below;
use crate::store::file_name::rejected_name;
use crate::{Error, Result};

/// Why a file was rejected: the content of `rejected/<file>.error.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RejectionNote {
    /// The file's name in the inbox.
    pub file: String,
    /// The task id, when the file got far enough to have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// What is wrong, naming the field or the line.
    pub error: String,
    /// JSON pointer of the offending value, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// 1-based line of a syntax error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based column of a syntax error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// When it was rejected.
    pub rejected_at: String,
    /// Set when the file was an identical copy of an accepted task: nothing is wrong with
    /// it, it is kept only because no file is ever deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
}

impl RejectionNote {
    /// A note with a plain message.
    pub fn new(file: &str, task_id: Option<&str>, error: impl Into<String>) -> Self {
        Self {
            file: file.to_string(),
            task_id: task_id.map(str::to_string),
            error: error.into(),
            rejected_at: now_rfc3339(),
            duplicate_of: None,
            ..Self::default()
        }
    }

    /// A note for a file that could not be read or validated. The message does not repeat
    /// the path (the note sits next to the file) but keeps the line, column or field.
    pub fn for_error(file: &str, err: &Error) -> Self {
        let mut note = Self::new(file, None, String::new());
        note.error = match err {
            Error::Syntax {
                line,
                column,
                message,
                ..
            } => {
                note.line = Some(*line);
                note.column = Some(*column);
                format!("line {line}, column {column}: {message}")
            }
            Error::Schema {
                pointer, message, ..
            } => {
                if pointer.is_empty() {
                    message.clone()
                } else {
                    note.pointer = Some(pointer.clone());
                    format!("{pointer}: {message}")
                }
            }
            Error::Invalid { message, .. } => message.clone(),
            Error::Io { action, source, .. } => format!("cannot {action}: {source}"),
            other => other.to_string(),
        };
        note
    }
}

/// Moves an inbox file to `rejected/` next to its `.error.json`, under the first free name
/// (`a.json`, `a.1.json`, `a.2.json`, …): nothing there is ever overwritten. The note is
/// written first, so a rejected file always has its reason. Returns the new path, or
/// `Ok(None)` if the file is no longer in the inbox. Not durable until
/// [`sync_intake_dirs`].
pub fn reject_task_file(
    state: &StateDir,
    file: &Path,
    note: &RejectionNote,
    _lock: &InboxLock,
) -> Result<Option<PathBuf>> {
    if !present(file) {
        return Ok(None);
    }
    let dir = state.rejected();
    let no_dir = || {
        Error::io(
            &dir,
            "create directory",
            std::io::ErrorKind::NotFound.into(),
        )
    };
    let rejected = dir_below(&dir, 1, true)?.ok_or_else(no_dir)?;
    let Some(inbox) = dir_below(&state.inbox(), 1, false)? else {
        return Ok(None);
    };
    let name = file.file_name().unwrap_or(OsStr::new("task.json"));
    // An odd name (not UTF-8, too long for the note's suffix) gets one that can be shown.
    let (target, report) = free_slot(&dir, &rejected_name(name));
    let mut bytes = serde_json::to_vec_pretty(note)
        .map_err(|e| Error::invalid(&report, format!("cannot serialise: {e}")))?;
    bytes.push(b'\n');
    create_unsynced_dir(&report, &bytes)?;
    let target_name = target.file_name().unwrap_or(name);
    match inbox.rename(name, &rejected, target_name) {
        Ok(()) => Ok(Some(target)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !present(file) => {
            // Someone took it meanwhile: the note describes nothing.
            let _ = std::fs::remove_file(&report);
            Ok(None)
        }
        Err(e) => Err(Error::io(file, "move to rejected/", e)),
    }
}

/// The first `(rejected/<name>, rejected/<name>.error.json)` pair where neither exists.
fn free_slot(dir: &Path, name: &OsStr) -> (PathBuf, PathBuf) {
    let bytes = name.as_bytes();
    let stem = bytes.strip_suffix(b".json").unwrap_or(bytes);
    let mut n = 0u64;
    loop {
        let candidate = if n == 0 {
            name.to_os_string()
        } else {
            let mut s = OsString::from(OsStr::from_bytes(stem));
            s.push(format!(".{n}.json"));
            s
        };
        let mut report_name = candidate.clone();
        report_name.push(".error.json");
        let target = dir.join(&candidate);
        let report = dir.join(&report_name);
        if !present(&target) && !present(&report) {
            return (target, report);
        }
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejected_names_never_collide() {
        let dir = tempfile::tempdir().unwrap();
        let (t0, r0) = free_slot(dir.path(), OsStr::new("a.json"));
        assert_eq!(t0, dir.path().join("a.json"));
        assert_eq!(r0, dir.path().join("a.json.error.json"));
        std::fs::write(&t0, "x").unwrap();
        let (t1, _) = free_slot(dir.path(), OsStr::new("a.json"));
        assert_eq!(t1, dir.path().join("a.1.json"));
        // An orphan report (crash between note and move) also takes the slot.
        std::fs::write(dir.path().join("a.1.json.error.json"), "{}").unwrap();
        let (t2, r2) = free_slot(dir.path(), OsStr::new("a.json"));
        assert_eq!(t2, dir.path().join("a.2.json"));
        assert_eq!(r2, dir.path().join("a.2.json.error.json"));
    }
}
