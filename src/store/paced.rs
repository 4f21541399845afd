//! A watched state file another phase owns, re-read at a bounded cost: after a read of a
//! large file (over [`SMALL_BYTES`]) that took `d`, the next waits `(PACE - 1) × d` (at most
//! [`MAX_PAUSE`]). Reading a 10,000-task results file takes ~0.1 s and its owner rewrites
//! it every flush interval; a phase that only needs a summary of it must not spend a core
//! re-reading it. A small file is read whenever it changes: it costs little, and on a
//! loaded machine its read may take long enough that a pause would make the reader late.
//!
//! (recovery keeps its own copy of this, `recovery::files::Paced`, which also keeps the
//! document; this one hands each new version over and keeps nothing.)

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::StateDir;
use super::breakage::FileEvents;
use super::watched::{Poll, WatchedFile};
use crate::Result;
use crate::model::StateDoc;

/// Re-reading may take this share of the time at most (1 in `PACE`). The router (this
/// type's reader) needs the results for its circuits and load counts only: a failure that
/// reaches a circuit up to [`MAX_PAUSE`] later costs little, a core-share spent re-reading
/// 10,000 successes costs every task (it was the largest part of the router's time).
const PACE: u32 = 40;
/// The longest pause between two reads: the pace holds up to a ~25 MB file (30,000
/// tasks; a read of 10,000 takes 0.1–0.3 s under load), beyond it reads take a larger share.
const MAX_PAUSE: Duration = Duration::from_secs(10);
/// Files up to this size are read without a pause.
const SMALL_BYTES: u64 = 512 * 1024;

/// An input file, re-read at a bounded cost.
#[derive(Debug)]
pub struct PacedFile<T: StateDoc> {
    file: WatchedFile<T>,
    path: PathBuf,
    not_before: Option<Instant>,
}

impl<T: StateDoc> PacedFile<T> {
    /// `T::FILE` in `state`, read by `phase`.
    pub fn new(state: &StateDir, phase: &'static str) -> Self {
        PacedFile {
            file: WatchedFile::new(state, phase),
            path: state.file(T::FILE),
            not_before: None,
        }
    }

    /// Polls the file (see [`WatchedFile::poll`]) unless the last read was too recent:
    /// then `Err(when)` says when it may be looked at again.
    pub fn poll(
        &mut self,
        events: &dyn FileEvents,
    ) -> std::result::Result<Result<Poll<T>>, Instant> {
        let now = Instant::now();
        if let Some(t) = self.not_before.filter(|t| *t > now) {
            return Err(t);
        }
        let polled = self.file.poll(events);
        let spent = now.elapsed();
        let large = std::fs::metadata(&self.path).is_ok_and(|m| m.len() > SMALL_BYTES);
        self.not_before = large.then(|| Instant::now() + (spent * (PACE - 1)).min(MAX_PAUSE));
        Ok(polled)
    }

    /// Lifts the current pause: the next poll reads (a last look before the reader stops).
    pub fn unpause(&mut self) {
        self.not_before = None;
    }

    /// When a pending content check is due, if one is: not before the pace lets the file
    /// be read (a check due during a pause made the phase spin until the pause ended).
    pub fn confirm_at(&self) -> Option<Instant> {
        let due = self.file.confirm_at()?;
        Some(self.not_before.map_or(due, |t| due.max(t)))
    }

    /// Whether the file is invalid.
    pub fn is_broken(&self) -> bool {
        self.file.is_broken()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EventType, ExecutionResults, StateDoc, TaskResult};

    struct NoEvents;
    impl FileEvents for NoEvents {
        fn emit_file_event(&self, kind: EventType, _: &str, data: serde_json::Value) {
            panic!("{kind:?}: {data}");
        }
    }

    /// A content check falls due during a pause (the file was read just after it
    /// changed): it must wait for the pause, or the phase wakes at once, finds it may not
    /// read, and wakes again — a busy loop for up to `MAX_PAUSE` (96,615 passes of
    /// recovery in a 10,000-task run).
    #[test]
    fn a_content_check_never_falls_due_inside_a_pause() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::new(dir.path());
        let mut doc = ExecutionResults::default();
        doc.stamp("run");
        doc.results = (0..4_000)
            .map(|i| TaskResult {
                task_id: format!("task-{i:05}"),
                tool_id: "shell".to_string(),
                ..TaskResult::default()
            })
            .collect();
        let bytes = serde_json::to_vec(&doc).expect("serialize");
        assert!(
            bytes.len() as u64 > SMALL_BYTES,
            "{} bytes: not large",
            bytes.len()
        );
        std::fs::write(state.file(ExecutionResults::FILE), bytes).expect("write");

        let mut file = PacedFile::<ExecutionResults>::new(&state, "router");
        let first = file.poll(&NoEvents);
        assert!(matches!(first, Ok(Ok(Poll::Changed(_)))), "{first:?}");
        let paused_until = match file.poll(&NoEvents) {
            Err(until) => until,
            Ok(_) => panic!("a large file read twice without a pause"),
        };
        let check = file
            .confirm_at()
            .expect("read just after it changed: a check is due");
        assert!(
            check >= paused_until,
            "check due {check:?} inside the pause {paused_until:?}"
        );
    }
}
