//! Which state files are broken now, as the phases reported them through the log
//! (STATE_FILE_INVALID, STATE_FILE_RECOVERED), and the log itself when what is at its
//! path cannot be appended to: what `phase run --once` names when it cannot finish.

use serde_json::Value;

use super::{EventLog, lock};
use crate::model::EventType;

/// A state file some phase reported invalid (STATE_FILE_INVALID) and has not reported
/// valid again: what `phase run --once` names when it cannot finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenFile {
    /// The file's name in the state directory.
    pub file: String,
    /// The phase that reported it.
    pub phase: String,
    /// The problem, naming the file and the line or field.
    pub error: String,
}

impl EventLog {
    /// The state files reported invalid and not valid again, one entry per file.
    pub fn broken_files(&self) -> Vec<BrokenFile> {
        let broken = lock(&self.inner.broken);
        let mut out: Vec<BrokenFile> = Vec::new();
        for ((file, phase), error) in broken.iter() {
            if !out.iter().any(|b| &b.file == file) {
                out.push(BrokenFile {
                    file: file.clone(),
                    phase: phase.clone(),
                    error: error.clone(),
                });
            }
        }
        out
    }
}

/// Watched state files report breakage and recovery here (`store` cannot name the event
/// log: the log writes through `store`). The log also keeps which files are broken now,
/// for `phase run --once` to name when it cannot finish.
impl crate::store::FileEvents for EventLog {
    fn emit_file_event(&self, kind: EventType, phase: &str, data: Value) {
        let file = data["file"].as_str().unwrap_or_default().to_string();
        match kind {
            EventType::StateFileInvalid => {
                let error = data["error"].as_str().unwrap_or_default().to_string();
                lock(&self.inner.broken).insert((file, phase.to_string()), error);
            }
            EventType::StateFileRecovered => {
                lock(&self.inner.broken).remove(&(file, phase.to_string()));
            }
            _ => {}
        }
        self.emit(kind, phase, None, None, data);
    }
}
