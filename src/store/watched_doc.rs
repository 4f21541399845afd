//! A watched state file with its last valid document kept in memory, for a phase that
//! works on the document as it is (recovery's own files); phases that keep what they read
//! in a form of their own (an index, a graph) take it from [`WatchedFile::poll`] instead,
//! so a large file is not held twice.

use std::time::Instant;

use super::breakage::FileEvents;
use super::lock::LockWait;
use super::watched::{Poll, WatchedFile};
use super::{Durability, StateDir};
use crate::Result;
use crate::model::StateDoc;

/// A state file and its last valid content.
#[derive(Debug)]
pub struct WatchedDoc<T: StateDoc> {
    file: WatchedFile<T>,
    doc: T,
}

impl<T: StateDoc> WatchedDoc<T> {
    /// `T::FILE` in `state`, watched by `phase`; nothing is read yet (the document is
    /// empty until the first poll).
    pub fn new(state: &StateDir, phase: &'static str) -> Self {
        WatchedDoc {
            file: WatchedFile::new(state, phase),
            doc: T::default(),
        }
    }

    /// Checks the file (see [`WatchedFile::poll`]) and keeps new valid content. While the
    /// file is invalid the last valid content stays, and [`is_broken`](Self::is_broken)
    /// says not to act on it as if it were current.
    pub fn poll(&mut self, events: &dyn FileEvents) -> Result<Poll<&T>> {
        Ok(match self.file.poll(events)? {
            Poll::Changed(doc) => {
                self.doc = doc;
                Poll::Changed(&self.doc)
            }
            Poll::Unchanged => Poll::Unchanged,
            Poll::Recovered => Poll::Recovered,
            Poll::Broken => Poll::Broken,
        })
    }

    /// Polls, then the current content — or an error while the file is invalid, for work
    /// that must not act on an outdated version.
    pub fn current(&mut self, events: &dyn FileEvents) -> Result<&T> {
        self.poll(events)?;
        self.file.check_valid()?;
        Ok(&self.doc)
    }

    /// The last valid content.
    pub fn doc(&self) -> &T {
        &self.doc
    }

    /// Whether the file is invalid.
    pub fn is_broken(&self) -> bool {
        self.file.is_broken()
    }

    /// When a pending content check is due, if one is: poll again then.
    pub fn confirm_at(&self) -> Option<Instant> {
        self.file.confirm_at()
    }

    /// Applies `change` to the current file under its lock and writes it. When someone
    /// else changed the file since this handle last saw it, `change` is applied to
    /// *their* version: only this writer's own changes are re-applied, nothing of theirs
    /// is dropped. An invalid file is an error (reported, see [`WatchedFile::lock`]) and
    /// is left alone; on any error the kept content is the file's last valid version.
    pub fn update(
        &mut self,
        wait: LockWait,
        run_id: &str,
        events: &dyn FileEvents,
        change: impl FnOnce(&mut T),
    ) -> Result<()> {
        self.update_with(wait, (run_id, events), change, Durability::Synced)
    }

    /// [`update`](Self::update), with the choice of [`Durability`].
    pub fn update_with(
        &mut self,
        wait: LockWait,
        (run_id, events): (&str, &dyn FileEvents),
        change: impl FnOnce(&mut T),
        durability: Durability,
    ) -> Result<()> {
        let mut locked = self.file.lock(wait, events)?;
        if let Some(theirs) = locked.take_external() {
            // Kept at once: the handle has now seen their version, so no later poll
            // would hand it over again.
            self.doc = theirs;
        }
        let mut doc = self.doc.clone();
        change(&mut doc);
        locked.commit_with(&mut doc, run_id, durability)?;
        self.doc = doc;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::{FixPatches, Patch, RetryRecommendation};
    use crate::store::{StateFile, Unreported};

    #[test]
    fn update_reapplies_own_change_on_top_of_someone_elses_edit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::new(dir.path());
        let mut mine = WatchedDoc::<FixPatches>::new(&state, "recovery");
        mine.poll(&Unreported).expect("read");
        let wait = LockWait::AtMost(Duration::from_secs(5));
        let retry = |task: &str| RetryRecommendation {
            task_id: task.into(),
            attempt: 1,
            ..RetryRecommendation::default()
        };
        mine.update(wait, "r", &Unreported, |doc| doc.retries.push(retry("a")))
            .expect("update");
        // A person edits the file after recovery last saw it.
        let mut theirs = StateFile::<FixPatches>::new(&state);
        let mut doc = theirs.read().expect("read");
        doc.patches.push(Patch {
            patch_id: "hand".into(),
            task_id: "a".into(),
            file: "f".into(),
            ..Patch::default()
        });
        let locked = theirs.lock(LockWait::Forever).expect("lock");
        locked.commit(&mut doc, "person").expect("their commit");
        // Recovery updates without polling first: their patch must survive.
        mine.update(wait, "r", &Unreported, |doc| doc.retries.push(retry("b")))
            .expect("update");
        let after = StateFile::<FixPatches>::new(&state).read().expect("read");
        assert_eq!(after.patches.len(), 1, "their patch kept");
        assert_eq!(after.retries.len(), 2, "both of mine");
        assert_eq!(mine.doc(), &after);
    }

    #[test]
    fn an_invalid_file_is_an_error_and_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::new(dir.path());
        let path = state.file(FixPatches::FILE);
        std::fs::write(&path, "{ oops").expect("break the file");
        let mut mine = WatchedDoc::<FixPatches>::new(&state, "recovery");
        let wait = LockWait::AtMost(Duration::from_secs(5));
        let err = mine
            .update(wait, "r", &Unreported, |_| {})
            .expect_err("an invalid file is not overwritten");
        assert!(err.is_content_error(), "{err}");
        assert!(mine.is_broken());
        assert!(mine.current(&Unreported).is_err(), "work must wait");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "{ oops");
    }
}
