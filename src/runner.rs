//! The attempt runner: a helper process (`phase __runner`, one per executor) that runs the
//! executor's attempts so that they outlive the engine (docs/ATTEMPTS.md).
//!
//! It holds each attempt's claim, writes the attempt fence in the claim before the command
//! starts (an attempt starts at most once), supervises the command (its own process group,
//! logs, timeout, cancel) and keeps the claim until the engine acks the recorded outcome.
//! If the engine goes away, it writes each outcome into `attempts/<task>/<n>.json` before
//! releasing the claim, and exits once nothing is left. The engine side is
//! [`RunnerClient`].

pub mod client;
pub mod protocol;

mod admit;
mod link;
mod logs;
mod poller;
mod serve;
mod spawner;
mod supervise;
mod timers;

use std::os::unix::net::UnixStream;

pub use client::{EventKind, RunnerClient, RunnerEvent};
pub use protocol::{
    AfterAttempt, AttemptFinished, EngineMessage, Refusal, RunRequest, RunnerMessage,
};

use crate::store::StateDir;
use crate::{Error, Result};

/// The hidden verb `phase __runner`: run attempts for the engine on the other end of
/// stdin and stdout.
#[derive(Debug, Clone, clap::Args)]
pub struct RunnerArgs {
    /// The id written into fences and outcome records (default `runner-<pid>@<host>`).
    #[arg(long, value_name = "ID")]
    pub runner_id: Option<String>,
}

/// Serves the engine until it is gone (or asked for a shutdown) and no attempt is left.
/// Returns the exit code.
pub fn serve(args: &RunnerArgs, state: &StateDir) -> Result<i32> {
    let fail = |action, e| Error::io(state.root(), action, e);
    raise_open_files_limit();
    let host = host_name();
    let id = args
        .runner_id
        .clone()
        .unwrap_or_else(|| format!("runner-{}@{host}", std::process::id()));
    let signals = signal_pipe().map_err(|e| fail("watch for signals", e))?;
    serve::Runner::new(state.clone(), id, host, Some(signals))
        .and_then(serve::Runner::serve)
        .map_err(|e| fail("run the attempt runner", e))?;
    Ok(0)
}

/// SIGTERM and SIGINT become readable bytes on the returned socket: the loop then stops
/// every attempt (recorded as interrupted) instead of dying and orphaning them.
fn signal_pipe() -> std::io::Result<UnixStream> {
    let (read, write) = UnixStream::pair()?;
    read.set_nonblocking(true)?;
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::low_level::pipe::register(signal, write.try_clone()?)?;
    }
    Ok(read)
}

/// Each attempt holds a few descriptors (claim, pipes, pidfd, logs) while it runs and its
/// claim until it is acked: the usual soft limit of 1024 would cap the runner at about
/// 150 attempts at once.
fn raise_open_files_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let wanted = limit.maximum.unwrap_or(65_536).min(65_536);
    if limit.current.is_some_and(|c| c < wanted) {
        let raised = rustix::process::Rlimit {
            current: Some(wanted),
            maximum: limit.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::debug!("cannot raise the open files limit: {e}");
        }
    }
}

/// This machine's name, for outcome records.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}
