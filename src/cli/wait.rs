//! `phase wait [ID…] [--all]`: block until the tasks (the current run's, when none are
//! named; every task with `--all`) have ended, then exit 0 only if all succeeded. Ended is the lifecycle's word ([`Snapshot::settled`]):
//! succeeded, quarantined, canceled, dep_failed, rejected, or failed with no recovery
//! phase running to act on it — and no request waiting for the executor.
//!
//! [`Snapshot::settled`]: crate::lifecycle::Snapshot::settled

use std::time::{Duration, Instant};

use super::{Context, EXIT_FAILURE, EXIT_OK, Failure, Out, Outcome, note};
use crate::Error;
use crate::status::{LivePhases, TaskState, snapshot};

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
    /// Print the result as JSON for programs (schemas/wait.schema.json), also on a
    /// timeout.
    #[arg(long)]
    pub json: bool,
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
            let all_ok = done.iter().all(|(_, s)| s.is_success());
            if args.json {
                out.line(render(&done, all_ok, false)?)?;
            } else {
                for (id, state) in &done {
                    out.line(format!("{id} {}", state.as_str()))?;
                }
            }
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
            if args.json {
                let now: Vec<(String, TaskState)> = snap
                    .tasks
                    .iter()
                    .filter(|t| args.ids.is_empty() || args.ids.contains(&t.id))
                    .map(|t| (t.id.clone(), t.state))
                    .collect();
                out.line(render(&now, false, true)?)?;
            }
            return Err(Failure::from(Error::Runtime(
                "timed out waiting; tasks are still moving".to_string(),
            )));
        }
        std::thread::sleep(POLL);
    }
}

/// The `--json` document: each task's state, whether all succeeded, whether time ran out.
fn render(
    tasks: &[(String, TaskState)],
    all_succeeded: bool,
    timed_out: bool,
) -> Result<String, Failure> {
    let tasks: Vec<serde_json::Value> = tasks
        .iter()
        .map(|(id, state)| serde_json::json!({"id": id, "state": state.as_str()}))
        .collect();
    let doc = serde_json::json!({
        "tasks": tasks,
        "all_succeeded": all_succeeded,
        "timed_out": timed_out,
    });
    serde_json::to_string_pretty(&doc)
        .map_err(|e| Failure::from(Error::Usage(format!("cannot render JSON: {e}"))))
}
