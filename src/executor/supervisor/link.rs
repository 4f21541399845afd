//! The executor's attempt runner (`phase __runner`, docs/ATTEMPTS.md): started with the
//! phase, started again if it dies, told to shut down with the phase — and, if the phase
//! is dropped without a shutdown (a test, a panic), told to end every attempt, which it
//! then records itself. Its reports wake the phase (all but `started`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::Result;
use crate::phase::{Wake, Waker};
use crate::runner::{EngineMessage, EventKind, RunnerClient, RunnerEvent};
use crate::store::StateDir;

/// After a runner could not be started, the next try waits this long.
const RESPAWN_PAUSE: Duration = Duration::from_secs(1);

/// The program to run as the runner: this very binary. `/proc/self/exe` still works after
/// a rebuild replaced the file the process was started from.
pub(in crate::executor) fn default_program() -> PathBuf {
    let proc_exe = Path::new("/proc/self/exe");
    if proc_exe.exists() {
        return proc_exe.to_path_buf();
    }
    std::env::current_exe().unwrap_or_else(|_| PathBuf::from("phase"))
}

/// The runner process and how to start another.
#[derive(Debug)]
pub(in crate::executor) struct RunnerLink {
    program: PathBuf,
    state: StateDir,
    /// Written into fences and outcome records: the executor's own id (`host:pid`), so a
    /// restarted engine can tell whether an attempt's engine is still alive.
    runner_id: String,
    waker: Waker,
    client: Option<RunnerClient>,
    /// When to try starting a runner again.
    retry_at: Option<Instant>,
    /// A shutdown was sent: the runner's end is expected.
    closing: bool,
}

impl RunnerLink {
    /// Starts the runner; an error if it cannot start (the phase cannot run attempts).
    pub(in crate::executor) fn start(
        program: PathBuf,
        state: &StateDir,
        runner_id: &str,
        waker: Waker,
    ) -> Result<RunnerLink> {
        let mut link = RunnerLink {
            program,
            state: state.clone(),
            runner_id: runner_id.to_string(),
            waker,
            client: None,
            retry_at: None,
            closing: false,
        };
        link.client = Some(link.spawn()?);
        Ok(link)
    }

    fn spawn(&self) -> Result<RunnerClient> {
        let waker = self.waker.clone();
        RunnerClient::spawn(
            &self.program,
            &self.state,
            Some(&self.runner_id),
            // `started` waits for the next pass: the executor looks for it at the latest a
            // flush interval after the `run` (`Supervisor::started_check_at`), and a pass
            // for it alone would be a second pass per trivial task.
            move |kind| {
                if kind != EventKind::Started {
                    let _ = waker.send(Wake::Worker);
                }
            },
        )
    }

    /// Whether a runner is there to take attempts.
    pub(in crate::executor) fn is_up(&self) -> bool {
        self.client.is_some() && !self.closing
    }

    /// Sends `messages` in one write; `false` if there is no runner or it is gone (its
    /// `Gone` report follows).
    pub(in crate::executor) fn send(&mut self, messages: &[EngineMessage]) -> bool {
        let Some(client) = self.client.as_mut() else {
            return false;
        };
        match client.send_all(messages) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(phase = crate::executor::PHASE, "{e}");
                false
            }
        }
    }

    /// The next report, if one is waiting.
    pub(in crate::executor) fn try_next(&self) -> Option<RunnerEvent> {
        self.client.as_ref()?.events().try_recv().ok()
    }

    /// The next report, waiting for one until `deadline`.
    pub(in crate::executor) fn next_until(&self, deadline: Instant) -> Option<RunnerEvent> {
        self.client.as_ref()?.events().recv_deadline(deadline).ok()
    }

    /// The runner is gone: forget it (reaped if it exited) and start another soon,
    /// unless it was told to shut down.
    pub(in crate::executor) fn lost(&mut self) {
        if let Some(mut client) = self.client.take() {
            let status = client.wait_exit(Duration::from_millis(100));
            if !self.closing {
                tracing::error!(
                    phase = crate::executor::PHASE,
                    "the attempt runner (pid {}) is gone ({status:?}); starting another",
                    client.pid()
                );
            }
        }
        if !self.closing {
            self.retry_at = Some(Instant::now());
        }
    }

    /// Starts a new runner if one is missing and a try is due; whether one is up.
    pub(in crate::executor) fn ensure(&mut self, now: Instant) -> bool {
        if self.client.is_some() || self.closing {
            return self.is_up();
        }
        if self.retry_at.is_some_and(|at| now < at) {
            return false;
        }
        match self.spawn() {
            Ok(client) => {
                self.client = Some(client);
                self.retry_at = None;
                true
            }
            Err(e) => {
                tracing::error!(phase = crate::executor::PHASE, "{e}");
                self.retry_at = Some(now + RESPAWN_PAUSE);
                false
            }
        }
    }

    /// When to try starting a runner again, if one is missing.
    pub(in crate::executor) fn retry_at(&self) -> Option<Instant> {
        self.client.is_none().then_some(self.retry_at).flatten()
    }

    /// Tells the runner to start nothing more and to end what still runs after `grace`.
    pub(in crate::executor) fn shut_down(&mut self, grace: Duration) {
        let grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX);
        self.send(&[EngineMessage::Shutdown { grace_ms }]);
        self.closing = true;
    }

    /// Waits for the runner to exit (it does once every attempt is acked), at most
    /// `limit`; then lets it go.
    pub(in crate::executor) fn wait_exit(&mut self, limit: Duration) {
        if let Some(mut client) = self.client.take() {
            client.detach();
            if client.wait_exit(limit).is_none() {
                tracing::warn!(
                    phase = crate::executor::PHASE,
                    "the attempt runner (pid {}) has not exited; it records what it still holds",
                    client.pid()
                );
            }
        }
    }
}

impl Drop for RunnerLink {
    fn drop(&mut self) {
        // Dropped without a shutdown (a test, a panic): no attempt may outlive the phase
        // unrecorded. The runner ends each one and writes its outcome record.
        if !self.closing {
            self.send(&[EngineMessage::Shutdown { grace_ms: 0 }]);
        }
        if let Some(client) = self.client.as_mut() {
            client.detach();
        }
    }
}
