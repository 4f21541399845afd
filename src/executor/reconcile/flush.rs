//! Writing `execution_results.json` when the cadence allows (or the executor is idle, or
//! too many attempts wait for it), merging under the file's lock: other writers' versions
//! are adopted for the entries we have not changed, and merged by attempt for those we
//! have. Events are appended first, so the log never lags the file; once the results are
//! on disk, the runner gets its acks (and releases the attempts' claims), adopted outcome
//! records are removed and claims held here released.

use std::time::Instant;

use crate::executor::{Executor, PHASE};
use crate::store::LockWait;

impl Executor {
    /// Appends the pass's events, unless a results write is pending: they then go out with
    /// it (appended just before it, as always), or after `flush_interval_ms` at the
    /// latest. One append per pass was a lock, an open and a write per finished task, and
    /// woke every phase's watcher each time.
    pub(in crate::executor) fn flush_events(&mut self, now: Instant) {
        if self.book.is_dirty() && !self.inputs.results_broken() {
            let due = self.book.cadence.hold_events(now);
            if now < due {
                return;
            }
        }
        self.write_events();
    }

    /// Appends every buffered event now.
    pub(in crate::executor) fn write_events(&mut self) {
        self.book.cadence.events_written();
        if let Err(e) = self.site.events.flush() {
            tracing::warn!(phase = PHASE, "{e}");
        }
    }

    /// Writes if something changed and the cadence allows (or the executor is idle).
    pub(in crate::executor) fn maybe_flush(&mut self, now: Instant) {
        if !self.book.is_dirty() || self.inputs.results_broken() {
            return;
        }
        let idle = self.supervisor.count() == 0 && (self.schedule.is_empty() || !self.can_start());
        let crowded = self.supervisor.claims.crowded() || self.supervisor.acks.crowded();
        if idle || crowded || self.book.write_due().is_none_or(|due| now >= due) {
            self.flush_now();
        }
    }

    /// Writes now if anything changed (unless the file is invalid: it is never
    /// overwritten, and the changes stay in memory until it is fixed).
    pub(in crate::executor) fn flush_now(&mut self) {
        if !self.book.is_dirty() {
            // Whatever waits for a write is on disk already.
            self.supervisor.written(&self.site.state);
            return;
        }
        if self.inputs.results_broken() {
            return;
        }
        self.write_events();
        let started = Instant::now();
        let wait = LockWait::AtMost(self.book.cadence.lock_timeout);
        let mut adopted = false;
        let (book, adopted_flag) = (&mut self.book, &mut adopted);
        let outcome = self
            .inputs
            .write_results(&self.site.events, wait, move |theirs| {
                if let Some(theirs) = theirs {
                    book.adopt(theirs);
                    *adopted_flag = true;
                }
                book.for_write()
            });
        if adopted {
            self.needs_plan = true;
        }
        match outcome {
            Ok(bytes) => {
                self.book.mark_clean();
                self.supervisor.written(&self.site.state);
                self.book.cadence.written(started, bytes);
                tracing::debug!(
                    phase = PHASE,
                    entries = self.book.entries().len(),
                    ms = self.book.cadence.last_duration().as_millis() as u64,
                    "wrote execution_results.json"
                );
            }
            // Recorded and reported by the file's handle: not written until fixed.
            Err(e) if e.is_content_error() => {}
            Err(e) => {
                tracing::warn!(phase = PHASE, "{e}");
                self.book.cadence.failed();
            }
        }
    }
}
