//! Wall-clock timestamps as the files write them (RFC 3339 UTC, milliseconds) and their
//! conversion to monotonic deadlines for timers.

use std::time::{Duration, Instant};

use jiff::Timestamp;

/// Formats `ts` like every state file: `2026-01-02T03:04:05.678Z`.
pub(super) fn format(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Parses a timestamp from a file; `None` if it is not one.
pub(super) fn parse(text: &str) -> Option<Timestamp> {
    text.parse().ok()
}

/// `ts` plus `ms` milliseconds.
pub(super) fn add_ms(ts: Timestamp, ms: u64) -> Timestamp {
    let ms = i64::try_from(ms).unwrap_or(i64::MAX);
    Timestamp::from_millisecond(ts.as_millisecond().saturating_add(ms)).unwrap_or(Timestamp::MAX)
}

/// The monotonic instant at which the wall clock reads `ts` (now, if that has passed).
pub(super) fn deadline(ts: Timestamp) -> Instant {
    let now = Instant::now();
    let ahead = ts.as_millisecond() - Timestamp::now().as_millisecond();
    match u64::try_from(ahead) {
        Ok(ms) if ms > 0 => now + Duration::from_millis(ms.min(u64::from(u32::MAX))),
        _ => now,
    }
}

/// Whether the wall clock has reached `text` (an unparsable time counts as reached).
pub(super) fn has_passed(text: &str) -> bool {
    parse(text).is_none_or(|ts| ts <= Timestamp::now())
}
