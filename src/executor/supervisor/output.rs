//! An attempt's stdout and stderr, copied by its worker from pipes into
//! `logs/<task>/<attempt>.{out,err}`. A log file, and the task's log directory, is created
//! only when its stream first carries data: most trivial tasks print nothing, and three
//! new inodes per attempt were the largest cost of running them (ext4 without a journal
//! scans recently freed inodes on every create). The copy loop also watches the process
//! (pidfd), the stop request and the deadline, so a silent hang is still ended.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::process::{ChildStderr, ChildStdout};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};

use crate::process::{Running, StopHandle};

/// How often the loop looks at the stop request when nothing else happens.
const TICK: Duration = Duration::from_millis(50);

/// After the process ended, how long to wait for the rest of its output (a process that
/// escaped the group may hold the pipe open forever).
const DRAIN_LIMIT: Duration = Duration::from_millis(200);

/// One log file, created on first use.
#[derive(Debug)]
pub(in crate::executor) struct Log {
    path: PathBuf,
    file: Option<File>,
    /// Writing failed once: the rest of the stream is dropped (and said so once).
    failed: bool,
}

impl Log {
    /// A log at `path`, not created yet.
    pub(in crate::executor) fn new(path: PathBuf) -> Log {
        Log {
            path,
            file: None,
            failed: false,
        }
    }

    /// Appends `bytes`, creating the file (and its directory) the first time.
    pub(in crate::executor) fn write(&mut self, bytes: &[u8]) {
        if self.failed || bytes.is_empty() {
            return;
        }
        if self.file.is_none() {
            // `logs/<task>/<n>.out`: no planted link on the way is followed (issue 8).
            let created = crate::store::open_below(&self.path, 3, crate::store::Access::Truncate);
            match created {
                Ok(f) => self.file = Some(f),
                Err(e) => return self.fail(&std::io::Error::other(e.to_string())),
            }
        }
        if let Some(f) = &mut self.file
            && let Err(e) = f.write_all(bytes)
        {
            self.fail(&e);
        }
    }

    fn fail(&mut self, e: &std::io::Error) {
        self.failed = true;
        tracing::warn!(log = %self.path.display(), "cannot write the log, output is dropped: {e}");
    }
}

/// The pipes of one running attempt and where they go.
pub(in crate::executor) struct Pump {
    out: Option<ChildStdout>,
    err: Option<ChildStderr>,
    out_log: Log,
    err_log: Log,
    buf: Vec<u8>,
}

impl Pump {
    /// Takes the pipes of `running`.
    pub(in crate::executor) fn new(running: &mut Running, out_log: Log, err_log: Log) -> Pump {
        let (out, err) = running.take_pipes();
        Pump {
            out,
            err,
            out_log,
            err_log,
            buf: vec![0; 64 * 1024],
        }
    }

    /// Copies output until the process exits (or closes both streams), `stop` is
    /// triggered, or `deadline` passes. The caller then waits for the process (which
    /// ends it on stop or deadline) and calls [`drain`](Self::drain).
    pub(in crate::executor) fn run(
        &mut self,
        pid: i32,
        stop: &StopHandle,
        deadline: Option<Instant>,
    ) {
        let pidfd: Option<OwnedFd> = rustix::process::Pid::from_raw(pid).and_then(|pid| {
            rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
        });
        while (self.out.is_some() || self.err.is_some()) && !stop.is_stopped() {
            let now = Instant::now();
            let wait = match deadline {
                Some(d) if now >= d => return,
                Some(d) => (d - now).min(TICK),
                None => TICK,
            };
            if self.poll_once(pidfd.as_ref(), wait) {
                return;
            }
        }
    }

    /// Whether anything was written to the stderr log (otherwise it does not exist).
    pub(in crate::executor) fn wrote_stderr(&self) -> bool {
        self.err_log.file.is_some()
    }

    /// Copies what is left once the process has ended, for a bounded time.
    pub(in crate::executor) fn drain(&mut self) {
        let limit = Instant::now() + DRAIN_LIMIT;
        while self.out.is_some() || self.err.is_some() {
            let now = Instant::now();
            if now >= limit {
                return;
            }
            self.poll_once(None, limit - now);
        }
    }

    /// One poll over the open pipes (and the process); copies what is readable.
    /// Returns whether the process has exited.
    fn poll_once(&mut self, pidfd: Option<&OwnedFd>, wait: Duration) -> bool {
        let (out_ready, err_ready, exited) = {
            let mut fds = Vec::with_capacity(3);
            let mut slots = [usize::MAX; 3];
            if let Some(p) = &self.out {
                slots[0] = fds.len();
                fds.push(PollFd::new(p, PollFlags::IN));
            }
            if let Some(p) = &self.err {
                slots[1] = fds.len();
                fds.push(PollFd::new(p, PollFlags::IN));
            }
            if let Some(p) = pidfd {
                slots[2] = fds.len();
                fds.push(PollFd::new(p, PollFlags::IN));
            }
            let ts = Timespec {
                tv_sec: wait.as_secs() as i64,
                tv_nsec: wait.subsec_nanos() as i64,
            };
            if rustix::event::poll(&mut fds, Some(&ts)).is_err() {
                return false;
            }
            let ready = |slot: usize| fds.get(slot).is_some_and(|f| !f.revents().is_empty());
            (ready(slots[0]), ready(slots[1]), ready(slots[2]))
        };
        if out_ready {
            copy(&mut self.out, &mut self.out_log, &mut self.buf);
        }
        if err_ready {
            copy(&mut self.err, &mut self.err_log, &mut self.buf);
        }
        exited
    }
}

/// Reads one chunk from a readable pipe into its log; closes the pipe at end of file.
fn copy<P: Read + AsFd>(pipe: &mut Option<P>, log: &mut Log, buf: &mut [u8]) {
    let Some(p) = pipe else {
        return;
    };
    match p.read(buf) {
        Ok(0) => *pipe = None,
        Ok(n) => log.write(&buf[..n]),
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
        Err(_) => *pipe = None,
    }
}
