//! Claims (a lock on `claims/locks`, `store::Claim`) the executor takes itself: to change a task
//! that does not run (a cancel before it started) or to record an attempt whose runner is
//! gone, so that no runner starts the task meanwhile. Each is held until the change is on
//! disk, so the next holder always sees it (docs/EXECUTION.md, "Claims"). Running attempts
//! hold their claims in the attempt runner (docs/ATTEMPTS.md).

use std::collections::HashMap;

use crate::Result;
use crate::store::{Claim, StateDir};

/// Claims held until the next write of the results.
#[derive(Debug)]
pub(in crate::executor) struct Claims {
    /// By task id.
    pending: HashMap<String, Claim>,
    /// Held claims above this many force a write.
    max_pending: usize,
}

impl Claims {
    /// No claims held; raises the open-file limit, as held claims are descriptors.
    pub(in crate::executor) fn new() -> Claims {
        Claims {
            pending: HashMap::new(),
            max_pending: max_pending_claims(),
        }
    }

    /// A claim on `id`: one still held from a finished attempt, or a new one.
    /// `Ok(None)`: another process holds it.
    pub(in crate::executor) fn take(
        &mut self,
        state: &StateDir,
        id: &str,
    ) -> Result<Option<Claim>> {
        match self.pending.remove(id) {
            Some(claim) => Ok(Some(claim)),
            None => Claim::try_acquire(state, id),
        }
    }

    /// Keeps `claim` until the next write of the results.
    pub(in crate::executor) fn hold(&mut self, task_id: &str, claim: Claim) {
        self.pending.insert(task_id.to_string(), claim);
    }

    /// The results are on disk: every held claim is released.
    pub(in crate::executor) fn release_all(&mut self) {
        self.pending.clear();
    }

    /// Whether so many claims are held that the results must be written now.
    pub(in crate::executor) fn crowded(&self) -> bool {
        self.pending.len() >= self.max_pending
    }

    /// Whether the claim on `id` is held here until the next write.
    pub(in crate::executor) fn holds(&self, id: &str) -> bool {
        self.pending.contains_key(id)
    }
}

/// Held claims above this many force a write, so finished attempts do not pile up open
/// descriptors. The bound comes from the process's file-descriptor limit: a fixed small
/// one forced a rewrite of the whole results file every few hundred tasks, which made the
/// cost per task grow with the number of tasks.
fn max_pending_claims() -> usize {
    let soft = raise_open_file_limit();
    // A quarter for claims; the rest for logs, pipes, state files and the tasks.
    usize::try_from(soft / 4)
        .unwrap_or(usize::MAX)
        .clamp(64, 16_384)
}

/// Like Go's runtime: raises the soft limit on open files to the hard one (capped), as
/// descriptors held for claims are this engine's main use of them. Returns the soft limit.
fn raise_open_file_limit() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    const WANTED: u64 = 65_536;
    let limit = getrlimit(Resource::Nofile);
    let wanted = limit.maximum.unwrap_or(WANTED).min(WANTED);
    if limit.current.is_some_and(|soft| soft < wanted) {
        let raised = Rlimit {
            current: Some(wanted),
            maximum: limit.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::debug!("cannot raise the open-file limit: {e}");
        }
    }
    getrlimit(Resource::Nofile).current.unwrap_or(1024)
}
