//! One run of a hook: its argv in its own process group, in the project root, the event's
//! line on stdin, a few `PHASE_*` variables, and a timeout after which the group is killed
//! (SIGTERM, a second of grace, SIGKILL). `crate::process` runs tasks with stdin closed;
//! a hook needs its stdin, so it is spawned here.

use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::Signal;

use super::feed::LoggedEvent;
use crate::config::HookConfig;
use crate::process::kill_group;

/// Between SIGTERM and SIGKILL of a hook that ran out of time.
const KILL_GRACE: Duration = Duration::from_secs(1);

/// Bytes of a failed hook's stderr kept for the log line.
const STDERR_TAIL: usize = 512;

/// Runs `hook` on `event`; `Err` says how it failed, in words.
pub(super) fn run(
    hook: &HookConfig,
    event: &LoggedEvent,
    project_root: &Path,
    state_dir: &Path,
) -> Result<(), String> {
    let Some((program, args)) = hook.command.split_first() else {
        return Err("its command is empty".to_string());
    };
    let mut child = Command::new(program)
        .args(args)
        .current_dir(project_root)
        .env("PHASE_EVENT_TYPE", &event.kind)
        .env("PHASE_EVENT_SEQ", event.seq.to_string())
        .env(
            "PHASE_TASK_ID",
            event.task_id.as_deref().unwrap_or_default(),
        )
        .env("PHASE_RUN_ID", &event.run_id)
        .env("PHASE_STATE_DIR", state_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start {program:?}: {e}"))?;
    // Written from a thread: a hook that does not read its stdin must not block us.
    let payload = format!("{}\n", event.line);
    let stdin = child.stdin.take();
    let writer = std::thread::spawn(move || {
        if let Some(mut stdin) = stdin {
            let _ = stdin.write_all(payload.as_bytes());
        }
    });
    let stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut stderr) = stderr {
            let _ = stderr.read_to_end(&mut buf);
        }
        buf
    });
    let pgid = child.id() as i32;
    let limit = Duration::from_secs(hook.timeout_seconds.max(1));
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    let mut killed_at: Option<Instant> = None;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) => {}
            Err(e) => break Err(format!("cannot wait for it: {e}")),
        }
        match killed_at {
            None if started.elapsed() >= limit => {
                kill_group(pgid, Signal::TERM);
                killed_at = Some(Instant::now());
            }
            Some(at) if at.elapsed() >= KILL_GRACE => kill_group(pgid, Signal::KILL),
            _ => {}
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    };
    // Whatever it left in its group goes with it, as for tasks.
    kill_group(pgid, Signal::KILL);
    let _ = writer.join();
    let err = reader.join().unwrap_or_default();
    let status = status?;
    if killed_at.is_some() {
        return Err(format!("timed out after {}s", limit.as_secs()));
    }
    if status.success() {
        return Ok(());
    }
    let how = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "ended for an unknown reason".to_string(),
    };
    let tail = String::from_utf8_lossy(&err[err.len().saturating_sub(STDERR_TAIL)..])
        .trim()
        .to_string();
    Err(if tail.is_empty() {
        how
    } else {
        format!("{how}: {tail}")
    })
}
