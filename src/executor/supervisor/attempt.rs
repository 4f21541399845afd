//! One attempt as a worker thread runs it: `files_modified` snapshot, spawn in its own
//! process group, copy its output into the logs, wait (timeout or stop → SIGTERM, grace,
//! SIGKILL to the group), snapshot again, stderr tail. Anything that goes wrong is a result, never
//! a panic of the engine.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::changes::{Probe, Snapshot};
use super::output::{Log, Pump};
use crate::model::now_rfc3339;
use crate::process::{self, Finished, Running, StopHandle};

/// What a worker needs to run one attempt.
#[derive(Debug)]
pub(in crate::executor) struct Job {
    pub(in crate::executor) task_id: String,
    pub(in crate::executor) attempt: u32,
    /// argv, cwd, env, timeout, kill grace; stdout and stderr are pipes.
    pub(in crate::executor) spec: process::Spec,
    pub(in crate::executor) out_log: PathBuf,
    pub(in crate::executor) err_log: PathBuf,
    pub(in crate::executor) tail_bytes: usize,
    pub(in crate::executor) probe: Probe,
    pub(in crate::executor) stop: StopHandle,
    /// Set when the executor thread already spawned it (see `launch`).
    pub(in crate::executor) begun: Option<Begun>,
}

/// How an attempt ended, as the worker saw it.
#[derive(Debug)]
pub(in crate::executor) enum End {
    /// The process ran and ended.
    Exited(Finished),
    /// It never ran; the reason starts with `cannot start` when the program could not
    /// be started.
    NotStarted(String),
}

/// A finished attempt, sent back to the executor.
#[derive(Debug)]
pub(in crate::executor) struct Done {
    pub(in crate::executor) task_id: String,
    pub(in crate::executor) attempt: u32,
    pub(in crate::executor) started_at: String,
    pub(in crate::executor) finished_at: String,
    pub(in crate::executor) duration_ms: u64,
    pub(in crate::executor) end: End,
    pub(in crate::executor) stderr_tail: String,
    pub(in crate::executor) files_modified: Vec<String>,
}

/// An attempt up to its spawn: the checks, the `files_modified` snapshot and the
/// process (or why it did not start).
#[derive(Debug)]
pub(in crate::executor) struct Begun {
    started_at: String,
    clock: Instant,
    launch: Launch,
}

#[derive(Debug)]
enum Launch {
    Spawned { before: Snapshot, running: Running },
    NotStarted(String),
}

impl Begun {
    /// Whether a process was started (and must be waited for).
    pub(in crate::executor) fn spawned(&self) -> bool {
        matches!(self.launch, Launch::Spawned { .. })
    }
}

/// Checks the workdir, takes the snapshot and spawns the process.
pub(in crate::executor) fn begin(job: &Job) -> Begun {
    let started_at = now_rfc3339();
    let clock = Instant::now();
    let launch = if !job.spec.cwd.is_dir() {
        // Checked first so that the reason names the real problem (a missing cwd would
        // read as a missing program).
        let reason = format!(
            "cannot start: the workdir {} is not a directory",
            job.spec.cwd.display()
        );
        note_in_log(&job.err_log, &reason);
        Launch::NotStarted(reason)
    } else if job.stop.is_stopped() {
        Launch::NotStarted("stopped before it started".into())
    } else {
        let before = job.probe.snapshot();
        match process::spawn(&job.spec) {
            Ok(running) => Launch::Spawned { before, running },
            Err(e) => {
                let reason = e.to_string();
                let reason = if reason.starts_with("cannot start") {
                    reason
                } else {
                    format!("cannot start: {reason}")
                };
                note_in_log(&job.err_log, &reason);
                Launch::NotStarted(reason)
            }
        }
    };
    Begun {
        started_at,
        clock,
        launch,
    }
}

/// Runs `job` to its end (from its spawn, if the executor already started it).
pub(in crate::executor) fn run(mut job: Job) -> Done {
    let Begun {
        started_at,
        clock,
        launch,
    } = job.begun.take().unwrap_or_else(|| begin(&job));
    let mut files_modified = Vec::new();
    // Whether the `.err` log may exist: a silent attempt has none, and looking for it
    // would cost a failed lookup on the path from one task to the next.
    let mut err_log_written = true;
    let end = match launch {
        Launch::NotStarted(reason) => End::NotStarted(reason),
        Launch::Spawned {
            before,
            mut running,
        } => {
            let deadline = job.spec.timeout.map(|t| Instant::now() + t);
            let logs = (Log::new(job.out_log.clone()), Log::new(job.err_log.clone()));
            let mut pump = Pump::new(&mut running, logs.0, logs.1);
            pump.run(running.pid(), &job.stop, deadline);
            let finished = running.wait_stoppable(&job.stop);
            pump.drain();
            err_log_written = pump.wrote_stderr();
            files_modified = job.probe.changed_since(&before);
            End::Exited(finished)
        }
    };
    let duration_ms = match &end {
        End::Exited(f) => f.duration.as_millis() as u64,
        End::NotStarted(_) => clock.elapsed().as_millis() as u64,
    };
    let stderr_tail = if err_log_written {
        stderr_tail(&job.err_log, job.tail_bytes)
    } else {
        String::new()
    };
    Done {
        stderr_tail,
        task_id: job.task_id,
        attempt: job.attempt,
        started_at,
        finished_at: now_rfc3339(),
        duration_ms,
        end,
        files_modified,
    }
}

/// Appends the engine's own line to the attempt's stderr log, so `phase logs` shows it.
pub(in crate::executor) fn note_in_log(path: &Path, line: &str) {
    // `logs/<task>/<n>.err`: no planted link on the way is followed (issue 8).
    let appended =
        crate::store::open_below(path, 3, crate::store::Access::Append).and_then(|mut f| {
            writeln!(f, "phase: {line}").map_err(|e| crate::Error::io(path, "write", e))
        });
    if let Err(e) = appended {
        tracing::debug!(path = %path.display(), "cannot write the log: {e}");
    }
}

/// The last `limit` bytes of the log, cut forward to a character boundary.
pub(in crate::executor) fn stderr_tail(path: &Path, limit: usize) -> String {
    let Ok(mut file) = crate::store::open_below(path, 3, crate::store::Access::Read) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len == 0 || limit == 0 {
        return String::new();
    }
    let start = len.saturating_sub(limit as u64);
    let mut bytes = Vec::with_capacity((len - start) as usize);
    if file.seek(SeekFrom::Start(start)).is_err()
        || file.take(limit as u64).read_to_end(&mut bytes).is_err()
    {
        return String::new();
    }
    // Skip UTF-8 continuation bytes left over from a character cut in half.
    let skip = if start > 0 {
        bytes
            .iter()
            .take(3)
            .take_while(|b| (**b & 0xC0) == 0x80)
            .count()
    } else {
        0
    };
    String::from_utf8_lossy(&bytes[skip..]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_cuts_at_a_char_boundary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.err");
        std::fs::write(&path, "abcé€z").expect("write");
        // "é" is 2 bytes, "€" 3: the last 5 bytes start in the middle of "é", the last
        // 3 in the middle of "€".
        assert_eq!(stderr_tail(&path, 5), "€z");
        assert_eq!(stderr_tail(&path, 4), "€z");
        assert_eq!(stderr_tail(&path, 3), "z");
        assert_eq!(stderr_tail(&path, 100), "abcé€z");
        assert_eq!(stderr_tail(&dir.path().join("none"), 10), "");
    }
}
