//! Reporting a broken output file once: a person's bad edit gets one STATE_FILE_INVALID
//! and one `error:` line per distinct problem, not one per wake-up.

use std::path::Path;

use serde_json::json;

use crate::events::EventLog;
use crate::model::EventType;
use crate::store::Fingerprint;
use crate::{Error, Result};

/// What is known to be broken about one file.
#[derive(Debug, Default)]
pub(super) struct InvalidFile {
    /// The broken version's fingerprint and the problem.
    broken: Option<(Option<Fingerprint>, String)>,
}

impl InvalidFile {
    /// Whether the file is still the broken version already reported: then it need not
    /// be read (nor parsed) again.
    pub(super) fn unchanged_since_report(&self, path: &Path) -> Result<bool> {
        match &self.broken {
            Some((fingerprint, _)) => Ok(Fingerprint::of_path(path)? == *fingerprint),
            None => Ok(false),
        }
    }

    /// Whether the file is known to be broken.
    pub(super) fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// Records `error` about `path`; emits STATE_FILE_INVALID and logs it unless this very
    /// problem was already reported.
    pub(super) fn report(&mut self, path: &Path, error: &Error, events: &EventLog) -> Result<()> {
        let message = error.to_string();
        let fingerprint = Fingerprint::of_path(path)?;
        let already = self.broken.as_ref().is_some_and(|(_, m)| *m == message);
        self.broken = Some((fingerprint, message.clone()));
        if !already {
            tracing::error!("{message}; routing waits until the file is fixed");
            events.emit(
                EventType::StateFileInvalid,
                "router",
                None,
                None,
                json!({ "file": file_name(path), "error": message }),
            );
        }
        Ok(())
    }

    /// The file is valid again: emits STATE_FILE_RECOVERED if it was reported broken.
    pub(super) fn clear(&mut self, path: &Path, events: &EventLog) {
        if self.broken.take().is_some() {
            tracing::info!(path = %path.display(), "state file is valid again");
            events.emit(
                EventType::StateFileRecovered,
                "router",
                None,
                None,
                json!({ "file": file_name(path) }),
            );
        }
    }
}

/// The state file's name (`routing_decisions.json`), as every phase reports it in events.
fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}
