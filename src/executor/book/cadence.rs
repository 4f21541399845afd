//! When `execution_results.json` is written: at most once per `state.flush_interval_ms`,
//! stretched to several times the last write's duration (so a 10,000-entry file costs a
//! bounded fraction of the run), and when the pass's events must go out at the latest.

use std::time::{Duration, Instant};

use crate::config::Config;

/// The interval is at least this many times the last write's duration: writes then take
/// at most about 1/(STRETCH+1) of the executor's time, whatever the file's size (and
/// readers of the file, which parse it after every write, are spared as much).
const STRETCH: u32 = 20;
/// Every reader of the file parses all of it after each write, at about this many bytes
/// a second. A write counts as taking at least that long, so one made cheap by copying
/// unchanged entries (`store/spliced.rs`) does not make every reader re-read more often:
/// without it, a 100,000-task run took 110 s against 99 s in one pair (docs/PERFORMANCE.md).
const READ_BYTES_PER_SEC: f64 = 200e6;

/// The same for a hurried write (one another phase waits for, see `gate.rs`): writes may
/// then take up to a third of the executor's time. A 200-entry file (~0.3 ms a write)
/// would otherwise hold a gate's verdict back ~6 ms.
const HURRIED_STRETCH: u32 = 2;

/// Write timing.
#[derive(Debug)]
pub(in crate::executor) struct WriteCadence {
    interval: Duration,
    /// How long a write waits for the file's lock.
    pub(in crate::executor) lock_timeout: Duration,
    last_write: Option<Instant>,
    last_duration: Duration,
    /// When the events left for the next results write must be appended anyway.
    events_due: Option<Instant>,
}

impl WriteCadence {
    pub(in crate::executor) fn new(config: &Config) -> WriteCadence {
        WriteCadence {
            interval: Duration::from_millis(config.state.flush_interval_ms),
            lock_timeout: Duration::from_millis(config.state.lock_timeout_ms),
            last_write: None,
            last_duration: Duration::ZERO,
            events_due: None,
        }
    }

    /// When the next write may happen (`None`: at once, nothing was written yet).
    pub(in crate::executor) fn due(&self) -> Option<Instant> {
        let gap = self.interval.max(self.last_duration * STRETCH);
        self.last_write.map(|t| t + gap)
    }

    /// When a hurried write may happen: the fixed interval is waived, and the bound on the
    /// writes' share of the time is loosened, not dropped (`None`: at once).
    pub(in crate::executor) fn hurried_due(&self) -> Option<Instant> {
        self.last_write
            .map(|t| t + self.last_duration * HURRIED_STRETCH)
    }

    /// When buffered events must be appended even if the results are not written by then.
    pub(in crate::executor) fn events_due(&self) -> Option<Instant> {
        self.events_due
    }

    /// The deadline for the events buffered now: set at the first call after they were
    /// last appended, `flush_interval_ms` later.
    pub(in crate::executor) fn hold_events(&mut self, now: Instant) -> Instant {
        *self.events_due.get_or_insert(now + self.interval)
    }

    /// The events were appended.
    pub(in crate::executor) fn events_written(&mut self) {
        self.events_due = None;
    }

    /// A write of `bytes` that began at `started` is done.
    pub(in crate::executor) fn written(&mut self, started: Instant, bytes: u64) {
        let as_read = Duration::from_secs_f64(bytes as f64 / READ_BYTES_PER_SEC);
        self.last_duration = started.elapsed().max(as_read);
        self.last_write = Some(Instant::now());
    }

    /// The coalescing interval (`state.flush_interval_ms`).
    pub(in crate::executor) fn interval(&self) -> Duration {
        self.interval
    }

    /// How long the last write took.
    pub(in crate::executor) fn last_duration(&self) -> Duration {
        self.last_duration
    }

    /// A write failed for a passing reason: try again after an interval rather than on
    /// every pass.
    pub(in crate::executor) fn failed(&mut self) {
        self.last_write = Some(Instant::now());
    }
}
