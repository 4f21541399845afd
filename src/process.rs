//! Running one external process the way every phase needs it: argv (never a shell), its
//! own process group, stdin from /dev/null, output to files or captured, a timeout that
//! sends SIGTERM to the whole group, waits a grace period, then SIGKILLs it.
//!
//! When the main process exits, whatever it left running in its group is killed too, so a
//! task never leaves a process behind. (A process that moves to its own session escapes
//! this, as with any process-group based supervisor.)

use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::process::{Pid, Signal};

/// Where an output stream goes.
#[derive(Debug, Clone, Default)]
pub enum Sink {
    /// Discarded.
    #[default]
    Null,
    /// Written to this log in the state directory, `logs/<task>/<file>` (created or
    /// truncated; no symbolic link on the way is followed).
    File(PathBuf),
    /// Kept in memory and returned in [`Finished`].
    Capture,
    /// A pipe the caller reads itself, taken with [`Running::take_pipes`] (no reader
    /// thread is started for it).
    Pipe,
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
    if matches!(spec.stdout, Sink::Capture)
        && let Some(out) = child.stdout.take()
    {
        readers.push((true, read_all(out)));
    }
    if matches!(spec.stderr, Sink::Capture)
        && let Some(err) = child.stderr.take()
    {
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

    /// The read ends of the [`Sink::Pipe`] streams (each `None` for another sink, or once
    /// taken). The caller must keep reading them until the process ends, or it blocks.
    pub fn take_pipes(&mut self) -> (Option<ChildStdout>, Option<ChildStderr>) {
        (self.child.stdout.take(), self.child.stderr.take())
    }

    /// Waits for the process, enforcing the timeout; then kills what is left of its group.
    pub fn wait(self) -> Finished {
        self.wait_inner(None)
    }

    /// Like [`wait`](Self::wait), but also ends the group (SIGTERM, grace, SIGKILL) as soon
    /// as `stop` is triggered from another thread. The waiting thread does the killing,
    /// while it still owns the unreaped child, so the signal cannot reach a recycled pid.
    /// `timed_out` stays false for a stopped process: the caller knows it asked.
    pub fn wait_stoppable(self, stop: &StopHandle) -> Finished {
        self.wait_inner(Some(stop))
    }

    fn wait_inner(mut self, stop: Option<&StopHandle>) -> Finished {
        let deadline = self.timeout.map(|limit| self.started + limit);
        let mut timed_out = false;
        let status = match (deadline, stop) {
            (None, None) => self.child.wait().ok(),
            _ => match self.wait_until(deadline, stop) {
                Waited::Exited(status) => Some(status),
                ended => {
                    timed_out = ended == Waited::Deadline;
                    kill_group(self.pid(), Signal::TERM);
                    let grace_end = Instant::now() + self.kill_grace;
                    match self.wait_until(Some(grace_end), None) {
                        Waited::Exited(status) => Some(status),
                        _ => {
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

    /// Waits until the process exits, `deadline` passes (`None`: no deadline) or `stop`
    /// is triggered, whichever comes first.
    fn wait_until(&mut self, deadline: Option<Instant>, stop: Option<&StopHandle>) -> Waited {
        // pidfd + poll: no extra thread and no busy loop. Falls back to polling try_wait.
        let pidfd = Pid::from_raw(self.pid()).and_then(|pid| {
            rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
        });
        let stop_fd = stop.and_then(|s| s.inner.fd.as_ref());
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Waited::Exited(status);
            }
            if stop.is_some_and(StopHandle::is_stopped) {
                return Waited::Stopped;
            }
            let now = Instant::now();
            let left = match deadline {
                Some(d) if now >= d => return Waited::Deadline,
                Some(d) => Some(d - now),
                None => None,
            };
            match &pidfd {
                Some(fd) => {
                    let mut fds = vec![PollFd::new(fd, PollFlags::IN)];
                    if let Some(sfd) = stop_fd {
                        fds.push(PollFd::new(sfd, PollFlags::IN));
                    }
                    // Without a stop fd, a stop is noticed by polling the flag.
                    let left = match (left, stop.is_some() && stop_fd.is_none()) {
                        (Some(l), true) => Some(l.min(Duration::from_millis(5))),
                        (None, true) => Some(Duration::from_millis(5)),
                        (l, false) => l,
                    };
                    let ts = left.map(|l| rustix::event::Timespec {
                        tv_sec: l.as_secs() as i64,
                        tv_nsec: l.subsec_nanos() as i64,
                    });
                    let _ = rustix::event::poll(&mut fds, ts.as_ref());
                }
                None => {
                    std::thread::sleep(left.unwrap_or(Duration::MAX).min(Duration::from_millis(5)))
                }
            }
        }
    }
}

/// How [`Running::wait_until`] ended.
#[derive(Debug, PartialEq, Eq)]
enum Waited {
    Exited(ExitStatus),
    Deadline,
    Stopped,
}

/// Asks a process waited on with [`Running::wait_stoppable`] to stop, from any thread.
/// Cheap to clone; triggering it is sticky.
#[derive(Debug, Clone)]
pub struct StopHandle {
    inner: Arc<StopInner>,
}

#[derive(Debug)]
struct StopInner {
    stopped: AtomicBool,
    /// An eventfd that becomes readable on stop, so a waiter in `poll` wakes at once;
    /// `None` if the kernel refused one (the waiter then polls the flag).
    fd: Option<OwnedFd>,
}

impl Default for StopHandle {
    fn default() -> Self {
        Self::new()
    }
}

impl StopHandle {
    /// A handle that has not been triggered.
    pub fn new() -> StopHandle {
        let fd = rustix::event::eventfd(
            0,
            rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
        )
        .ok();
        StopHandle {
            inner: Arc::new(StopInner {
                stopped: AtomicBool::new(false),
                fd,
            }),
        }
    }

    /// Triggers the stop (idempotent).
    pub fn stop(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        if let Some(fd) = &self.inner.fd {
            let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
        }
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::SeqCst)
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
        Sink::Capture | Sink::Pipe => Stdio::piped(),
        Sink::File(path) => Stdio::from(
            crate::store::open_below(path, 3, crate::store::Access::Truncate)
                .map_err(|e| std::io::Error::other(e.to_string()))?,
        ),
    })
}

fn read_all(mut r: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}
