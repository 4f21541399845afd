//! The runner's side of the pipes to its engine: JSON lines in on stdin, out on stdout
//! (one `write` per message), and the engine's pidfd. The engine is gone at end of file on
//! stdin, when its process ends, or when a message cannot be written.

use std::os::fd::{AsFd, OwnedFd};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::process::{PidfdFlags, getppid};

use super::poller::{Poller, Source};
use super::protocol::{EngineMessage, RunnerMessage, encode_line};

/// A line longer than this is not a message: it is dropped with a warning.
const MAX_LINE: usize = 16 << 20;

/// What one read from the engine gave.
#[derive(Debug)]
pub(super) enum Inbound {
    /// Whole messages (maybe none yet: a line can arrive in pieces).
    Messages(Vec<EngineMessage>),
    /// End of file: the engine closed its end or died.
    Closed,
}

/// The link to the engine.
#[derive(Debug)]
pub(super) struct EngineLink {
    alive: bool,
    partial: Vec<u8>,
    engine_exit: Option<OwnedFd>,
}

impl EngineLink {
    /// Watches stdin and the parent process (the engine that spawned this runner).
    pub(super) fn open(poller: &Poller) -> std::io::Result<EngineLink> {
        poller.add(std::io::stdin().as_fd(), Source::Engine)?;
        // A parent that is already init means the engine is gone; stdin says so too.
        let engine_exit = getppid()
            .filter(|pid| !pid.is_init())
            .and_then(|pid| rustix::process::pidfd_open(pid, PidfdFlags::empty()).ok())
            .filter(|fd| poller.add(fd, Source::EngineExit).is_ok());
        Ok(EngineLink {
            alive: true,
            partial: Vec::new(),
            engine_exit,
        })
    }

    /// Whether the engine is still there to talk to.
    pub(super) fn alive(&self) -> bool {
        self.alive
    }

    /// Reads what stdin has and returns the whole messages in it. A line that is not a
    /// message is logged and skipped: the engine's bug must not end running attempts.
    pub(super) fn read(&mut self, buf: &mut [u8]) -> Inbound {
        let n = match rustix::io::read(std::io::stdin().as_fd(), &mut *buf) {
            Ok(0) => return Inbound::Closed,
            Ok(n) => n,
            Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => 0,
            Err(e) => {
                tracing::warn!("cannot read the engine's messages: {e}");
                return Inbound::Closed;
            }
        };
        self.partial.extend_from_slice(&buf[..n]);
        let mut messages = Vec::new();
        let mut start = 0;
        while let Some(end) = self.partial[start..].iter().position(|b| *b == b'\n') {
            let line = &self.partial[start..start + end];
            start += end + 1;
            if line.trim_ascii().is_empty() {
                continue;
            }
            match serde_json::from_slice::<EngineMessage>(line) {
                Ok(m) => messages.push(m),
                Err(e) => tracing::warn!(
                    "ignoring a message from the engine that is not understood: {e}: {}",
                    String::from_utf8_lossy(&line[..line.len().min(200)])
                ),
            }
        }
        self.partial.drain(..start);
        if self.partial.len() > MAX_LINE {
            tracing::warn!("ignoring a message from the engine longer than {MAX_LINE} bytes");
            self.partial.clear();
        }
        Inbound::Messages(messages)
    }

    /// What the engine wrote before it exited and this runner has not read yet: read
    /// while stdin is readable without waiting (a leaked write end must not block the
    /// runner).
    pub(super) fn read_rest(&mut self, buf: &mut [u8]) -> Vec<EngineMessage> {
        let mut rest = Vec::new();
        loop {
            let stdin = std::io::stdin();
            let mut fds = [PollFd::new(&stdin, PollFlags::IN)];
            let zero = Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            if !matches!(rustix::event::poll(&mut fds, Some(&zero)), Ok(1)) {
                return rest;
            }
            // Readable: the read cannot block (at end of file it returns 0).
            match self.read(buf) {
                Inbound::Messages(m) => rest.extend(m),
                Inbound::Closed => return rest,
            }
        }
    }

    /// Sends one message; `false` if the engine is gone (it is then marked so).
    pub(super) fn send(&mut self, message: &RunnerMessage) -> bool {
        if !self.alive {
            return false;
        }
        let line = encode_line(message);
        let stdout = std::io::stdout();
        let mut rest = &line[..];
        while !rest.is_empty() {
            match rustix::io::write(stdout.as_fd(), rest) {
                Ok(n) => rest = &rest[n..],
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    tracing::info!("the engine is gone (writing to it: {e})");
                    self.alive = false;
                    return false;
                }
            }
        }
        true
    }

    /// Stops listening: the engine is gone.
    pub(super) fn close(&mut self, poller: &Poller) {
        self.alive = false;
        poller.remove(std::io::stdin().as_fd());
        if let Some(fd) = self.engine_exit.take() {
            poller.remove(&fd);
        }
    }
}
