//! Where the executor works and with what: the state directory, the project root its
//! tasks' workdirs are relative to, the configuration, the event log, its own id, and the
//! program its attempt runner is.
//! Every part reads it; none changes it (but for a cached look at whether a router runs).

use std::cell::Cell;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::events::EventLog;
use crate::store::{Presence, StateDir};

/// How long a lookup of the router's presence is trusted.
const ROUTER_LOOKUP: Duration = Duration::from_secs(1);

/// The executor's fixed surroundings.
#[derive(Debug)]
pub(super) struct Site {
    pub(super) state: StateDir,
    /// Task workdirs are relative to it.
    pub(super) project_root: PathBuf,
    pub(super) config: Arc<Config>,
    pub(super) events: EventLog,
    /// `host:pid`, recorded in every attempt, and the id of its attempt runner (in
    /// fences and outcome records).
    pub(super) executor_id: String,
    /// What runs as the attempt runner (`PROGRAM __runner`): this very binary.
    pub(super) runner_program: PathBuf,
    /// Whether a router ran anywhere, and when that was last looked up.
    router_seen: Cell<Option<(Instant, bool)>>,
}

impl Site {
    pub(super) fn new(state: StateDir, config: Arc<Config>, events: EventLog) -> Site {
        Site {
            project_root: state.project_root(),
            state,
            config,
            events,
            executor_id: executor_id(),
            runner_program: super::supervisor::default_program(),
            router_seen: Cell::new(None),
        }
    }

    /// Whether a router phase runs anywhere on this state directory (looked up at most
    /// once a second). A retry held for the router's look at its failure is held only
    /// while there is a router to look (`phase run executor` alone holds nothing).
    pub(super) fn router_running(&self) -> bool {
        let now = Instant::now();
        if let Some((at, alive)) = self.router_seen.get()
            && now.duration_since(at) < ROUTER_LOOKUP
        {
            return alive;
        }
        // An unreadable lock directory counts as a router: holding is the safe side.
        let alive = Presence::is_alive(&self.state, "router").unwrap_or(true);
        self.router_seen.set(Some((now, alive)));
        alive
    }

    /// At most this many attempts at once (`execution.max_parallel`).
    pub(super) fn parallelism(&self) -> usize {
        self.config.execution.parallelism()
    }
}

/// `host:pid`.
fn executor_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    format!("{host}:{}", std::process::id())
}
