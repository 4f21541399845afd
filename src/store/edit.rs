//! A person's edit of a state file (`phase edit`), visudo-style: the edit is made on a
//! copy, validated as the file's kind, and swapped in under the file's lock only if
//! nobody changed the file meanwhile.

use std::path::{Path, PathBuf};

use super::StateDir;
use super::atomic::write_atomic;
use super::contain::{Access, open_below};
use super::lock::{LockGuard, LockWait};
use super::parse::parse_state_document;
use crate::model::{
    AdapterAssignments, Control, ErrorAnalyses, ExecutionResults, FixPatches, RoutingDecisions,
    StateDoc, ToolHealth,
};
use crate::{Error, Result};

/// The JSON state files a person may edit.
pub const EDITABLE: [&str; 7] = [
    RoutingDecisions::FILE,
    AdapterAssignments::FILE,
    ExecutionResults::FILE,
    ErrorAnalyses::FILE,
    FixPatches::FILE,
    Control::FILE,
    ToolHealth::FILE,
];

/// A state file as it was when the edit began.
#[derive(Debug)]
pub struct EditSession {
    name: &'static str,
    path: PathBuf,
    lock_path: PathBuf,
    original: Option<Vec<u8>>,
}

/// How an edit ended.
#[derive(Debug, PartialEq, Eq)]
pub enum EditOutcome {
    /// The edited content replaced the file.
    Written,
    /// The content is what it was: nothing written.
    Unchanged,
}

impl EditSession {
    /// Starts editing `name` (e.g. `execution_results.json`) in `state`.
    pub fn begin(state: &StateDir, name: &str) -> Result<EditSession> {
        let Some(name) = EDITABLE.iter().copied().find(|n| *n == name) else {
            return Err(Error::Usage(format!(
                "{name:?} is not an editable state file (one of: {})",
                EDITABLE.join(", ")
            )));
        };
        let path = state.file(name);
        let original = read_if_present(&path)?;
        Ok(EditSession {
            name,
            path,
            lock_path: state.lock_path(name),
            original,
        })
    }

    /// The file being edited.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the person starts from: the file, or an empty document of its kind.
    pub fn starting_text(&self) -> Vec<u8> {
        self.original
            .clone()
            .unwrap_or_else(|| b"{\n  \"schema_version\": 1\n}\n".to_vec())
    }

    /// Validates `edited` as this file's kind; the error names the line and column or the
    /// JSON pointer (the path in it is the real file's).
    pub fn check(&self, edited: &[u8]) -> Result<()> {
        let path = &self.path;
        match self.name {
            n if n == RoutingDecisions::FILE => {
                parse_state_document::<RoutingDecisions>(path, edited).map(drop)
            }
            n if n == AdapterAssignments::FILE => {
                parse_state_document::<AdapterAssignments>(path, edited).map(drop)
            }
            n if n == ExecutionResults::FILE => {
                parse_state_document::<ExecutionResults>(path, edited).map(drop)
            }
            n if n == ErrorAnalyses::FILE => {
                parse_state_document::<ErrorAnalyses>(path, edited).map(drop)
            }
            n if n == FixPatches::FILE => {
                parse_state_document::<FixPatches>(path, edited).map(drop)
            }
            n if n == ToolHealth::FILE => {
                parse_state_document::<ToolHealth>(path, edited).map(drop)
            }
            _ => parse_state_document::<Control>(path, edited).map(drop),
        }
    }

    /// Validates `edited` and, under the file's lock, writes it — unless the file changed
    /// since the edit began (then nothing is written: the error says so).
    pub fn commit(self, edited: &[u8], lock_wait: std::time::Duration) -> Result<EditOutcome> {
        if self.original.as_deref() == Some(edited) {
            return Ok(EditOutcome::Unchanged);
        }
        self.check(edited)?;
        let _guard = LockGuard::acquire(&self.lock_path, LockWait::AtMost(lock_wait))?;
        let now = read_if_present(&self.path)?;
        if now != self.original {
            return Err(Error::invalid(
                &self.path,
                "changed by someone else while you were editing; nothing written",
            ));
        }
        write_atomic(&self.path, edited)?;
        Ok(EditOutcome::Written)
    }
}

/// The file's bytes, `None` when missing; never through a symbolic link (issue 8).
fn read_if_present(path: &Path) -> Result<Option<Vec<u8>>> {
    let mut file = match open_below(path, 1, Access::Read) {
        Ok(f) => f,
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut bytes).map_err(|e| Error::io(path, "read", e))?;
    Ok(Some(bytes))
}
