//! How many runs may wait in the runner's queue, started by the runner the moment a slot
//! frees: enough to keep every slot busy while the executor thread is busy elsewhere (a
//! results write takes tens of ms at 10,000 tasks, longer than two trivial tasks run),
//! few enough that a task handed over later — one of higher priority, say — waits behind
//! no more than about [`COVER_MS`] of queued work per slot. The runner starts queued runs
//! in the order they were handed over, so the queue is sized by time, from the durations
//! of the attempts that ended lately.

/// The queued work per slot the queue aims at, in ms.
const COVER_MS: f64 = 20.0;
/// At most this many queued runs per slot.
const MAX_PER_SLOT: usize = 16;
/// At most this many queued runs in all.
const MAX_QUEUED: usize = 64;
/// Until short attempts are seen: one queued run per slot, at most this many in all.
const BASE_QUEUED: usize = 8;
/// The weight of the newest duration in the running average.
const WEIGHT: f64 = 0.1;

/// The running average of attempt durations, and the queue depth it allows.
#[derive(Debug, Default)]
pub(in crate::executor) struct QueueDepth {
    recent_ms: Option<f64>,
}

impl QueueDepth {
    /// An attempt ran `duration_ms`.
    pub(in crate::executor) fn note(&mut self, duration_ms: u64) {
        let d = duration_ms as f64;
        self.recent_ms = Some(match self.recent_ms {
            None => d,
            Some(r) => r + WEIGHT * (d - r),
        });
    }

    /// How many runs may wait in the runner's queue beside `slots` running ones.
    pub(in crate::executor) fn queued(&self, slots: usize) -> usize {
        let base = slots.min(BASE_QUEUED);
        let per_slot = match self.recent_ms {
            // Below 1 ms the durations are rounding: counted as 1 ms.
            Some(r) => ((COVER_MS / r.max(1.0)) as usize).clamp(1, MAX_PER_SLOT),
            None => 1,
        };
        if per_slot == 1 {
            return base;
        }
        slots.saturating_mul(per_slot).min(MAX_QUEUED).max(base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(durations: &[u64]) -> QueueDepth {
        let mut depth = QueueDepth::default();
        durations.iter().for_each(|&d| depth.note(d));
        depth
    }

    #[test]
    fn long_or_unknown_attempts_queue_one_per_slot_as_before() {
        assert_eq!(QueueDepth::default().queued(2), 2);
        assert_eq!(QueueDepth::default().queued(100), BASE_QUEUED);
        assert_eq!(after(&[60_000; 5]).queued(2), 2);
        assert_eq!(after(&[15]).queued(4), 4);
    }

    #[test]
    fn short_attempts_queue_about_20_ms_of_work_per_slot() {
        assert_eq!(after(&[0; 50]).queued(2), 32);
        assert_eq!(after(&[5; 50]).queued(2), 8);
        assert_eq!(after(&[2; 50]).queued(8), MAX_QUEUED);
        assert_eq!(after(&[1; 50]).queued(100), MAX_QUEUED);
    }

    #[test]
    fn the_depth_follows_the_durations_as_they_change() {
        let mut depth = after(&[1; 50]);
        assert_eq!(depth.queued(2), 32);
        (0..50).for_each(|_| depth.note(10_000));
        assert_eq!(depth.queued(2), 2, "long attempts again: one per slot");
    }
}
