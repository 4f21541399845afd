//! `phase logs ID [--attempt N] [--stderr] [--step NAME] [--list] [--follow]`: what a task
//! attempt wrote, what a fix step, agent or gate step wrote after it, or the list of them.
//!
//! Everything is under `logs/<task>/`: `<n>.out`/`<n>.err` for attempt n,
//! `<n>.<fixer or agent tier>.fix.{out,err}` for recovery's fix steps after it,
//! `<n>.<verify|review>.{out,err}` for its gate steps, `<n>[.<tier>].prompt.md` for
//! prompts given to agents.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{Context, EXIT_OK, Failure, Out, Outcome, note};
use crate::Error;
use crate::model::{ExecutionResults, Status, TaskResult, is_valid_task_id};
use crate::status::{LivePhases, TaskState, snapshot};
use crate::store::{Access, Claim, StateFile, open_below};

/// Arguments of `phase logs`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The task.
    pub id: String,
    /// Which attempt (default: the latest).
    #[arg(long)]
    pub attempt: Option<u32>,
    /// Print stderr instead of stdout.
    #[arg(long)]
    pub stderr: bool,
    /// A recovery step's log after the attempt instead: a fixer or agent tier (`ruff`,
    /// `claude`), or a gate step (`verify`, `review`). `--list` shows which exist.
    #[arg(long, value_name = "NAME", conflicts_with = "list")]
    pub step: Option<String>,
    /// List the task's log files (attempts, fix steps, agents, gate steps, prompts).
    #[arg(long, conflicts_with = "follow")]
    pub list: bool,
    /// Keep printing as the log grows, until the attempt (with --step: recovery's work on
    /// it) has ended.
    #[arg(long, short)]
    pub follow: bool,
}

/// How often a followed log is looked at.
const POLL: Duration = Duration::from_millis(100);
/// A claim not held this long, with the attempt still recorded running, means its
/// process is gone (an executor that died before recording the end).
const CLAIM_GONE: Duration = Duration::from_secs(2);

/// Prints the log file's content (or the list of log files).
pub(super) fn run(args: &Args, ctx: &Context, out: &mut Out<'_>) -> Outcome {
    if !is_valid_task_id(&args.id) {
        return Err(Failure::usage(Error::Usage(format!(
            "{:?} is not a task id",
            args.id
        ))));
    }
    let known = snapshot(&ctx.state, LivePhases::default())?
        .tasks
        .iter()
        .any(|t| t.id == args.id);
    if !known {
        return Err(Failure::usage(Error::Usage(format!(
            "no task {:?} in {} (`phase status` lists them)",
            args.id,
            ctx.state.root().display()
        ))));
    }
    if args.list {
        for file in super::show::log_files(&ctx.state, &args.id) {
            out.line(file)?;
        }
        return Ok(EXIT_OK);
    }
    let attempt = match args.attempt {
        Some(n) => check_attempt(ctx, &args.id, n)?,
        None if args.follow => match wait_for_first_attempt(ctx, &args.id)? {
            Some(n) => n,
            None => return Err(not_run(&args.id)),
        },
        None => latest(&result_of(ctx, &args.id)?).ok_or_else(|| not_run(&args.id))?,
    };
    let ext = if args.stderr { "err" } else { "out" };
    let path = match &args.step {
        Some(step) => step_log(ctx, &args.id, attempt, step, ext)?,
        None => ctx
            .state
            .task_logs(&args.id)
            .join(format!("{attempt}.{ext}")),
    };
    let mut offset = print_from(&path, 0, !args.follow, out)?;
    if !args.follow {
        return Ok(EXIT_OK);
    }
    let mut ended = Ended::new(args.step.is_some());
    loop {
        // Decided before the last read, so the bytes written before the end are printed.
        let done = ended.check(ctx, &args.id, attempt)?;
        offset = print_from(&path, offset, done, out)?;
        if done {
            return Ok(EXIT_OK);
        }
        std::thread::sleep(POLL);
    }
}

fn not_run(id: &str) -> Failure {
    Failure::usage(Error::Usage(format!("task {id:?} has not run yet")))
}

fn result_of(ctx: &Context, id: &str) -> Result<Option<TaskResult>, Failure> {
    Ok(StateFile::<ExecutionResults>::new(&ctx.state)
        .read()?
        .results
        .into_iter()
        .find(|r| r.task_id == id))
}

fn latest(result: &Option<TaskResult>) -> Option<u32> {
    result.as_ref().map(|r| r.attempt).filter(|n| *n > 0)
}

/// `n` if the task has an attempt `n`, else an error listing the ones it has.
fn check_attempt(ctx: &Context, id: &str, n: u32) -> Result<u32, Failure> {
    let result = result_of(ctx, id)?;
    let have: Vec<u32> = result
        .as_ref()
        .map(|r| r.attempts.iter().map(|a| a.attempt).collect())
        .unwrap_or_default();
    // An archived or hand-trimmed history may lack the record but keep the log.
    let on_disk = ctx.state.task_logs(id).join(format!("{n}.out")).exists()
        || ctx.state.task_logs(id).join(format!("{n}.err")).exists();
    if have.contains(&n) || on_disk {
        return Ok(n);
    }
    let which = match (have.first(), have.last()) {
        (Some(first), Some(last)) if first == last => format!("it has attempt {first}"),
        (Some(first), Some(last)) => format!("it has attempts {first} to {last}"),
        _ => "it has not run yet".to_string(),
    };
    Err(Failure::usage(Error::Usage(format!(
        "task {id:?} has no attempt {n} ({which})"
    ))))
}

/// `--follow` on a task that has not started: wait until it does, or has ended without.
fn wait_for_first_attempt(ctx: &Context, id: &str) -> Result<Option<u32>, Failure> {
    loop {
        if let Some(n) = latest(&result_of(ctx, id)?) {
            return Ok(Some(n));
        }
        let live = LivePhases::detect(&ctx.state)?;
        let snap = snapshot(&ctx.state, live)?;
        let ended = snap
            .tasks
            .iter()
            .find(|t| t.id == id)
            .is_none_or(|t| t.state.has_ended() && t.waiting_on.is_none());
        if ended {
            return Ok(None);
        }
        std::thread::sleep(POLL);
    }
}

/// `logs/<id>/<n>.<step>.fix.<ext>` (a fixer or agent tier), else `<n>.<step>.<ext>` (a
/// gate step); with neither, an error listing the steps the attempt has.
fn step_log(
    ctx: &Context,
    id: &str,
    attempt: u32,
    step: &str,
    ext: &str,
) -> Result<PathBuf, Failure> {
    let dir = ctx.state.task_logs(id);
    let fix = dir.join(format!("{attempt}.{step}.fix.{ext}"));
    let gate = dir.join(format!("{attempt}.{step}.{ext}"));
    let other = |p: &Path| p.with_extension(if ext == "out" { "err" } else { "out" });
    for path in [fix, gate] {
        // The step ran if either of its logs exists; the one asked for may be empty.
        if path.exists() || other(&path).exists() {
            return Ok(path);
        }
    }
    let prefix = format!("logs/{id}/{attempt}.");
    let mut steps: Vec<String> = super::show::log_files(&ctx.state, id)
        .iter()
        .filter_map(|f| f.strip_prefix(&prefix))
        .filter_map(|rest| {
            let rest = rest.strip_suffix(".out").or(rest.strip_suffix(".err"))?;
            Some(rest.strip_suffix(".fix").unwrap_or(rest).to_string())
        })
        .collect();
    steps.sort();
    steps.dedup();
    Err(Failure::usage(Error::Usage(format!(
        "attempt {attempt} of task {id:?} has no step {step:?} ({})",
        if steps.is_empty() {
            "no fix, agent or gate step ran after it".to_string()
        } else {
            format!("steps: {}", steps.join(", "))
        }
    ))))
}

/// When following stops: the attempt has ended (its record says so, or its claim has
/// been free for a while); with `--step`, when recovery has nothing left to do on it.
struct Ended {
    step: bool,
    claim_free_since: Option<Instant>,
}

impl Ended {
    fn new(step: bool) -> Self {
        Ended {
            step,
            claim_free_since: None,
        }
    }

    fn check(&mut self, ctx: &Context, id: &str, attempt: u32) -> Result<bool, Failure> {
        if self.step {
            let live = LivePhases::detect(&ctx.state)?;
            let snap = snapshot(&ctx.state, live)?;
            return Ok(snap.tasks.iter().find(|t| t.id == id).is_none_or(|t| {
                t.waiting_on != Some("recovery")
                    && !matches!(t.state, TaskState::Recovering | TaskState::Verifying)
                    || !live.recovery
            }));
        }
        let running = result_of(ctx, id)?
            .and_then(|r| r.attempts.into_iter().find(|a| a.attempt == attempt))
            .is_none_or(|a| a.status == Status::Running);
        if !running {
            return Ok(true);
        }
        if Claim::is_held(&ctx.state, id)? {
            self.claim_free_since = None;
            return Ok(false);
        }
        let since = *self.claim_free_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= CLAIM_GONE {
            note(&format!(
                "attempt {attempt} of {id} is recorded running but no process holds its \
                 claim; stopped following"
            ));
            return Ok(true);
        }
        Ok(false)
    }
}

/// Prints the bytes after `offset`; returns the new offset. The executor creates a log on
/// the first byte of output: no file, no output. Never through a planted link (issue 8):
/// one is an error naming it. Unless this is the `last` look, a character cut in half
/// at the end (the writer is mid-way) waits for the next look.
fn print_from(path: &Path, offset: u64, last: bool, out: &mut Out<'_>) -> Result<u64, Failure> {
    let mut file = match open_below(path, 3, Access::Read) {
        Ok(f) => f,
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(offset);
        }
        Err(e) => return Err(e.into()),
    };
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| Error::io(path, "read", e))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, "read", e))?;
    if !last
        && let Err(e) = std::str::from_utf8(&bytes)
        && e.error_len().is_none()
    {
        bytes.truncate(e.valid_up_to());
    }
    if !bytes.is_empty() {
        out.text(&String::from_utf8_lossy(&bytes))?;
    }
    Ok(offset + bytes.len() as u64)
}
