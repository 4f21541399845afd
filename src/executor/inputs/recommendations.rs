//! Recovery's recommendations (`fix_patches.json` `retries[]`) indexed by (task, attempt),
//! as the lifecycle asks for them ([`RecoveryAdvice`]).

use std::collections::HashMap;

use crate::lifecycle::RecoveryAdvice;
use crate::model::{FixPatches, RetryRecommendation};

/// Recommendations by (task, attempt); a later entry for the same attempt wins.
#[derive(Debug, Default)]
pub(in crate::executor) struct Recommendations {
    by_attempt: HashMap<(String, u32), RetryRecommendation>,
    /// The highest attempt of each task that has a recommendation.
    latest: HashMap<String, u32>,
}

impl Recommendations {
    /// Indexes the recommendations of `doc`.
    pub(in crate::executor) fn from_doc(doc: &FixPatches) -> Recommendations {
        let by_attempt = doc
            .retries
            .iter()
            .map(|r| ((r.task_id.clone(), r.attempt), r.clone()))
            .collect();
        let mut latest: HashMap<String, u32> = HashMap::new();
        for r in &doc.retries {
            let n = latest.entry(r.task_id.clone()).or_default();
            *n = (*n).max(r.attempt);
        }
        Recommendations { by_attempt, latest }
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
