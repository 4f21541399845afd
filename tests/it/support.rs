//! What the tests share: the one project builder ([`Project`]), the one way to wait
//! ([`wait_until`], [`wait::Deadline`]), real child processes ([`procs`]), state files
//! through the store ([`store`]), external tools ([`tool`], [`require_tool`]), and the
//! in-process harness of each phase ([`executor`], [`recovery`], [`router`]).

pub(crate) mod demo;
pub(crate) mod executor;
pub(crate) mod procs;
pub(crate) mod project;
pub(crate) mod recovery;
pub(crate) mod router;
pub(crate) mod store;
pub(crate) mod tools;
pub(crate) mod wait;

pub(crate) use project::Project;

/// The configuration engine tests run with, as a `const`: fast timings (20 ms flush, 2 ms
/// debounce, `poll_interval_ms` as given), a 300 ms kill grace, a 5–50 ms back-off, and
/// the given extra `[execution]` lines. One place, so every test file runs with the same
/// timings unless it says otherwise.
macro_rules! fast_config {
    ($poll_ms:literal, $execution:literal) => {
        concat!(
            "\n[state]\nflush_interval_ms = 20\ndebounce_ms = 2\npoll_interval_ms = ",
            $poll_ms,
            "\n\n[execution]\nkill_grace_ms = 300\n",
            $execution,
            "\n\n[execution.backoff]\ninitial_ms = 5\nfactor = 2.0\nmax_ms = 50\n"
        )
    };
}
pub(crate) use fast_config;
pub(crate) use tools::{require_tool, tool};
pub(crate) use wait::wait_until;
