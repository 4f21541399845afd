//! `phase wait [ID…] [--all]`: block until the tasks (the current run's, when none are
//! named; every task with `--all`) have ended, then exit 0 only if all succeeded. Ended is the lifecycle's word ([`Snapshot::settled`]):
//! succeeded, quarantined, canceled, dep_failed, rejected, or failed with no recovery
//! phase running to act on it — and no request waiting for the executor.
//!
//! [`Snapshot::settled`]: crate::lifecycle::Snapshot::settled

use std::time::{Duration, Instant};

use super::{Context, EXIT_FAILURE, EXIT_OK, Failure, Out, Outcome, note};
use crate::Error;
use crate::status::{LivePhases, snapshot};

/// Arguments of `phase wait`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Tasks to wait for (default: every task).
    #[arg(value_name = "ID")]
    pub ids: Vec<String>,
    /// Give up after this many seconds (exit 1).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// Without IDs: wait for every task in the state directory, not only the current
    /// run's (runs.json).
    #[arg(long, conflicts_with = "ids")]
    pub all: bool,
}

/// How often the files are looked at.
const POLL: Duration = Duration::from_millis(100);
/// When to say that nothing runs that could move the tasks.
const NOTE_AFTER: Duration = Duration::from_secs(2);

/// Polls the derived states until every waited-for task has ended.
pub(super) fn run(args: &Args, ctx: &Context, out: &mut Out<'_>) -> Outcome {
    let started = Instant::now();
    let deadline = args
        .timeout
        .map(|s| started + Duration::from_secs_f64(s.max(0.0)));
    let mut told = false;
    loop {
        let live = LivePhases::detect(&ctx.state)?;
        // Named tasks are judged whatever run they are in.
        let snap = if args.ids.is_empty() {
            crate::runs::judged(&ctx.state, live, args.all)?
        } else {
            snapshot(&ctx.state, live)?
        };
        for id in &args.ids {
            if !snap.tasks.iter().any(|t| &t.id == id) {
                return Err(Failure::usage(Error::Usage(format!(
                    "no task {id:?} in {}",
                    ctx.state.root().display()
                ))));
            }
        }
        if let Some(done) = snap.settled(&args.ids) {
            for (id, state) in &done {
                out.line(format!("{id} {}", state.as_str()))?;
            }
            let all_ok = done.iter().all(|(_, s)| s.is_success());
            return Ok(if all_ok { EXIT_OK } else { EXIT_FAILURE });
        }
        if !told && !live.any() && started.elapsed() > NOTE_AFTER {
            note(&format!(
                "no phase is running on {}; still waiting (start `phase run`)",
                ctx.state.root().display()
            ));
            told = true;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Failure::from(Error::Runtime(
                "timed out waiting; tasks are still moving".to_string(),
            )));
        }
        std::thread::sleep(POLL);
    }
}
