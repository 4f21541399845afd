//! One attempt under the runner, as an explicit state machine:
//! `Running` → (`Stopping`: SIGTERM sent, SIGKILL at the end of the grace) → `Draining`
//! (the process exited; the rest of its output is read, for a bounded time) → `Ended`.
//! The runner's loop feeds it readiness and timers; it never blocks.
//!
//! The group is signalled only while its leader is unreaped (alive or a zombie), so its
//! pid — the group id — cannot have been reused: no signal reaches a stranger.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStderr, ChildStdout, ExitStatus};
use std::time::{Duration, Instant};

use rustix::process::{Pid, PidfdFlags, Signal};

use super::logs::{Log, Tail};
use super::poller::{Poller, Source, Stream};
use super::protocol::{AttemptFinished, RunRequest};
use super::spawner::Spawner;
use crate::model::now_rfc3339;
use crate::process::kill_group;
use crate::store::{Fence, FencedClaim};

mod command;

use command::start_command;

/// After the process exited, how long to wait for the rest of its output (a process that
/// left the group may hold the pipe open forever).
pub(super) const DRAIN_LIMIT: Duration = Duration::from_millis(200);

/// Where an attempt stands.
#[derive(Debug)]
pub(super) enum Stage {
    /// The command runs.
    Running,
    /// SIGTERM was sent; SIGKILL follows when the grace ends (a timer).
    Stopping,
    /// The command exited; the rest of its output is read, for [`DRAIN_LIMIT`] at most.
    Draining,
    /// Over; the claim is held until the engine acks (or the outcome record is written).
    Ended(Box<AttemptFinished>),
}

/// Why the runner ended an attempt itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StopCause {
    /// Its timeout expired.
    Timeout,
    /// The engine sent `cancel`.
    Cancel,
    /// The runner was told to stop.
    Shutdown,
}

/// One attempt: its claim, its process and its output.
#[derive(Debug)]
pub(super) struct Attempt {
    pub(super) id: u64,
    pub(super) task: String,
    pub(super) attempt: u32,
    pub(super) stage: Stage,
    claim: FencedClaim,
    started_at: String,
    clock: Instant,
    child: Option<Child>,
    pidfd: Option<OwnedFd>,
    out: Option<ChildStdout>,
    err: Option<ChildStderr>,
    out_log: Log,
    err_log: Log,
    tail: Tail,
    kill_grace: Duration,
    cause: Option<StopCause>,
    status: Option<ExitStatus>,
    duration: Duration,
    /// Whether the end was handed out by [`take_report`](Self::take_report).
    reported: bool,
}

impl Attempt {
    /// Spawns `req`'s command (its claim held, `fence` written) in its own process group,
    /// stdin from /dev/null, adds its pid to the fence and watches its pipes and pidfd in
    /// `poller`. A command that cannot start gives an attempt that is `Ended` at once, the
    /// reason in its stderr log, as the executor always did.
    pub(super) fn spawn(
        id: u64,
        req: &RunRequest,
        claim: FencedClaim,
        mut fence: Fence,
        (poller, spawner): (&Poller, Option<&mut Spawner>),
    ) -> Attempt {
        let mut a = Attempt {
            id,
            task: req.task.clone(),
            attempt: req.attempt,
            stage: Stage::Running,
            claim,
            started_at: fence.started_at.clone(),
            clock: Instant::now(),
            child: None,
            pidfd: None,
            out: None,
            err: None,
            out_log: Log::new(req.out_log.clone()),
            err_log: Log::new(req.err_log.clone()),
            tail: Tail::new(req.tail_bytes),
            kill_grace: Duration::from_millis(req.kill_grace_ms),
            cause: None,
            status: None,
            duration: Duration::ZERO,
            reported: false,
        };
        match start_command(req, spawner) {
            Ok(child) => {
                (fence.pid, fence.pgid) = (Some(child.id()), Some(child.id()));
                if let Err(e) = a.claim.set_fence(&fence) {
                    // The fence already names the attempt; only its pid is missing.
                    tracing::warn!(task = %a.task, "{e}");
                }
                a.watch(child, poller);
            }
            Err(reason) => {
                a.err_log.note(&reason);
                a.tail.push(format!("phase: {reason}\n").as_bytes());
                a.end(Some(reason));
            }
        }
        a
    }

    fn watch(&mut self, mut child: Child, poller: &Poller) {
        let (out, err) = (child.stdout.take(), child.stderr.take());
        let watched = |fd: &dyn AsFd, stream| {
            rustix::io::ioctl_fionbio(fd, true)?;
            poller.add(fd, Source::Attempt(self.id, stream))
        };
        // A pipe that cannot be watched is dropped: the command then gets SIGPIPE or EPIPE
        // rather than a runner that never reads it.
        self.out = out.filter(|p| watched(p, Stream::Out).is_ok());
        self.err = err.filter(|p| watched(p, Stream::Err).is_ok());
        self.pidfd = Pid::from_raw(child.id() as i32)
            .and_then(|pid| rustix::process::pidfd_open(pid, PidfdFlags::empty()).ok())
            .filter(|fd| {
                poller
                    .add(fd, Source::Attempt(self.id, Stream::Exit))
                    .is_ok()
            });
        self.child = Some(child);
    }

    /// The command's pid (its group id); none if it never started.
    pub(super) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// When the command started.
    pub(super) fn started_at(&self) -> &str {
        &self.started_at
    }

    /// The claim file (for messages).
    pub(super) fn claim(&self) -> &FencedClaim {
        &self.claim
    }

    /// Whether its exit is noticed only by looking (no pidfd).
    pub(super) fn needs_reaping(&self) -> bool {
        self.pidfd.is_none() && self.status.is_none() && self.child.is_some()
    }

    /// Copies what `stream` has into its log; at end of file, stops watching it.
    pub(super) fn on_output(&mut self, stream: Stream, poller: &Poller, buf: &mut [u8]) {
        use std::io::Read;
        let result = match stream {
            Stream::Out => self.out.as_mut().map(|p| p.read(buf)),
            Stream::Err => self.err.as_mut().map(|p| p.read(buf)),
            Stream::Exit => None,
        };
        match result {
            Some(Ok(0)) | Some(Err(_)) if !would_block(&result) => self.close(stream, poller),
            Some(Ok(n)) => {
                let bytes = &buf[..n];
                if stream == Stream::Err {
                    self.err_log.write(bytes);
                    self.tail.push(bytes);
                } else {
                    self.out_log.write(bytes);
                }
            }
            _ => {}
        }
    }

    /// The command may have exited: reap it (after killing what is left of its group,
    /// while the pid is still reserved) and start draining. Returns when the draining
    /// ends, or `None` if it is still running.
    pub(super) fn on_exit(&mut self, poller: &Poller) -> Option<Instant> {
        let child = self.child.as_mut()?;
        if self.status.is_some() {
            return None;
        }
        // A zombie still holds its pid: signalling the group now cannot reach a stranger.
        let exited = rustix::process::waitid(
            rustix::process::WaitId::Pid(Pid::from_raw(child.id() as i32)?),
            rustix::process::WaitIdOptions::EXITED
                | rustix::process::WaitIdOptions::NOWAIT
                | rustix::process::WaitIdOptions::NOHANG,
        );
        if !matches!(exited, Ok(Some(_))) {
            return None;
        }
        kill_group(child.id() as i32, Signal::KILL);
        let status = child.try_wait().ok().flatten()?;
        self.status = Some(status);
        self.duration = self.clock.elapsed();
        if let Some(fd) = self.pidfd.take() {
            poller.remove(&fd);
        }
        let until = Instant::now() + DRAIN_LIMIT;
        self.stage = Stage::Draining;
        self.end_if_drained();
        Some(until)
    }

    /// Ends the command for `cause`: SIGTERM to its group now, SIGKILL when the returned
    /// grace is over. `None` when it is not running.
    pub(super) fn stop(&mut self, cause: StopCause) -> Option<Instant> {
        if !matches!(self.stage, Stage::Running) {
            return None;
        }
        let pid = self.pid()?;
        self.cause = Some(cause);
        kill_group(pid as i32, Signal::TERM);
        let kill_at = Instant::now() + self.kill_grace;
        self.stage = Stage::Stopping;
        Some(kill_at)
    }

    /// The grace is over: SIGKILL the group (it is still unreaped: `Stopping`).
    pub(super) fn kill(&mut self) {
        if let (Stage::Stopping, Some(pid)) = (&self.stage, self.pid()) {
            kill_group(pid as i32, Signal::KILL);
        }
    }

    /// Stops waiting for output (a process outside the group holds the pipe).
    pub(super) fn drain_expired(&mut self, poller: &Poller) {
        if matches!(self.stage, Stage::Draining) {
            self.close(Stream::Out, poller);
            self.close(Stream::Err, poller);
        }
    }

    /// The report, once `Ended`.
    pub(super) fn finished(&self) -> Option<&AttemptFinished> {
        match &self.stage {
            Stage::Ended(f) => Some(f),
            _ => None,
        }
    }

    /// The report, the first time it is asked for once `Ended`.
    pub(super) fn take_report(&mut self) -> Option<AttemptFinished> {
        if self.reported {
            return None;
        }
        let report = self.finished().cloned()?;
        self.reported = true;
        Some(report)
    }

    fn close(&mut self, stream: Stream, poller: &Poller) {
        match stream {
            Stream::Out => {
                if let Some(p) = self.out.take() {
                    poller.remove(&p);
                }
            }
            Stream::Err => {
                if let Some(p) = self.err.take() {
                    poller.remove(&p);
                }
            }
            Stream::Exit => {}
        }
        self.end_if_drained();
    }

    fn end_if_drained(&mut self) {
        let drained = self.out.is_none() && self.err.is_none();
        if drained && matches!(self.stage, Stage::Draining) {
            self.end(None);
        }
    }

    fn end(&mut self, not_started: Option<String>) {
        let status = self.status;
        let log_error = [self.out_log.error("stdout"), self.err_log.error("stderr")]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>();
        let finished = AttemptFinished {
            task: self.task.clone(),
            attempt: self.attempt,
            pid: self.pid(),
            started_at: self.started_at.clone(),
            finished_at: now_rfc3339(),
            duration_ms: self.duration.as_millis() as u64,
            exit_code: status.and_then(|s| s.code()),
            signal: status.and_then(|s| s.signal()),
            timed_out: self.cause == Some(StopCause::Timeout),
            canceled: self.cause == Some(StopCause::Cancel),
            interrupted: self.cause == Some(StopCause::Shutdown),
            not_started_reason: not_started,
            stderr_tail: self.tail.text(),
            out_bytes: self.out_log.received(),
            err_bytes: self.err_log.received(),
            log_error: (!log_error.is_empty()).then(|| log_error.join("; ")),
        };
        self.stage = Stage::Ended(Box::new(finished));
    }
}

fn would_block(result: &Option<std::io::Result<usize>>) -> bool {
    matches!(result, Some(Err(e)) if matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
    ))
}

#[cfg(test)]
mod tests;
