//! Recovery's recommendations (`fix_patches.json` `retries[]`) and acceptance gate
//! verdicts (`gates[]`) indexed by (task, attempt), as the lifecycle asks for them
//! ([`RecoveryAdvice`]).

use std::collections::HashMap;

use crate::lifecycle::RecoveryAdvice;
use crate::model::{FixPatches, GateVerdict, RetryRecommendation};

/// Recommendations and gate verdicts by (task, attempt); a later entry for the same
/// attempt wins.
#[derive(Debug, Default)]
pub(in crate::executor) struct Recommendations {
    by_attempt: HashMap<(String, u32), RetryRecommendation>,
    gates: HashMap<(String, u32), GateVerdict>,
    /// The highest attempt of each task that has a recommendation or a gate verdict.
    latest: HashMap<String, u32>,
}

impl Recommendations {
    /// Indexes the recommendations and gate verdicts of `doc`.
    pub(in crate::executor) fn from_doc(doc: &FixPatches) -> Recommendations {
        let by_attempt = doc
            .retries
            .iter()
            .map(|r| ((r.task_id.clone(), r.attempt), r.clone()))
            .collect();
        let gates = doc
            .gates
            .iter()
            .map(|g| ((g.task_id.clone(), g.attempt), g.clone()))
            .collect();
        let mut latest: HashMap<String, u32> = HashMap::new();
        // A gate verdict judges its attempt too: a rerun after a person deleted the
        // entry must not take an old verdict for its own.
        let judged = doc
            .retries
            .iter()
            .map(|r| (&r.task_id, r.attempt))
            .chain(doc.gates.iter().map(|g| (&g.task_id, g.attempt)));
        for (task, attempt) in judged {
            let n = latest.entry(task.clone()).or_default();
            *n = (*n).max(attempt);
        }
        Recommendations {
            by_attempt,
            gates,
            latest,
        }
    }

    /// The gate verdict on `attempt` of `task`.
    pub(in crate::executor) fn gate(&self, task: &str, attempt: u32) -> Option<&GateVerdict> {
        self.gates.get(&(task.to_string(), attempt))
    }
}

impl RecoveryAdvice for Recommendations {
    fn on(&self, task: &str, attempt: u32) -> Option<&RetryRecommendation> {
        self.by_attempt.get(&(task.to_string(), attempt))
    }

    fn latest_judged(&self, task: &str) -> u32 {
        self.latest.get(task).copied().unwrap_or(0)
    }
}
