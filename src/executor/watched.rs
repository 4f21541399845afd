//! One state file the executor reads, checked cheaply on every pass: a `stat` against the
//! version last seen, a full read only when it changed. A broken version is reported
//! once (STATE_FILE_INVALID, an `error:` log line naming file, line and column) and not
//! re-read until the file changes again.

use std::time::{Duration, Instant};

use serde_json::json;

use super::PHASE;
use crate::events::EventLog;
use crate::model::{EventType, StateDoc};
use crate::store::{Fingerprint, StateDir, StateFile};
use crate::{Error, Result};

/// After a change, the file is read once more this much later: a same-size edit within
/// one timestamp tick of the last read has the same fingerprint, so its content must be
/// compared (the store's "racy" rule), but only once, not on every pass.
const CONFIRM_AFTER: Duration = Duration::from_millis(150);

/// What a poll found.
#[derive(Debug)]
pub(super) enum Seen<T> {
    /// Same as last time.
    Unchanged,
    /// New valid content.
    Changed(T),
    /// Valid again, with the content last seen before it broke.
    Recovered,
    /// Invalid (already reported).
    Broken,
}

/// A state file and what this process last saw of it.
#[derive(Debug)]
pub(super) struct Watched<T: StateDoc> {
    file: StateFile<T>,
    /// Fingerprint at the last read or write; `None` before the first.
    known: Option<Option<Fingerprint>>,
    confirm_at: Option<Instant>,
    /// The broken version (its fingerprint) and the message reported for it.
    broken: Option<(Option<Fingerprint>, String)>,
}

impl<T: StateDoc> Watched<T> {
    /// `T::FILE` in `state`, not read yet.
    pub(super) fn new(state: &StateDir) -> Self {
        Watched {
            file: StateFile::new(state),
            known: None,
            confirm_at: None,
            broken: None,
        }
    }

    /// Whether the file is invalid: work that needs it is skipped.
    pub(super) fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// When the pending content check is due, if one is.
    pub(super) fn confirm_at(&self) -> Option<Instant> {
        self.confirm_at
    }

    /// The underlying file, for writing under its lock.
    pub(super) fn file_mut(&mut self) -> &mut StateFile<T> {
        &mut self.file
    }

    /// Checks the file; reads and validates it only when it changed.
    pub(super) fn poll(&mut self, events: &EventLog) -> Result<Seen<T>> {
        let fingerprint = Fingerprint::of_path(self.file.path())?;
        let now = Instant::now();
        if let Some((at, _)) = &self.broken
            && *at == fingerprint
        {
            return Ok(Seen::Broken);
        }
        let mut changed = true;
        if self.broken.is_none() && self.known == Some(fingerprint) {
            match self.confirm_at {
                Some(t) if now >= t => {
                    self.confirm_at = None;
                    changed = false;
                }
                _ => return Ok(Seen::Unchanged),
            }
        }
        match self.file.read_if_changed() {
            Ok(doc) => {
                self.known = Some(fingerprint);
                if changed {
                    self.confirm_at = Some(now + CONFIRM_AFTER);
                }
                let recovered = self.broken.take().is_some();
                if recovered {
                    tracing::info!(file = T::FILE, "state file is valid again");
                    events.emit(
                        EventType::StateFileRecovered,
                        PHASE,
                        None,
                        None,
                        json!({ "file": T::FILE }),
                    );
                }
                Ok(match doc {
                    Some(doc) => Seen::Changed(doc),
                    None if recovered => Seen::Recovered,
                    None => Seen::Unchanged,
                })
            }
            Err(e) if e.is_content_error() => {
                self.note_broken(fingerprint, &e, events);
                Ok(Seen::Broken)
            }
            Err(e) => Err(e),
        }
    }

    /// Records that this process just wrote the file. No content check is scheduled:
    /// reading back a large file after every write would double the cost of writing it,
    /// and the next write checks the content under the lock anyway.
    pub(super) fn note_written(&mut self) {
        self.known = Some(Fingerprint::of_path(self.file.path()).ok().flatten());
        self.confirm_at = None;
    }

    /// Records (and reports, once per distinct message) that the file is invalid.
    pub(super) fn note_invalid(&mut self, error: &Error, events: &EventLog) {
        let fingerprint = Fingerprint::of_path(self.file.path()).ok().flatten();
        self.note_broken(fingerprint, error, events);
    }

    fn note_broken(&mut self, fingerprint: Option<Fingerprint>, error: &Error, events: &EventLog) {
        let message = error.to_string();
        let known = self.broken.as_ref().is_some_and(|(_, m)| *m == message);
        if !known {
            tracing::error!(
                file = T::FILE,
                "{message}; the executor skips the work that needs this file until it is fixed"
            );
            events.emit(
                EventType::StateFileInvalid,
                PHASE,
                None,
                None,
                json!({ "file": T::FILE, "error": message }),
            );
        }
        self.broken = Some((fingerprint, message));
    }
}
