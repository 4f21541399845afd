//! The job wrapper: `phase __slurm-job`, what each Slurm job runs (docs/SLURM.md).
//!
//! Inside the job, on whatever node: take the task's claim with the attempt fence (as the
//! local attempt runner does, so an attempt starts at most once whoever asks), run argv in
//! its own process group with the job's stdout/stderr (Slurm's `--output`/`--error`
//! files), forward TERM/INT/HUP to it, and write the command's exact exit status and times
//! into the outcome record `attempts/<task>/<n>.json` *before* releasing the claim. Slurm's
//! own exit codes are not exact (CLUSTER.md); this record is.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::model::{AttemptOutcome, SCHEMA_VERSION, now_rfc3339};
use crate::store::{Fence, FencedClaim, StateDir, write_outcome};
use crate::{Error, Result};

/// The wrapper's exit code when it did not run the command and wrote nothing: the claim
/// stayed held by another process, or the fence says the attempt started already.
pub const EXIT_NOT_RUN: i32 = 75;
/// How long the wrapper waits for a claim held by someone else: the previous attempt's
/// runner may still be releasing it (it holds it until the engine's ack).
const CLAIM_WAIT: Duration = Duration::from_secs(30);
/// How long it keeps trying to write the outcome record (as the local runner does).
const RECORD_TRIES: u32 = 120;

/// `phase __slurm-job`: run one attempt inside a Slurm job.
#[derive(Debug, Clone, clap::Args)]
pub struct SlurmJobArgs {
    /// The task.
    #[arg(long)]
    pub task: String,
    /// The attempt number.
    #[arg(long)]
    pub attempt: u32,
    /// The task's workdir (Slurm runs a job whose `--chdir` fails in /tmp: checked here).
    #[arg(long)]
    pub workdir: PathBuf,
    /// The attempt's timeout, for the fence's deadline (the engine enforces it).
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// How much of stderr's end goes into the record.
    #[arg(long, default_value_t = 4096)]
    pub tail_bytes: usize,
    /// The command.
    #[arg(last = true, required = true)]
    pub argv: Vec<String>,
}

/// Runs the attempt; returns the wrapper's exit code (the command's, or 128 + signal).
pub fn run_job(args: &SlurmJobArgs, state: &StateDir) -> Result<i32> {
    let host = host_name();
    let job = std::env::var("SLURM_JOB_ID").unwrap_or_else(|_| "none".into());
    let runner = format!("slurm-{job}@{host}");
    let Some(claim) = take_claim(state, &args.task)? else {
        eprintln!(
            "phase: not started: {}: the claim on {:?} is held by another process",
            state.claim_locks_path().display(),
            args.task
        );
        return Ok(EXIT_NOT_RUN);
    };
    if let Some(f) = claim.fence()?.filter(|f| f.attempt >= args.attempt) {
        eprintln!(
            "phase: not started: {}: attempt {} was already started (by {} at {})",
            claim.path().display(),
            f.attempt,
            f.runner,
            f.started_at
        );
        return Ok(EXIT_NOT_RUN);
    }
    let now = jiff::Timestamp::now();
    let deadline = args.timeout_ms.and_then(|ms| {
        now.checked_add(jiff::SignedDuration::from_millis(i64::try_from(ms).ok()?))
            .ok()
    });
    let mut fence = Fence {
        schema_version: 1,
        task: args.task.clone(),
        attempt: args.attempt,
        runner: runner.clone(),
        pid: None,
        pgid: None,
        started_at: stamp(now),
        deadline: deadline.map(stamp),
    };
    claim.set_fence(&fence)?;
    // Registered before the spawn: a TERM in between is forwarded right after it.
    let signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ])
    .map_err(|source| Error::Os {
        action: "watch for signals".into(),
        source,
    })?;
    let mut outcome = AttemptOutcome {
        schema_version: SCHEMA_VERSION,
        task_id: args.task.clone(),
        attempt: args.attempt,
        runner,
        host,
        started_at: fence.started_at.clone(),
        ..AttemptOutcome::default()
    };
    let started = Instant::now();
    match spawn(args) {
        Err(reason) => {
            eprintln!("phase: {reason}");
            outcome.not_started_reason = Some(reason);
        }
        Ok(mut child) => {
            let pid = child.id();
            (fence.pid, fence.pgid) = (Some(pid), Some(pid));
            // The fence names the attempt already; the pid only helps an observer.
            if let Err(e) = claim.set_fence(&fence) {
                eprintln!("phase: {e}");
            }
            forward_signals(signals, pid);
            let status = child.wait().map_err(|source| Error::Os {
                action: "wait for the command".into(),
                source,
            })?;
            outcome.pid = Some(pid);
            outcome.exit_code = status.code();
            outcome.signal = status.signal();
        }
    }
    outcome.finished_at = now_rfc3339();
    outcome.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    (outcome.out_bytes, _) = measure(1, 0);
    (outcome.err_bytes, outcome.stderr_tail) = measure(2, args.tail_bytes);
    record(state, &outcome);
    drop(claim);
    Ok(match (outcome.exit_code, outcome.signal) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => 1,
    })
}

/// The claim, waiting [`CLAIM_WAIT`] at most for another holder to let go.
fn take_claim(state: &StateDir, task: &str) -> Result<Option<FencedClaim>> {
    let end = Instant::now() + CLAIM_WAIT;
    loop {
        if let Some(claim) = FencedClaim::try_take(state, task)? {
            return Ok(Some(claim));
        }
        if Instant::now() >= end {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts argv the way every attempt starts: no shell, its own process group, stdin
/// /dev/null; stdout and stderr are the job's (Slurm's log files).
fn spawn(args: &SlurmJobArgs) -> std::result::Result<std::process::Child, String> {
    if !args.workdir.is_dir() {
        let dir = args.workdir.display();
        return Err(format!(
            "cannot start: the workdir {dir} is not a directory"
        ));
    }
    let Some((program, rest)) = args.argv.split_first() else {
        return Err("cannot start: the command is empty".into());
    };
    Command::new(program)
        .args(rest)
        .current_dir(&args.workdir)
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start {program:?}: {e}"))
}

/// Passes each TERM/INT/HUP on to the command's group (Slurm signals the job's processes
/// itself too; a command that left the job's cgroup would otherwise miss it).
fn forward_signals(mut signals: signal_hook::iterator::Signals, pgid: u32) {
    std::thread::spawn(move || {
        for raw in signals.forever() {
            let signal = match raw {
                signal_hook::consts::SIGINT => rustix::process::Signal::INT,
                signal_hook::consts::SIGHUP => rustix::process::Signal::HUP,
                _ => rustix::process::Signal::TERM,
            };
            if let Ok(pgid) = i32::try_from(pgid) {
                crate::process::kill_group(pgid, signal);
            }
        }
    });
}

/// The size of the regular file on descriptor `fd` (Slurm's log) and its last `tail`
/// bytes, cut forward to a character boundary. Zero and empty for a pipe or terminal.
fn measure(fd: u8, tail: usize) -> (u64, String) {
    let Ok(mut file) = std::fs::File::open(format!("/proc/self/fd/{fd}")) else {
        return (0, String::new());
    };
    let len = match file.metadata() {
        Ok(m) if m.is_file() => m.len(),
        _ => return (0, String::new()),
    };
    let from = len.saturating_sub(tail as u64);
    let mut bytes = Vec::new();
    if tail > 0 && file.seek(SeekFrom::Start(from)).is_ok() {
        let _ = file.take(tail as u64).read_to_end(&mut bytes);
    }
    let start = bytes
        .iter()
        .position(|b| b & 0xC0 != 0x80)
        .unwrap_or(bytes.len());
    (len, String::from_utf8_lossy(&bytes[start..]).into_owned())
}

/// Writes the outcome record, trying again every second for two minutes (a full disk may
/// clear); the claim is held meanwhile, so nobody takes the attempt for lost.
fn record(state: &StateDir, outcome: &AttemptOutcome) {
    for tries in 1..=RECORD_TRIES {
        match write_outcome(state, outcome) {
            Ok(_) => return,
            Err(e) if tries == RECORD_TRIES => {
                eprintln!("phase: giving up on the outcome record: {e}");
            }
            Err(e) if tries == 1 => eprintln!("phase: {e}; trying again every second"),
            Err(_) => {}
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn stamp(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// This node's name, for the record.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
