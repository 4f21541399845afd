//! The engine's side of the attempt runner: start `phase __runner` in its own process
//! group (so neither Ctrl-C to the terminal's group nor the engine's exit-time group kill
//! reaches it), send it messages, and receive its messages on a channel filled by one
//! reader thread. When the runner's stdout closes (it exited or died) the channel carries
//! [`RunnerEvent::Gone`].
//!
//! Dropping the client closes the runner's stdin: the runner then lets running attempts
//! finish, writes their outcome records and exits (what a crash of the engine does too).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use rustix::event::{PollFd, PollFlags, Timespec};

use super::protocol::{EngineMessage, PROTOCOL_VERSION, RunnerMessage, encode_line};
use crate::store::StateDir;
use crate::{Error, Result};

/// How long a new runner may take to say it is ready.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// What arrives from the runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunnerEvent {
    /// A message.
    Message(RunnerMessage),
    /// The runner's stdout closed: it exited or died. Nothing more will come; attempts it
    /// held are now either in `attempts/` or interrupted (docs/ATTEMPTS.md).
    Gone,
}

/// What kind of event arrived, for the callback of [`RunnerClient::spawn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// [`RunnerMessage::Ready`].
    Ready,
    /// [`RunnerMessage::Started`].
    Started,
    /// [`RunnerMessage::Fenced`].
    Fenced,
    /// [`RunnerMessage::Finished`].
    Finished,
    /// [`RunnerEvent::Gone`].
    Gone,
}

impl RunnerEvent {
    /// Its kind.
    pub fn kind(&self) -> EventKind {
        match self {
            RunnerEvent::Message(RunnerMessage::Ready { .. }) => EventKind::Ready,
            RunnerEvent::Message(RunnerMessage::Started { .. }) => EventKind::Started,
            RunnerEvent::Message(RunnerMessage::Fenced { .. }) => EventKind::Fenced,
            RunnerEvent::Message(RunnerMessage::Finished(_)) => EventKind::Finished,
            RunnerEvent::Gone => EventKind::Gone,
        }
    }
}

/// A running attempt runner and the pipes to it.
#[derive(Debug)]
pub struct RunnerClient {
    child: Child,
    stdin: Option<ChildStdin>,
    events: Receiver<RunnerEvent>,
    runner_id: String,
    state_dir: PathBuf,
}

impl RunnerClient {
    /// Starts `program __runner --state-dir DIR` (`program` is normally
    /// `std::env::current_exe()`), waits for its `ready`, and returns the client.
    /// `notify` is called with each event's kind after it is queued (e.g. to wake the
    /// executor's loop for the events it must act on at once).
    pub fn spawn(
        program: &Path,
        state: &StateDir,
        runner_id: Option<&str>,
        notify: impl Fn(EventKind) + Send + 'static,
    ) -> Result<RunnerClient> {
        let fail = |action, e| Error::io(program, action, e);
        let mut cmd = Command::new(program);
        cmd.arg("__runner").arg("--state-dir").arg(state.root());
        if let Some(id) = runner_id {
            cmd.arg("--runner-id").arg(id);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .map_err(|e| fail("start the attempt runner", e))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let e = std::io::Error::other("no pipes to the attempt runner");
            return Err(fail("start the attempt runner", e));
        };
        let (tx, events) = crossbeam_channel::unbounded();
        std::thread::Builder::new()
            .name("runner-reader".into())
            .stack_size(256 * 1024)
            .spawn(move || read_messages(stdout, &tx, &notify))
            .map_err(|e| fail("start the attempt runner's reader thread", e))?;
        let mut client = RunnerClient {
            child,
            stdin: Some(stdin),
            events,
            runner_id: String::new(),
            state_dir: state.root().to_path_buf(),
        };
        client.runner_id = client.await_ready(program)?;
        Ok(client)
    }

    fn await_ready(&mut self, program: &Path) -> Result<String> {
        let refused = match self.events.recv_timeout(READY_WITHIN) {
            Ok(RunnerEvent::Message(RunnerMessage::Ready {
                runner, protocol, ..
            })) if protocol == PROTOCOL_VERSION => return Ok(runner),
            Ok(RunnerEvent::Message(m)) => format!("said {m:?} instead of ready"),
            Ok(RunnerEvent::Gone) | Err(RecvTimeoutError::Disconnected) => {
                "exited before it was ready".into()
            }
            Err(RecvTimeoutError::Timeout) => format!("was not ready within {READY_WITHIN:?}"),
        };
        let _ = self.child.kill();
        let _ = self.child.wait();
        Err(Error::invalid(
            program,
            format!("the attempt runner {refused}"),
        ))
    }

    /// Sends one message (one `write`). An error means the runner is gone.
    pub fn send(&mut self, message: &EngineMessage) -> Result<()> {
        let Some(stdin) = self.stdin.as_mut() else {
            let e = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
            return Err(Error::io(&self.state_dir, "talk to the attempt runner", e));
        };
        stdin
            .write_all(&encode_line(message))
            .map_err(|e| Error::io(&self.state_dir, "talk to the attempt runner", e))
    }

    /// Sends several messages in one `write` (the acks after a results write: one system
    /// call for all of them). An error means the runner is gone.
    pub fn send_all(&mut self, messages: &[EngineMessage]) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let Some(stdin) = self.stdin.as_mut() else {
            let e = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
            return Err(Error::io(&self.state_dir, "talk to the attempt runner", e));
        };
        let lines: Vec<u8> = messages.iter().flat_map(encode_line).collect();
        stdin
            .write_all(&lines)
            .map_err(|e| Error::io(&self.state_dir, "talk to the attempt runner", e))
    }

    /// The runner's messages, in order, then [`RunnerEvent::Gone`].
    pub fn events(&self) -> &Receiver<RunnerEvent> {
        &self.events
    }

    /// The runner's id (in fences and outcome records).
    pub fn runner_id(&self) -> &str {
        &self.runner_id
    }

    /// The runner's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The runner's exit status, if it has exited (reaps it).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Closes the runner's stdin without waiting: it finishes what runs, writes outcome
    /// records for what the engine did not ack, and exits.
    pub fn detach(&mut self) {
        self.stdin = None;
    }

    /// Waits for the runner to exit, at most `limit`; its status if it did (reaped).
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        if let Some(status) = self.try_wait() {
            return Some(status);
        }
        // A pidfd turns readable at the exit: no polling loop, no thread.
        let pidfd = rustix::process::Pid::from_raw(self.child.id() as i32).and_then(|pid| {
            rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
        });
        if let Some(fd) = pidfd {
            let mut fds = [PollFd::new(&fd, PollFlags::IN)];
            let ts = Timespec {
                tv_sec: limit.as_secs() as i64,
                tv_nsec: limit.subsec_nanos() as i64,
            };
            let _ = rustix::event::poll(&mut fds, Some(&ts));
        }
        self.try_wait()
    }
}

/// The reader thread: one message per line until end of file, then `Gone`.
fn read_messages(stdout: ChildStdout, tx: &Sender<RunnerEvent>, notify: &dyn Fn(EventKind)) {
    let mut lines = BufReader::with_capacity(64 * 1024, stdout);
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        match serde_json::from_str::<RunnerMessage>(&line) {
            Ok(message) => {
                let event = RunnerEvent::Message(message);
                let kind = event.kind();
                if tx.send(event).is_err() {
                    return;
                }
                notify(kind);
            }
            Err(e) => tracing::warn!("ignoring a message from the attempt runner: {e}: {line}"),
        }
    }
    let _ = tx.send(RunnerEvent::Gone);
    notify(EventKind::Gone);
}
