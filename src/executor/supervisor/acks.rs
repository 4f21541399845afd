//! What waits for the next durable write of `execution_results.json`: the attempts of our
//! runner whose outcome is recorded in memory only (the runner keeps each one's claim
//! until it is acked, so a crash before the write leaves the claim held and then an
//! outcome record, never a free claim and nothing), and the outcome records of adopted
//! attempts, removed once what they say is in the results file.

use std::collections::HashMap;

use crate::runner::EngineMessage;
use crate::store::{StateDir, remove_outcome};

/// Unacked attempts and outcome records to remove, until the next write.
#[derive(Debug)]
pub(in crate::executor) struct Acks {
    /// Task → its finished attempt, recorded in memory only.
    unacked: HashMap<String, u32>,
    /// `attempts/<task>/<n>.json` recorded in memory only.
    outcomes: Vec<(String, u32)>,
    /// Unacked attempts above this many force a write: the runner holds two descriptors
    /// for each.
    max_unacked: usize,
}

impl Acks {
    /// Nothing waits.
    pub(in crate::executor) fn new() -> Acks {
        Acks {
            unacked: HashMap::new(),
            outcomes: Vec::new(),
            max_unacked: max_unacked(),
        }
    }

    /// `attempt` of `task` ended and is recorded in memory: ack it after the next write.
    pub(in crate::executor) fn ack_later(&mut self, task: &str, attempt: u32) {
        self.unacked.insert(task.to_string(), attempt);
    }

    /// The outcome record of `attempt` of `task` is recorded in memory: remove it after
    /// the next write.
    pub(in crate::executor) fn remove_later(&mut self, task: &str, attempt: u32) {
        self.outcomes.push((task.to_string(), attempt));
    }

    /// Whether our runner still holds `task`'s claim for an attempt not acked yet.
    pub(in crate::executor) fn waits_on(&self, task: &str) -> bool {
        self.unacked.contains_key(task)
    }

    /// Whether so many attempts wait that the results must be written now.
    pub(in crate::executor) fn crowded(&self) -> bool {
        self.unacked.len() >= self.max_unacked
    }

    /// The runner that held the unacked claims is gone (and its claims with it).
    pub(in crate::executor) fn forget_unacked(&mut self) {
        self.unacked.clear();
    }

    /// The results are on disk: the acks to send (in one write), and the outcome records
    /// are removed now.
    pub(in crate::executor) fn written(&mut self, state: &StateDir) -> Vec<EngineMessage> {
        for (task, attempt) in self.outcomes.drain(..) {
            if let Err(e) = remove_outcome(state, &task, attempt) {
                tracing::warn!(phase = crate::executor::PHASE, %task, attempt, "{e}");
            }
        }
        self.unacked
            .drain()
            .map(|(task, attempt)| EngineMessage::Ack { task, attempt })
            .collect()
    }
}

/// A quarter of the runner's descriptors (it raises its soft limit to the hard one, at
/// most 65,536), at two per unacked attempt; a fixed small bound forced a rewrite of the
/// whole results file every few hundred tasks, which made the cost per task grow with the
/// number of tasks.
fn max_unacked() -> usize {
    use rustix::process::{Resource, getrlimit};
    let hard = getrlimit(Resource::Nofile)
        .maximum
        .unwrap_or(65_536)
        .min(65_536);
    usize::try_from(hard / 8)
        .unwrap_or(usize::MAX)
        .clamp(64, 8_192)
}
