//! Reporting a broken state file once: a person's bad edit gets one STATE_FILE_INVALID
//! event and one `error:` log line per distinct problem, not one per wake-up, and one
//! STATE_FILE_RECOVERED when the file is valid again (docs/LIFECYCLE.md).

use serde_json::{Value, json};

use super::Fingerprint;
use crate::model::EventType;

/// Where a watched file's events go: the event log. A trait rather than the event log
/// itself because the event log writes through `store` (its sidecar lock).
pub trait FileEvents {
    /// Buffers one event of `kind`, emitted by `phase`, about no task in particular.
    fn emit_file_event(&self, kind: EventType, phase: &str, data: Value);
}

/// Reports nothing: for a second view of a file whose breakage another handle of the same
/// phase already reports (recovery's worker re-checking the results).
#[derive(Debug, Clone, Copy, Default)]
pub struct Unreported;

impl FileEvents for Unreported {
    fn emit_file_event(&self, _kind: EventType, _phase: &str, _data: Value) {}
}

/// What is known to be broken about one file.
#[derive(Debug, Default)]
pub(super) struct Breakage {
    /// The broken version's fingerprint and the problem reported for it.
    broken: Option<(Option<Fingerprint>, String)>,
}

impl Breakage {
    /// Whether the file is known to be broken.
    pub(super) fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// Whether `fingerprint` is the broken version already reported: it need not be read
    /// (nor parsed) again.
    pub(super) fn is_reported_version(&self, fingerprint: Option<Fingerprint>) -> bool {
        self.broken.as_ref().is_some_and(|(f, _)| *f == fingerprint)
    }

    /// The problem reported, while the file is broken.
    pub(super) fn message(&self) -> Option<&str> {
        self.broken.as_ref().map(|(_, m)| m.as_str())
    }

    /// Records that the version `fingerprint` of `file` is invalid because of `message`;
    /// reports it unless this very problem was the last one reported.
    pub(super) fn report(
        &mut self,
        file: &str,
        phase: &str,
        fingerprint: Option<Fingerprint>,
        message: String,
        events: &dyn FileEvents,
    ) {
        if self.message() != Some(message.as_str()) {
            tracing::error!(
                phase,
                file,
                "{message}; the work that needs this file waits until it is fixed"
            );
            let data = json!({ "file": file, "error": message });
            events.emit_file_event(EventType::StateFileInvalid, phase, data);
        }
        self.broken = Some((fingerprint, message));
    }

    /// The file is valid again: reports it if it was broken; `true` if it was.
    pub(super) fn clear(&mut self, file: &str, phase: &str, events: &dyn FileEvents) -> bool {
        if self.broken.take().is_none() {
            return false;
        }
        tracing::info!(phase, file, "state file is valid again");
        events.emit_file_event(
            EventType::StateFileRecovered,
            phase,
            json!({ "file": file }),
        );
        true
    }
}
