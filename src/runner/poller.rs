//! The runner's one wait: an epoll set over the engine's pipe, the engine's pidfd, the
//! signal pipe and every attempt's stdout, stderr and pidfd. One thread, no thread per
//! attempt; the cost of a wake-up does not grow with the number of attempts running.

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::buffer::spare_capacity;
use rustix::event::{Timespec, epoll};

/// What an epoll token stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    /// The engine's messages (the runner's stdin).
    Engine,
    /// The engine's process ended.
    EngineExit,
    /// A signal arrived.
    Signal,
    /// An attempt's stdout, stderr or process.
    Attempt(u64, Stream),
}

/// Which of an attempt's descriptors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stream {
    /// Its stdout pipe.
    Out,
    /// Its stderr pipe.
    Err,
    /// Its pidfd (readable once it exited).
    Exit,
}

const ENGINE: u64 = u64::MAX;
const ENGINE_EXIT: u64 = u64::MAX - 1;
const SIGNAL: u64 = u64::MAX - 2;

impl Source {
    fn token(self) -> u64 {
        match self {
            Source::Engine => ENGINE,
            Source::EngineExit => ENGINE_EXIT,
            Source::Signal => SIGNAL,
            Source::Attempt(id, s) => (id << 2) | s as u64,
        }
    }

    fn from_token(token: u64) -> Source {
        match token {
            ENGINE => Source::Engine,
            ENGINE_EXIT => Source::EngineExit,
            SIGNAL => Source::Signal,
            t => {
                let stream = match t & 3 {
                    0 => Stream::Out,
                    1 => Stream::Err,
                    _ => Stream::Exit,
                };
                Source::Attempt(t >> 2, stream)
            }
        }
    }
}

/// An epoll set.
pub(super) struct Poller {
    epoll: OwnedFd,
    events: Vec<epoll::Event>,
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller")
            .field("epoll", &self.epoll)
            .finish()
    }
}

impl Poller {
    /// A new, empty set.
    pub(super) fn new() -> std::io::Result<Poller> {
        Ok(Poller {
            epoll: epoll::create(epoll::CreateFlags::CLOEXEC)?,
            events: Vec::with_capacity(256),
        })
    }

    /// Watches `fd` for input (or hang-up) on behalf of `source`.
    pub(super) fn add(&self, fd: impl AsFd, source: Source) -> std::io::Result<()> {
        let data = epoll::EventData::new_u64(source.token());
        epoll::add(&self.epoll, fd, data, epoll::EventFlags::IN)?;
        Ok(())
    }

    /// Stops watching `fd` (before it is closed: a duplicate would keep it in the set).
    pub(super) fn remove(&self, fd: impl AsFd) {
        let _ = epoll::delete(&self.epoll, fd);
    }

    /// Waits until something is ready or `until` passes (`None`: no limit); returns what
    /// is ready.
    pub(super) fn wait(&mut self, until: Option<Instant>) -> std::io::Result<Vec<Source>> {
        let timeout = until.map(|at| {
            // Round up: waking a little early would only loop back here.
            let left = at.saturating_duration_since(Instant::now()) + Duration::from_micros(999);
            let left = left.min(Duration::from_secs(3600));
            Timespec {
                tv_sec: left.as_secs() as i64,
                tv_nsec: (left.subsec_millis() * 1_000_000) as i64,
            }
        });
        self.events.clear();
        match epoll::wait(
            &self.epoll,
            spare_capacity(&mut self.events),
            timeout.as_ref(),
        ) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(self
            .events
            .iter()
            .map(|e| Source::from_token(e.data.u64()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        for source in [
            Source::Engine,
            Source::EngineExit,
            Source::Signal,
            Source::Attempt(0, Stream::Out),
            Source::Attempt(7, Stream::Err),
            Source::Attempt(1 << 40, Stream::Exit),
        ] {
            assert_eq!(Source::from_token(source.token()), source);
        }
    }
}
