//! Running one external process the way every phase needs it: argv (never a shell), its
//! own process group, stdin from /dev/null, output to files or captured, a timeout that
//! sends SIGTERM to the whole group, waits a grace period, then SIGKILLs it.
//!
//! When the main process exits, whatever it left running in its group is killed too, so a
//! task never leaves a process behind. (A process that moves to its own session escapes
//! this, as with any process-group based supervisor.)

use std::fs::File;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

/// Where an output stream goes.
#[derive(Debug, Clone, Default)]
pub enum Sink {
    /// Discarded.
    #[default]
    Null,
    /// Written to this file (created or truncated).
    File(PathBuf),
    /// Kept in memory and returned in [`Finished`].
    Capture,
}

/// What to run and how.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    /// Program and arguments; `argv[0]` is looked up on PATH.
    pub argv: Vec<String>,
    /// Working directory.
    pub cwd: PathBuf,
    /// Extra environment, on top of the engine's.
    pub env: Vec<(String, String)>,
    /// stdout.
    pub stdout: Sink,
    /// stderr.
    pub stderr: Sink,
    /// Wall-clock limit; `None` waits forever.
    pub timeout: Option<Duration>,
    /// Between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
}

/// How a process ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Finished {
    /// Exit code, when it exited.
    pub exit_code: Option<i32>,
    /// Signal that ended it, when one did.
    pub signal: Option<i32>,
    /// Whether it was killed for exceeding its timeout.
    pub timed_out: bool,
    /// Wall time from spawn to exit.
    pub duration: Duration,
    /// Captured stdout ([`Sink::Capture`] only).
    pub stdout: Vec<u8>,
    /// Captured stderr ([`Sink::Capture`] only).
    pub stderr: Vec<u8>,
}

impl Finished {
    /// Exit code 0.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }

    /// "exit code 2", "killed by signal 9", "timed out after 5s".
    pub fn describe(&self, timeout: Option<Duration>) -> String {
        if self.timed_out {
            let t = timeout.map(|t| format!(" after {t:?}")).unwrap_or_default();
            return format!("timed out{t}");
        }
        match (self.exit_code, self.signal) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(sig)) => format!("killed by signal {sig}"),
            (None, None) => "ended for an unknown reason".to_string(),
        }
    }
}

/// A spawned process, leader of its own process group.
#[derive(Debug)]
pub struct Running {
    child: Child,
    started: Instant,
    timeout: Option<Duration>,
    kill_grace: Duration,
    readers: Vec<(bool, JoinHandle<Vec<u8>>)>,
}

/// Starts `spec`. An error means the program could not be started (missing, not
/// executable, bad cwd); the message names the program.
pub fn spawn(spec: &Spec) -> std::io::Result<Running> {
    let Some((program, args)) = spec.argv.split_first() else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "empty argv",
        ));
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(&spec.cwd)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(stdio_for(&spec.stdout)?)
        .stderr(stdio_for(&spec.stderr)?)
        .process_group(0);
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot start {program:?}: {e}")))?;
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push((true, read_all(out)));
    }
    if let Some(err) = child.stderr.take() {
        readers.push((false, read_all(err)));
    }
    Ok(Running {
        child,
        started,
        timeout: spec.timeout,
        kill_grace: spec.kill_grace,
        readers,
    })
}

/// Spawns and waits.
pub fn run(spec: &Spec) -> std::io::Result<Finished> {
    Ok(spawn(spec)?.wait())
}

impl Running {
    /// The process id, which is also its process group id.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits for the process, enforcing the timeout; then kills what is left of its group.
    pub fn wait(mut self) -> Finished {
        let mut timed_out = false;
        let status = match self.timeout {
            None => self.child.wait().ok(),
            Some(limit) => match self.wait_until(self.started + limit) {
                Some(status) => Some(status),
                None => {
                    timed_out = true;
                    kill_group(self.pid(), Signal::TERM);
                    match self.wait_until(Instant::now() + self.kill_grace) {
                        Some(status) => Some(status),
                        None => {
                            kill_group(self.pid(), Signal::KILL);
                            self.child.wait().ok()
                        }
                    }
                }
            },
        };
        let duration = self.started.elapsed();
        // Stragglers (a grandchild sleeper) must not outlive the task.
        kill_group(self.pid(), Signal::KILL);
        let mut finished = Finished {
            exit_code: status.and_then(|s| s.code()),
            signal: status.and_then(|s| s.signal()),
            timed_out,
            duration,
            ..Finished::default()
        };
        for (is_stdout, reader) in self.readers.drain(..) {
            let bytes = reader.join().unwrap_or_default();
            if is_stdout {
                finished.stdout = bytes;
            } else {
                finished.stderr = bytes;
            }
        }
        finished
    }

    /// Waits until `deadline`; `None` if the process is still running then.
    fn wait_until(&mut self, deadline: Instant) -> Option<ExitStatus> {
        // pidfd + poll: no extra thread and no busy loop. Falls back to polling try_wait.
        let pidfd = Pid::from_raw(self.pid()).and_then(|pid| {
            rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
        });
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            let left = deadline - now;
            match &pidfd {
                Some(fd) => {
                    let mut fds = [rustix::event::PollFd::new(fd, rustix::event::PollFlags::IN)];
                    let ts = rustix::event::Timespec {
                        tv_sec: left.as_secs() as i64,
                        tv_nsec: left.subsec_nanos() as i64,
                    };
                    let _ = rustix::event::poll(&mut fds, Some(&ts));
                }
                None => std::thread::sleep(left.min(Duration::from_millis(5))),
            }
        }
    }
}

/// Sends `signal` to every process in group `pgid`; a group that is gone is not an error.
pub fn kill_group(pgid: i32, signal: Signal) {
    if let Some(pid) = Pid::from_raw(pgid) {
        let _ = rustix::process::kill_process_group(pid, signal);
    }
}

fn stdio_for(sink: &Sink) -> std::io::Result<Stdio> {
    Ok(match sink {
        Sink::Null => Stdio::null(),
        Sink::Capture => Stdio::piped(),
        Sink::File(path) => Stdio::from(File::create(path).map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display()))
        })?),
    })
}

fn read_all(mut r: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}
