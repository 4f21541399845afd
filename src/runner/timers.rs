//! The runner's timers in one heap: a timeout, the end of a kill grace, the end of a
//! drain, a retry of an outcome record, the end of the shutdown grace. A timer is not
//! removed when what it was for goes away: when it fires, the loop checks that it still
//! applies (an attempt ended before its timeout simply ignores it).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// What a timer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Timer {
    /// An attempt's timeout.
    Deadline(u64),
    /// An attempt's kill grace is over: SIGKILL.
    Kill(u64),
    /// An attempt's drain limit.
    Drain(u64),
    /// Look whether an attempt without a pidfd has exited.
    Reap(u64),
    /// Try writing an attempt's outcome record again.
    Record(u64),
    /// The shutdown grace is over: stop what still runs.
    Shutdown,
}

/// Timers by due time.
#[derive(Debug, Default)]
pub(super) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, Timer)>>,
}

impl Timers {
    /// Sets `timer` for `at`.
    pub(super) fn set(&mut self, at: Instant, timer: Timer) {
        self.heap.push(Reverse((at, timer)));
    }

    /// When the next timer is due.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// The next timer due by `now`, removed.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse((_, t))| t),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timers_come_due_in_time_order() {
        let now = Instant::now();
        let mut timers = Timers::default();
        timers.set(now + Duration::from_secs(2), Timer::Kill(1));
        timers.set(now, Timer::Deadline(2));
        timers.set(now + Duration::from_secs(1), Timer::Shutdown);
        assert_eq!(timers.next_due(), Some(now));
        assert_eq!(timers.pop_due(now), Some(Timer::Deadline(2)));
        assert_eq!(timers.pop_due(now), None);
        let later = now + Duration::from_secs(5);
        assert_eq!(timers.pop_due(later), Some(Timer::Shutdown));
        assert_eq!(timers.pop_due(later), Some(Timer::Kill(1)));
        assert_eq!(timers.next_due(), None);
    }
}
