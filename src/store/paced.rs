//! A watched state file another phase owns, re-read at a bounded cost: after a read that
//! took `d`, the next waits `(share - 1) × (d - unpaced)` (at most `max_pause`). Reading a
//! 10,000-task results file takes ~0.1 s and its owner rewrites it every flush interval; a
//! phase that only needs part of it must not spend a core re-reading it. Each reader says
//! its [`Pace`]: how large a share of its time reads may take, and which reads are too
//! small to pause after (a short read costs little, and on a loaded machine a pause after
//! it would make the reader late).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::StateDir;
use super::breakage::FileEvents;
use super::watched::{Poll, WatchedFile};
use crate::Result;
use crate::model::StateDoc;

/// How often a reader may re-read a file.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Reads may take 1 in `share` of the time at most.
    pub share: u32,
    /// The first this-much of each read is not paced.
    pub unpaced: Duration,
    /// The longest pause between two reads.
    pub max_pause: Duration,
    /// A file up to this size is read without a pause.
    pub small_bytes: u64,
}

/// An input file, re-read at a bounded cost.
#[derive(Debug)]
pub struct PacedFile<T: StateDoc> {
    file: WatchedFile<T>,
    path: PathBuf,
    pace: Pace,
    not_before: Option<Instant>,
}

impl<T: StateDoc> PacedFile<T> {
    /// `T::FILE` in `state`, read by `phase` at `pace`.
    pub fn new(state: &StateDir, phase: &'static str, pace: Pace) -> Self {
        PacedFile {
            file: WatchedFile::new(state, phase),
            path: state.file(T::FILE),
            pace,
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
        let spent = now.elapsed().saturating_sub(self.pace.unpaced);
        let Pace {
            share,
            max_pause,
            small_bytes,
            ..
        } = self.pace;
        let large =
            small_bytes == 0 || std::fs::metadata(&self.path).is_ok_and(|m| m.len() > small_bytes);
        self.not_before = large.then(|| Instant::now() + (spent * (share - 1)).min(max_pause));
        Ok(polled)
    }

    /// Lifts the current pause: the next poll reads (a last look before the reader stops).
    pub fn unpause(&mut self) {
        self.not_before = None;
    }

    /// Forgets what was read and lifts the pause: the next poll reads the file again.
    pub fn forget(&mut self) {
        self.file.forget();
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
        let pace = Pace {
            share: 40,
            unpaced: Duration::ZERO,
            max_pause: Duration::from_secs(10),
            small_bytes: 512 * 1024,
        };
        assert!(
            bytes.len() as u64 > pace.small_bytes,
            "{} bytes: not large",
            bytes.len()
        );
        std::fs::write(state.file(ExecutionResults::FILE), bytes).expect("write");

        let mut file = PacedFile::<ExecutionResults>::new(&state, "router", pace);
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
