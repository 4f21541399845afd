//! Coalesced writes of `execution_results.json`: at most one per `state.flush_interval_ms`
//! (stretched to several times the last write's duration, so a 10,000-entry file costs a
//! bounded fraction of the run), at once when the executor goes idle. Each write merges
//! under the file's lock: other writers' versions are adopted for the entries we have not
//! changed. Events are flushed first, so the log never lags the file. Claims of finished
//! attempts are released only once their results are on disk.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::{Executor, PHASE};
use crate::config::Config;
use crate::store::{Claim, LockWait};

/// The interval is at least this many times the last write's duration: writes then take
/// at most about 1/(STRETCH+1) of the executor's time, whatever the file's size (and
/// readers of the file, which parse it after every write, are spared as much).
const STRETCH: u32 = 20;

/// Held claims above this many force a write, so finished attempts do not pile up open
/// descriptors. The bound comes from the process's file-descriptor limit: a fixed small
/// one forced a rewrite of the whole results file every few hundred tasks, which made the
/// cost per task grow with the number of tasks.
fn max_pending_claims() -> usize {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    // Like Go's runtime: raise the soft limit to the hard one (bounded), as descriptors
    // held for claims are this engine's main use of them.
    let limit = getrlimit(Resource::Nofile);
    let wanted = limit.maximum.unwrap_or(65_536).min(65_536);
    if limit.current.is_some_and(|soft| soft < wanted) {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(wanted),
                maximum: limit.maximum,
            },
        );
    }
    let soft = getrlimit(Resource::Nofile).current.unwrap_or(1024);
    // A quarter for claims; the rest for logs, pipes, state files and the tasks.
    usize::try_from(soft / 4)
        .unwrap_or(usize::MAX)
        .clamp(64, 16_384)
}

/// Write timing and the claims waiting for the next write.
#[derive(Debug)]
pub(super) struct Flusher {
    interval: Duration,
    lock_timeout: Duration,
    last_flush: Option<Instant>,
    last_duration: Duration,
    /// Claims of attempts whose results are not on disk yet, by task id.
    pending_claims: HashMap<String, Claim>,
    /// When the events left for the next results write must be appended anyway.
    events_due: Option<Instant>,
    /// Held claims above this many force a write.
    max_pending_claims: usize,
}

impl Flusher {
    pub(super) fn new(config: &Config) -> Flusher {
        Flusher {
            interval: Duration::from_millis(config.state.flush_interval_ms),
            lock_timeout: Duration::from_millis(config.state.lock_timeout_ms),
            last_flush: None,
            last_duration: Duration::ZERO,
            pending_claims: HashMap::new(),
            events_due: None,
            max_pending_claims: max_pending_claims(),
        }
    }

    /// When buffered events must be appended even if the results are not written by then.
    pub(super) fn events_due(&self) -> Option<Instant> {
        self.events_due
    }

    /// When the next write may happen (`None`: at once, nothing was written yet).
    pub(super) fn due(&self) -> Option<Instant> {
        let gap = self.interval.max(self.last_duration * STRETCH);
        self.last_flush.map(|t| t + gap)
    }

    /// Keeps `claim` until the next write.
    pub(super) fn hold(&mut self, task_id: &str, claim: Claim) {
        self.pending_claims.insert(task_id.to_string(), claim);
    }

    /// A claim this process still holds for `task_id`, handed back for reuse.
    pub(super) fn take(&mut self, task_id: &str) -> Option<Claim> {
        self.pending_claims.remove(task_id)
    }
}

impl Executor {
    /// Appends the pass's events, unless a results write is pending: they then go out with
    /// it (appended just before it, as always), or after `flush_interval_ms` at the
    /// latest. One append per pass was a lock, an open and a write per finished task, and
    /// woke every phase's watcher each time.
    pub(super) fn flush_events(&mut self, now: Instant) {
        if self.ledger.is_dirty() && !self.results.is_broken() {
            let due = *self
                .flusher
                .events_due
                .get_or_insert(now + self.flusher.interval);
            if now < due {
                return;
            }
        }
        self.write_events();
    }

    /// Appends every buffered event now.
    pub(super) fn write_events(&mut self) {
        self.flusher.events_due = None;
        if let Err(e) = self.events.flush() {
            tracing::warn!(phase = PHASE, "{e}");
        }
    }

    /// Writes if something changed and the interval allows (or the executor is idle).
    pub(super) fn maybe_flush(&mut self, now: Instant) {
        if !self.ledger.is_dirty() || self.results.is_broken() {
            return;
        }
        let idle = self.running.is_empty() && (self.queue.is_empty() || !self.can_start());
        let crowded = self.flusher.pending_claims.len() >= self.flusher.max_pending_claims;
        if idle || crowded || self.flusher.due().is_none_or(|due| now >= due) {
            self.flush_now();
        }
    }

    /// Writes now if anything changed (unless the file is invalid: it is never
    /// overwritten, and the changes stay in memory until it is fixed).
    pub(super) fn flush_now(&mut self) {
        if !self.ledger.is_dirty() {
            self.flusher.pending_claims.clear();
            return;
        }
        if self.results.is_broken() {
            return;
        }
        self.write_events();
        let started = Instant::now();
        let wait = LockWait::AtMost(self.flusher.lock_timeout);
        let outcome = match self.results.file_mut().lock(wait) {
            Ok(Some(mut locked)) => {
                if let Some(theirs) = locked.take_external() {
                    self.ledger.adopt(theirs);
                    self.needs_plan = true;
                }
                locked.commit(self.ledger.doc_mut(), self.events.run_id())
            }
            Ok(None) => return,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => {
                self.results.note_written();
                self.ledger.mark_clean();
                self.flusher.pending_claims.clear();
                self.flusher.last_duration = started.elapsed();
                self.flusher.last_flush = Some(Instant::now());
                tracing::debug!(
                    phase = PHASE,
                    entries = self.ledger.entries().len(),
                    ms = self.flusher.last_duration.as_millis() as u64,
                    "wrote execution_results.json"
                );
            }
            Err(e) if e.is_content_error() => self.results.note_invalid(&e, &self.events),
            Err(e) => {
                tracing::warn!(phase = PHASE, "{e}");
                // Try again after an interval rather than on every pass.
                self.flusher.last_flush = Some(Instant::now());
            }
        }
    }
}

/// Raises the soft limit on open files to the hard limit (capped): claims of finished
/// attempts stay open until the next write.
pub(super) fn raise_open_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    const WANTED: u64 = 65_536;
    let limit = getrlimit(Resource::Nofile);
    let Some(current) = limit.current else {
        return;
    };
    let target = limit.maximum.map_or(WANTED, |max| max.min(WANTED));
    if current < target {
        let raised = rustix::process::Rlimit {
            current: Some(target),
            maximum: limit.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::debug!("cannot raise the open-file limit: {e}");
        }
    }
}
