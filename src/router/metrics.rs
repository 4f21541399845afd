//! What the `metrics` strategy knows of each tool: per tool and task kind, the last
//! `routing.metrics.window` finished attempts (worked or not, and how long they took).

use std::collections::{HashMap, VecDeque};

/// One finished attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sample {
    succeeded: bool,
    duration_ms: u64,
}

/// A window's summary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Stats {
    /// Attempts in the window.
    pub attempts: usize,
    /// Of which succeeded.
    pub succeeded: usize,
    /// Median duration of the successful ones.
    pub median_ms: Option<u64>,
    /// When the tool last finished an attempt of this kind (the order of arrival).
    pub last_seen: u64,
}

impl Stats {
    /// Success rate with one success and one failure assumed (Laplace), so an untried
    /// tool counts as 0.5 rather than 0 or 1.
    pub(super) fn success_rate(&self) -> f64 {
        (self.succeeded as f64 + 1.0) / (self.attempts as f64 + 2.0)
    }
}

/// The windows.
#[derive(Debug)]
pub(super) struct Metrics {
    window: usize,
    by: HashMap<(String, String), (VecDeque<Sample>, u64)>,
    /// Counts arrivals, for `last_seen`.
    clock: u64,
}

impl Metrics {
    pub(super) fn new(window: u32) -> Self {
        Self {
            window: window.max(1) as usize,
            by: HashMap::new(),
            clock: 0,
        }
    }

    /// Records a finished attempt of a task of `kind` on `tool`, in the order they ended.
    pub(super) fn record(&mut self, tool: &str, kind: &str, succeeded: bool, duration_ms: u64) {
        self.clock += 1;
        let (samples, seen) = self
            .by
            .entry((tool.to_string(), kind.to_string()))
            .or_default();
        if samples.len() == self.window {
            samples.pop_front();
        }
        samples.push_back(Sample {
            succeeded,
            duration_ms,
        });
        *seen = self.clock;
    }

    /// The window of `tool` for `kind`.
    pub(super) fn stats(&self, tool: &str, kind: &str) -> Stats {
        let Some((samples, seen)) = self.by.get(&(tool.to_string(), kind.to_string())) else {
            return Stats {
                attempts: 0,
                succeeded: 0,
                median_ms: None,
                last_seen: 0,
            };
        };
        let mut ok: Vec<u64> = samples
            .iter()
            .filter(|s| s.succeeded)
            .map(|s| s.duration_ms)
            .collect();
        ok.sort_unstable();
        Stats {
            attempts: samples.len(),
            succeeded: ok.len(),
            median_ms: (!ok.is_empty()).then(|| ok[ok.len() / 2]),
            last_seen: *seen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_keeps_the_latest_attempts() {
        let mut m = Metrics::new(3);
        m.record("a", "k", false, 5);
        for ms in [30, 10, 20] {
            m.record("a", "k", true, ms);
        }
        let s = m.stats("a", "k");
        assert_eq!((s.attempts, s.succeeded, s.median_ms), (3, 3, Some(20)));
        assert_eq!(s.success_rate(), 0.8);
        assert_eq!(m.stats("a", "other").success_rate(), 0.5);
    }
}
