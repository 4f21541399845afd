//! One state file a phase reads or owns, checked cheaply on every pass: a `stat` against
//! the version last seen, a full read only when it changed. A broken version is reported
//! once (see [`FileEvents`]) and not re-read until the file changes again; writes go
//! through its sidecar lock and never replace an invalid file.

use std::time::{Duration, Instant};

use super::breakage::{Breakage, FileEvents};
use super::lock::LockWait;
use super::spliced::EntrySpans;
use super::state_file::{Locked, StateFile};
use super::{Durability, Fingerprint, StateDir};
use crate::model::{SplicedDoc, StateDoc};
use crate::{Error, Result};

/// After a read of a version changed within a timestamp granule, the file is read once
/// more this much later: a same-size edit in that granule has the same fingerprint, so
/// only its content tells (the store's "racy" rule) — checked once, not on every pass.
const CONFIRM_AFTER: Duration = Duration::from_millis(150);

/// What a poll found.
#[derive(Debug)]
pub enum Poll<T> {
    /// Same as last time.
    Unchanged,
    /// New valid content.
    Changed(T),
    /// Valid again, with the content last seen before it broke.
    Recovered,
    /// Invalid (already reported).
    Broken,
}

/// A state file as one phase sees it.
#[derive(Debug)]
pub struct WatchedFile<T: StateDoc> {
    file: StateFile<T>,
    /// Named on the events this handle emits.
    phase: &'static str,
    seen: Seen,
    breakage: Breakage,
}

/// What a poll compares against.
#[derive(Debug, Default)]
struct Seen {
    /// Fingerprint at the last read or write; `None` before the first.
    known: Option<Option<Fingerprint>>,
    /// When the pending content check is due, if one is.
    confirm_at: Option<Instant>,
}

/// The file under its sidecar lock, from [`WatchedFile::lock`]. [`commit`](Self::commit)
/// consumes it, so a write without the lock does not compile.
#[derive(Debug)]
pub struct WatchedLock<'a, T: StateDoc> {
    locked: Locked<'a, T>,
    seen: &'a mut Seen,
}

impl<T: StateDoc> WatchedFile<T> {
    /// `T::FILE` in `state`, watched by `phase`; nothing is read yet.
    pub fn new(state: &StateDir, phase: &'static str) -> Self {
        WatchedFile {
            file: StateFile::new(state),
            phase,
            seen: Seen::default(),
            breakage: Breakage::default(),
        }
    }

    /// Whether the file is invalid: work that needs it waits, and it is not written.
    pub fn is_broken(&self) -> bool {
        self.breakage.is_broken()
    }

    /// When the pending content check is due, if one is: poll again then.
    pub fn confirm_at(&self) -> Option<Instant> {
        self.seen.confirm_at
    }

    /// Checks the file; reads and validates it only when it changed. A newly broken
    /// version is reported (STATE_FILE_INVALID, once per distinct problem); a file valid
    /// again too (STATE_FILE_RECOVERED).
    pub fn poll(&mut self, events: &dyn FileEvents) -> Result<Poll<T>> {
        let fingerprint = Fingerprint::of_path(self.file.path())?;
        let now = Instant::now();
        if self.breakage.is_reported_version(fingerprint) {
            return Ok(Poll::Broken);
        }
        if !self.is_broken() && self.seen.known == Some(fingerprint) {
            match self.seen.confirm_at {
                Some(t) if now >= t => self.seen.confirm_at = None,
                _ => return Ok(Poll::Unchanged),
            }
        }
        match self.file.read_if_changed() {
            Ok(doc) => {
                self.seen.known = Some(fingerprint);
                self.seen.confirm_at = self.file.is_racy().then(|| now + CONFIRM_AFTER);
                let recovered = self.breakage.clear(T::FILE, self.phase, events);
                Ok(match doc {
                    Some(doc) => Poll::Changed(doc),
                    None if recovered => Poll::Recovered,
                    None => Poll::Unchanged,
                })
            }
            Err(e) if e.is_content_error() => {
                let message = e.to_string();
                self.breakage
                    .report(T::FILE, self.phase, fingerprint, message, events);
                Ok(Poll::Broken)
            }
            Err(e) => Err(e),
        }
    }

    /// Takes the sidecar lock for a write; [`WatchedLock::external`] holds someone else's
    /// version if the file changed since this handle last saw it. An invalid file is an
    /// error (a content error), recorded and reported like a poll's: it is never
    /// overwritten.
    pub fn lock(&mut self, wait: LockWait, events: &dyn FileEvents) -> Result<WatchedLock<'_, T>> {
        // Taken before the lock borrows the file for the caller.
        let path = self.file.path().to_path_buf();
        match self.file.lock(wait) {
            Ok(locked) => Ok(WatchedLock {
                locked,
                seen: &mut self.seen,
            }),
            Err(e) if e.is_content_error() => {
                // The lock is released by now: a person's next save changes the
                // fingerprint, and the next poll reads that version.
                let fingerprint = Fingerprint::of_path(&path).ok().flatten();
                self.breakage
                    .report(T::FILE, self.phase, fingerprint, e.to_string(), events);
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// An error naming the problem while the file is invalid: for work that must not act
    /// on an outdated version.
    pub fn check_valid(&self) -> Result<()> {
        match self.breakage.message() {
            Some(message) => Err(Error::invalid(
                self.file.path(),
                format!("invalid, waiting until it is fixed ({message})"),
            )),
            None => Ok(()),
        }
    }

    /// Forgets what was seen (not what is broken): the next poll reads the file again.
    pub fn forget(&mut self) {
        self.file.forget();
        self.seen = Seen::default();
    }
}

impl<T: StateDoc> WatchedLock<'_, T> {
    /// Someone else's version of the file, if it changed since this handle last saw it.
    pub fn external(&self) -> Option<&T> {
        self.locked.external()
    }

    /// Takes someone else's version out, to merge into.
    pub fn take_external(&mut self) -> Option<T> {
        self.locked.take_external()
    }

    /// Stamps `doc`, writes it atomically and releases the lock. The own write is known
    /// by its fingerprint; no content check is scheduled: reading back a large file after
    /// every write would double the cost of writing it, and the next write checks the
    /// content under the lock anyway.
    pub fn commit(self, doc: &mut T, run_id: &str) -> Result<()> {
        self.commit_with(doc, run_id, Durability::Synced)
    }

    /// [`commit`](Self::commit), copying unchanged entries of the large array from the
    /// file as last written (`store/spliced.rs`). Returns the size of the file written.
    pub fn commit_spliced(self, doc: &mut T, run_id: &str, spans: &mut EntrySpans) -> Result<u64>
    where
        T: SplicedDoc,
    {
        let fingerprint = self
            .locked
            .commit_spliced(doc, run_id, Durability::Synced, spans)?;
        self.seen.known = Some(Some(fingerprint));
        self.seen.confirm_at = None;
        Ok(fingerprint.size())
    }

    /// [`commit`](Self::commit), with the choice of [`Durability`].
    pub fn commit_with(self, doc: &mut T, run_id: &str, durability: Durability) -> Result<()> {
        let fingerprint = self.locked.commit_fingerprint(doc, run_id, durability)?;
        self.seen.known = Some(Some(fingerprint));
        self.seen.confirm_at = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde_json::Value;

    use super::*;
    use crate::model::{EventType, FixPatches};

    /// Records what a handle reports.
    #[derive(Debug, Default)]
    struct Recorder(Mutex<Vec<(EventType, String, Value)>>);

    impl FileEvents for Recorder {
        fn emit_file_event(&self, kind: EventType, phase: &str, data: Value) {
            let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
            seen.push((kind, phase.to_string(), data));
        }
    }

    impl Recorder {
        fn kinds(&self) -> Vec<EventType> {
            let seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
            seen.iter().map(|(k, _, _)| *k).collect()
        }
    }

    fn setup() -> (tempfile::TempDir, StateDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::new(dir.path());
        let path = state.file(FixPatches::FILE);
        (dir, state, path)
    }

    #[test]
    fn a_broken_file_is_reported_once_per_problem_and_its_recovery_once() {
        let (_dir, state, path) = setup();
        let events = Recorder::default();
        let mut file = WatchedFile::<FixPatches>::new(&state, "recovery");
        assert!(
            matches!(file.poll(&events), Ok(Poll::Changed(_))),
            "first read"
        );
        assert!(matches!(file.poll(&events), Ok(Poll::Unchanged)));

        std::fs::write(&path, "{ oops").expect("break");
        assert!(matches!(file.poll(&events), Ok(Poll::Broken)));
        assert!(matches!(file.poll(&events), Ok(Poll::Broken)));
        assert!(file.is_broken());
        assert!(file.check_valid().is_err());
        // The same problem in another version: not reported again.
        std::fs::write(&path, "{ oops ").expect("break the same way");
        assert!(matches!(file.poll(&events), Ok(Poll::Broken)));
        assert_eq!(events.kinds(), vec![EventType::StateFileInvalid]);
        {
            let seen = events.0.lock().expect("events");
            let (_, phase, data) = &seen[0];
            assert_eq!(phase, "recovery");
            assert_eq!(data["file"], "fix_patches.json");
            let error = data["error"].as_str().unwrap_or_default();
            assert!(error.contains("fix_patches.json:1:"), "{error}");
        }
        // Another problem: reported.
        std::fs::write(&path, "[]").expect("break differently");
        assert!(matches!(file.poll(&events), Ok(Poll::Broken)));
        assert_eq!(events.kinds().len(), 2);

        std::fs::write(&path, "{\"patches\": [], \"retries\": []}\n").expect("repair");
        assert!(matches!(file.poll(&events), Ok(Poll::Changed(_))));
        assert!(!file.is_broken());
        assert_eq!(
            events.kinds(),
            vec![
                EventType::StateFileInvalid,
                EventType::StateFileInvalid,
                EventType::StateFileRecovered
            ]
        );
    }

    #[test]
    fn a_write_never_replaces_a_broken_file() {
        let (_dir, state, path) = setup();
        let events = Recorder::default();
        let mut file = WatchedFile::<FixPatches>::new(&state, "executor");
        std::fs::write(&path, "{ oops").expect("break");
        let wait = LockWait::AtMost(Duration::from_secs(5));
        let err = file.lock(wait, &events).expect_err("invalid file");
        assert!(err.is_content_error(), "{err}");
        assert!(file.is_broken());
        assert_eq!(events.kinds(), vec![EventType::StateFileInvalid]);
        // Already reported: the poll does not report it again.
        assert!(matches!(file.poll(&events), Ok(Poll::Broken)));
        assert_eq!(events.kinds().len(), 1);
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "{ oops");
    }

    #[test]
    fn own_writes_are_not_read_back() {
        let (_dir, state, _path) = setup();
        let events = Recorder::default();
        let mut file = WatchedFile::<FixPatches>::new(&state, "executor");
        let wait = LockWait::AtMost(Duration::from_secs(5));
        let lock = file.lock(wait, &events).expect("lock");
        lock.commit(&mut FixPatches::default(), "run")
            .expect("commit");
        assert!(matches!(file.poll(&events), Ok(Poll::Unchanged)));
        assert_eq!(file.confirm_at(), None, "own write: nothing to confirm");
    }

    #[test]
    fn a_version_the_fingerprint_cannot_tell_is_seen_by_the_later_content_check() {
        let (_dir, state, path) = setup();
        let events = Recorder::default();
        let mut file = WatchedFile::<FixPatches>::new(&state, "executor");
        let version = |run_id: &str| {
            let mut doc = FixPatches::default();
            doc.stamp(run_id);
            serde_json::to_string_pretty(&doc).expect("serialise")
        };
        std::fs::write(&path, version("aaa")).expect("write");
        assert!(matches!(file.poll(&events), Ok(Poll::Changed(_))));
        let due = file
            .confirm_at()
            .expect("a version read right after its change is checked again");
        // A same-size edit in place within one clock tick keeps the fingerprint. This
        // machine's clock may be too fine to make one on purpose: pretend it did.
        std::fs::write(&path, version("bbb")).expect("edit in place");
        file.seen.known = Some(Fingerprint::of_path(&path).expect("stat"));
        if Instant::now() < due {
            assert!(
                matches!(file.poll(&events), Ok(Poll::Unchanged)),
                "not re-read on every pass"
            );
        }
        while Instant::now() < due {
            std::thread::sleep(due - Instant::now());
        }
        match file.poll(&events) {
            Ok(Poll::Changed(doc)) => assert_eq!(doc.run_id, "bbb"),
            other => panic!("the edit went unseen: {other:?}"),
        }
        assert_eq!(file.confirm_at(), None, "checked once");
        assert!(events.kinds().is_empty());
    }
}
