//! Where the executor works and with what: the state directory, the project root its
//! tasks' workdirs are relative to, the configuration, the event log, its own id, and the
//! program its attempt runner is.
//! Every part reads it; none changes it.

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Config;
use crate::events::EventLog;
use crate::store::StateDir;

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
        }
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
