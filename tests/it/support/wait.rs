//! The one way these tests wait: poll a condition until it holds, and fail naming what was
//! awaited once a deadline passes. Never sleep-and-hope.

use std::fmt::Display;
use std::time::{Duration, Instant};

/// The longest pause between two looks at a condition.
pub(crate) const POLL: Duration = Duration::from_millis(20);

/// What a condition reports: `bool` (holds or not) or `Option<T>` (`Some` once it holds,
/// carrying what was waited for).
pub(crate) trait Ready {
    /// What [`wait_until`] returns once the condition holds.
    type Output;
    /// `Some` once the condition holds.
    fn ready(self) -> Option<Self::Output>;
}

impl Ready for bool {
    type Output = ();
    fn ready(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Ready for Option<T> {
    type Output = T;
    fn ready(self) -> Option<T> {
        self
    }
}

/// Polls `cond` until it holds and returns what it reported; panics naming `what` once
/// `limit` has passed. It looks at once, then after 1, 2, 4 … ms, then every [`POLL`], so
/// a quick condition costs little and a slow one does not spin.
#[track_caller]
pub(crate) fn wait_until<R: Ready>(
    what: impl Display,
    limit: Duration,
    cond: impl FnMut() -> R,
) -> R::Output {
    let deadline = Deadline::new(what, limit);
    match deadline.poll(cond) {
        Some(v) => v,
        None => deadline.fail(""),
    }
}

/// A named deadline, for the harness loops that pause their own way (on a phase's wake-up
/// channel, or with a child to kill first) but must time out like [`wait_until`].
pub(crate) struct Deadline {
    what: String,
    limit: Duration,
    at: Instant,
}

impl Deadline {
    /// A deadline `limit` from now for `what`.
    pub(crate) fn new(what: impl Display, limit: Duration) -> Deadline {
        Deadline {
            what: what.to_string(),
            limit,
            at: Instant::now() + limit,
        }
    }

    /// The instant the deadline passes.
    pub(crate) fn at(&self) -> Instant {
        self.at
    }

    /// Whether the deadline has passed.
    pub(crate) fn passed(&self) -> bool {
        Instant::now() >= self.at
    }

    /// Fails the test: timed out waiting for `what`, then `detail` (if any).
    #[track_caller]
    pub(crate) fn fail(&self, detail: &str) -> ! {
        let sep = if detail.is_empty() { "" } else { "\n" };
        panic!(
            "timed out after {:?} waiting for {}{sep}{detail}",
            self.limit, self.what
        )
    }

    /// Fails the test if the deadline has passed.
    #[track_caller]
    pub(crate) fn check(&self) {
        if self.passed() {
            self.fail("");
        }
    }

    /// When to look next: [`POLL`] from now, but not past the deadline.
    pub(crate) fn next_look(&self) -> Instant {
        (Instant::now() + POLL).min(self.at)
    }

    /// Polls `cond` (see [`wait_until`]) until it holds, or returns `None` once the deadline
    /// has passed, so the caller can clean up before calling [`Deadline::fail`].
    pub(crate) fn poll<R: Ready>(&self, mut cond: impl FnMut() -> R) -> Option<R::Output> {
        let mut pause = Duration::from_millis(1);
        loop {
            if let Some(v) = cond().ready() {
                return Some(v);
            }
            if self.passed() {
                return None;
            }
            std::thread::sleep(pause.min(self.at.saturating_duration_since(Instant::now())));
            pause = (pause * 2).min(POLL);
        }
    }
}
