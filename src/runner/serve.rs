//! The runner's loop: one thread (commands are spawned by another, see `spawner.rs`), one
//! epoll wait, then ordered passes — what the engine said, what the attempts did, which
//! timers are due — until the engine is gone (or asked for a shutdown) and no attempt is
//! left.

use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use super::admit::{Admission, admit};
use super::link::{EngineLink, Inbound};
use super::poller::{Poller, Source, Stream};
use super::protocol::{EngineMessage, Refusal, RunRequest, RunnerMessage};
use super::spawner::Spawner;
use super::supervise::{Attempt, StopCause};
use super::timers::{Timer, Timers};
use crate::store::StateDir;

mod after;
mod outcomes;

/// How often a runner without pidfds looks whether an attempt exited.
const REAP_TICK: Duration = Duration::from_millis(10);
/// The runner's state.
pub(super) struct Runner {
    state: StateDir,
    id: String,
    host: String,
    poller: Poller,
    /// Spawns the commands with a small descriptor table (none: from the runner's own).
    spawner: Option<Spawner>,
    link: EngineLink,
    signals: Option<UnixStream>,
    attempts: HashMap<u64, Attempt>,
    by_task: HashMap<String, u64>,
    /// Runs asked for while every slot was taken, in order (see [`RunRequest::slots`]).
    queue: VecDeque<RunRequest>,
    /// Runs waiting for another attempt to succeed (see [`RunRequest::after`]).
    held: Vec<RunRequest>,
    next_id: u64,
    timers: Timers,
    shutting_down: bool,
    /// Attempts whose outcome record failed, and when to give up on it.
    unrecorded: HashMap<u64, Instant>,
    buf: Vec<u8>,
}

impl Runner {
    /// A runner for `state`, talking to the engine on stdin/stdout.
    pub(super) fn new(
        state: StateDir,
        id: String,
        host: String,
        signals: Option<UnixStream>,
    ) -> std::io::Result<Runner> {
        // First, while the runner holds few descriptors (see `spawner.rs`).
        let spawner = Spawner::start()
            .inspect_err(|e| tracing::warn!("spawning from the runner's own thread: {e}"))
            .ok();
        let poller = Poller::new()?;
        let link = EngineLink::open(&poller)?;
        if let Some(s) = &signals {
            poller.add(s, Source::Signal)?;
        }
        Ok(Runner {
            state,
            id,
            host,
            poller,
            spawner,
            link,
            signals,
            attempts: HashMap::new(),
            by_task: HashMap::new(),
            queue: VecDeque::new(),
            held: Vec::new(),
            next_id: 0,
            timers: Timers::default(),
            shutting_down: false,
            unrecorded: HashMap::new(),
            buf: vec![0; 64 * 1024],
        })
    }

    /// Serves until nothing is left to do.
    pub(super) fn serve(mut self) -> std::io::Result<()> {
        let ready = RunnerMessage::Ready {
            runner: self.id.clone(),
            pid: std::process::id(),
            protocol: super::protocol::PROTOCOL_VERSION,
        };
        if !self.link.send(&ready) {
            self.engine_gone();
        }
        while !self.done() {
            for source in self.poller.wait(self.timers.next_due())? {
                self.on_ready(source);
            }
            let now = Instant::now();
            while let Some(timer) = self.timers.pop_due(now) {
                self.on_timer(timer);
            }
            self.start_queued();
        }
        Ok(())
    }

    /// How many attempts have not ended yet (ended ones may still wait for their ack).
    fn live(&self) -> usize {
        self.attempts
            .values()
            .filter(|a| a.finished().is_none())
            .count()
    }

    /// Starts queued runs, in order, while slots are free.
    fn start_queued(&mut self) {
        while let Some(next) = self.queue.front() {
            if next.slots.is_some_and(|n| self.live() >= n as usize) {
                return;
            }
            if let Some(req) = self.queue.pop_front() {
                self.start(&req);
            }
        }
    }

    fn done(&self) -> bool {
        (!self.link.alive() || self.shutting_down) && self.attempts.is_empty()
    }

    fn on_ready(&mut self, source: Source) {
        match source {
            Source::Engine => match self.link.read(&mut self.buf) {
                Inbound::Messages(messages) => messages.into_iter().for_each(|m| self.on(m)),
                Inbound::Closed => self.engine_gone(),
            },
            Source::EngineExit => {
                // Its last messages (an ack, say) may still be in the pipe.
                let rest = self.link.read_rest(&mut self.buf);
                rest.into_iter().for_each(|m| self.on(m));
                self.engine_gone();
            }
            Source::Signal => {
                let mut drained = [0u8; 64];
                if let Some(mut s) = self.signals.as_ref() {
                    let _ = s.read(&mut drained);
                }
                tracing::info!("signalled: stopping every attempt");
                self.shutdown(Duration::ZERO);
            }
            Source::Attempt(id, stream) => {
                let Some(a) = self.attempts.get_mut(&id) else {
                    return;
                };
                if stream == Stream::Exit {
                    if let Some(until) = a.on_exit(&self.poller) {
                        self.timers.set(until, Timer::Drain(id));
                    }
                } else {
                    a.on_output(stream, &self.poller, &mut self.buf);
                }
                self.report_if_ended(id);
            }
        }
    }

    fn on(&mut self, message: EngineMessage) {
        match message {
            EngineMessage::Run(req) => self.run(&req),
            EngineMessage::Cancel { task, attempt } => self.cancel(&task, attempt),
            EngineMessage::Ack { task, attempt } => {
                if let Some(id) = self.find(&task, attempt) {
                    if self
                        .attempts
                        .get(&id)
                        .is_some_and(|a| a.finished().is_some())
                    {
                        self.release(id);
                    } else {
                        tracing::warn!(%task, attempt, "ack for an attempt that has not ended");
                    }
                }
            }
            EngineMessage::Shutdown { grace_ms } => {
                self.shutdown(Duration::from_millis(grace_ms));
            }
        }
    }

    /// Withdraws a queued or held run (and the runs held for it), or stops a running one.
    fn cancel(&mut self, task: &str, attempt: u32) {
        if let Some(req) = self.take_waiting(task, attempt) {
            let message = "canceled before it started".into();
            self.link
                .send(&fenced(&req, Refusal::Withdrawn, None, message));
            self.settle_held(task, attempt, false);
        } else if let Some(id) = self.find(task, attempt)
            && let Some(kill_at) =
                (self.attempts.get_mut(&id)).and_then(|a| a.stop(StopCause::Cancel))
        {
            self.timers.set(kill_at, Timer::Kill(id));
        }
    }

    fn run(&mut self, req: &RunRequest) {
        let fenced = |why, recorded, message| fenced(req, why, recorded, message);
        let refusal = if self.shutting_down {
            Some(fenced(
                Refusal::ShuttingDown,
                None,
                "the runner is shutting down".into(),
            ))
        } else if let Some(a) = self
            .by_task
            .get(&req.task)
            .and_then(|id| self.attempts.get(id))
        {
            // flock would refuse it too; this saves the open.
            let message = format!("{}: held by this runner", a.claim().path().display());
            Some(fenced(Refusal::Busy, Some(a.attempt), message))
        } else if let Some(q) = (self.queue.iter().chain(&self.held)).find(|r| r.task == req.task) {
            let message = format!("{}: queued in this runner", req.task);
            Some(fenced(Refusal::Busy, Some(q.attempt), message))
        } else {
            None
        };
        if let Some(refusal) = refusal {
            self.link.send(&refusal);
            return;
        }
        if !self.after_met(req) {
            return;
        }
        // Behind the ones already waiting, or while every slot is taken: queued.
        if !self.queue.is_empty() || req.slots.is_some_and(|n| self.live() >= n as usize) {
            self.queue.push_back(req.clone());
            return;
        }
        self.start(req);
    }

    /// Takes the claim, writes the fence, spawns the command: the attempt starts here.
    fn start(&mut self, req: &RunRequest) {
        let fenced = |why, recorded, message| fenced(req, why, recorded, message);
        let (claim, fence) = match admit(&self.state, &self.id, req) {
            Admission::Admitted(claim, fence) => (claim, fence),
            Admission::Refused {
                why,
                recorded,
                message,
            } => {
                self.link.send(&fenced(why, recorded, message));
                self.settle_held(&req.task, req.attempt, false);
                return;
            }
        };
        let id = self.next_id;
        self.next_id += 1;
        let spawning = (&self.poller, self.spawner.as_mut());
        let attempt = Attempt::spawn(id, req, claim, fence, spawning);
        if let Some(pid) = attempt.pid() {
            let started = RunnerMessage::Started {
                task: req.task.clone(),
                attempt: req.attempt,
                pid,
                started_at: attempt.started_at().to_string(),
            };
            self.link.send(&started);
            let deadline = req
                .timeout_ms
                .and_then(|ms| Instant::now().checked_add(Duration::from_millis(ms)));
            if let Some(at) = deadline {
                self.timers.set(at, Timer::Deadline(id));
            }
            if attempt.needs_reaping() {
                self.timers.set(Instant::now() + REAP_TICK, Timer::Reap(id));
            }
        }
        self.by_task.insert(req.task.clone(), id);
        self.attempts.insert(id, attempt);
        self.report_if_ended(id);
    }

    fn on_timer(&mut self, timer: Timer) {
        match timer {
            Timer::Deadline(id) => self.stop(id, StopCause::Timeout),
            Timer::Kill(id) => {
                if let Some(a) = self.attempts.get_mut(&id) {
                    a.kill();
                }
            }
            Timer::Drain(id) => {
                if let Some(a) = self.attempts.get_mut(&id) {
                    a.drain_expired(&self.poller);
                }
                self.report_if_ended(id);
            }
            Timer::Reap(id) => {
                let Some(a) = self.attempts.get_mut(&id) else {
                    return;
                };
                if let Some(until) = a.on_exit(&self.poller) {
                    self.timers.set(until, Timer::Drain(id));
                    self.report_if_ended(id);
                } else if a.needs_reaping() {
                    self.timers.set(Instant::now() + REAP_TICK, Timer::Reap(id));
                }
            }
            Timer::Record(id) => self.record(id),
            Timer::Shutdown => {
                let ids: Vec<u64> = self.attempts.keys().copied().collect();
                ids.into_iter()
                    .for_each(|id| self.stop(id, StopCause::Shutdown));
            }
        }
    }

    fn stop(&mut self, id: u64, cause: StopCause) {
        if let Some(kill_at) = self.attempts.get_mut(&id).and_then(|a| a.stop(cause)) {
            self.timers.set(kill_at, Timer::Kill(id));
        }
    }

    fn shutdown(&mut self, grace: Duration) {
        self.shutting_down = true;
        let waiting = std::mem::take(&mut self.queue);
        for req in waiting.into_iter().chain(std::mem::take(&mut self.held)) {
            let message = "the runner is shutting down".into();
            self.link
                .send(&fenced(&req, Refusal::ShuttingDown, None, message));
        }
        self.timers.set(Instant::now() + grace, Timer::Shutdown);
    }

    fn find(&self, task: &str, attempt: u32) -> Option<u64> {
        let id = *self.by_task.get(task)?;
        (self.attempts.get(&id)?.attempt == attempt).then_some(id)
    }
}

/// The answer to `req` when it is not started (and nothing of it was written).
fn fenced(req: &RunRequest, why: Refusal, recorded: Option<u32>, message: String) -> RunnerMessage {
    RunnerMessage::Fenced {
        task: req.task.clone(),
        attempt: req.attempt,
        why,
        recorded,
        message,
    }
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("id", &self.id)
            .field("attempts", &self.attempts.len())
            .field("shutting_down", &self.shutting_down)
            .finish()
    }
}
