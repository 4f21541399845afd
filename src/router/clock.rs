//! Wall-clock times as the files write them (RFC 3339 UTC, milliseconds), held as
//! milliseconds since the epoch so circuits and cool-downs compare and add cheaply.

use std::time::{Duration, Instant};

use jiff::Timestamp;

/// Milliseconds since the epoch.
pub(super) type Millis = i64;

/// Now.
pub(super) fn now_ms() -> Millis {
    Timestamp::now().as_millisecond()
}

/// `ms` as the files write times: `2026-01-02T03:04:05.678Z`.
pub(super) fn format_ms(ms: Millis) -> String {
    Timestamp::from_millisecond(ms)
        .unwrap_or(Timestamp::MAX)
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// A time from a file; `None` if it is not one.
pub(super) fn parse_ms(text: &str) -> Option<Millis> {
    text.parse::<Timestamp>().ok().map(|t| t.as_millisecond())
}

/// `ms` plus `delta` milliseconds, saturating.
pub(super) fn add_ms(ms: Millis, delta: u64) -> Millis {
    ms.saturating_add(i64::try_from(delta).unwrap_or(i64::MAX))
}

/// The monotonic instant at which the wall clock reads `ms` (now, if that has passed).
pub(super) fn deadline(ms: Millis) -> Instant {
    let now = Instant::now();
    match u64::try_from(ms - now_ms()) {
        Ok(ahead) if ahead > 0 => now + Duration::from_millis(ahead.min(u64::from(u32::MAX))),
        _ => now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_through_the_file_format() {
        let text = "2026-01-02T03:04:05.678Z";
        let ms = parse_ms(text).expect("a time");
        assert_eq!(format_ms(ms), text);
        assert_eq!(format_ms(add_ms(ms, 2000)), "2026-01-02T03:04:07.678Z");
        assert_eq!(parse_ms("soon"), None);
    }
}
