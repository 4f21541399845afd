//! What a task's result says it needs next: a first attempt, a retry (now or at
//! `retry_at`), or nothing. Dependencies are checked by the caller.

use std::collections::HashMap;

use crate::model::{FixPatches, RetryRecommendation, Status, TaskResult};

/// Recovery's verdicts (`fix_patches.json` `retries[]`) by (task, attempt); a later entry
/// for the same attempt wins.
#[derive(Debug, Default)]
pub(super) struct Verdicts {
    by_attempt: HashMap<(String, u32), RetryRecommendation>,
    /// The highest attempt of each task that has a verdict.
    latest: HashMap<String, u32>,
}

impl Verdicts {
    /// Indexes the verdicts of `doc`.
    pub(super) fn from_doc(doc: &FixPatches) -> Verdicts {
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
        Verdicts { by_attempt, latest }
    }

    /// The highest attempt of `task` that recovery has a verdict on (0: none).
    pub(super) fn latest_attempt(&self, task: &str) -> u32 {
        self.latest.get(task).copied().unwrap_or(0)
    }

    /// The verdict on `attempt` of `task`.
    pub(super) fn get(&self, task: &str, attempt: u32) -> Option<&RetryRecommendation> {
        self.by_attempt.get(&(task.to_string(), attempt))
    }
}

/// The next step a result asks for, dependencies aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// Start `attempt` (once every dependency succeeded).
    Attempt {
        /// The attempt number.
        attempt: u32,
        /// The patch this attempt retries, if any.
        patch_id: Option<String>,
        /// Not before this time (RFC 3339), for a back-off.
        not_before: Option<String>,
    },
    /// Nothing for the executor to do.
    Nothing,
}

/// A person ran `phase retry`: the next attempt starts a fresh budget.
pub(super) fn retry_requested(r: &TaskResult) -> bool {
    r.budget_from_attempt > r.attempt
        && matches!(
            r.status,
            Status::Failed
                | Status::TimedOut
                | Status::Quarantined
                | Status::Canceled
                | Status::DepFailed
        )
}

/// Ended for good unless a person intervenes: its dependents become `dep_failed`.
pub(super) fn is_dead_end(r: &TaskResult) -> bool {
    r.status.is_dead_end() && !retry_requested(r)
}

/// The verdict that applies to a failed result: the one on its latest attempt, unless
/// a `phase retry` started a fresh budget after it.
pub(super) fn verdict_for<'a>(
    r: &TaskResult,
    verdicts: &'a Verdicts,
) -> Option<&'a RetryRecommendation> {
    if !r.status.is_failure() || retry_requested(r) {
        return None;
    }
    verdicts.get(&r.task_id, r.attempt)
}

/// What `entry` (`None`: no result yet) needs next. `verdicts` is `None` while
/// `fix_patches.json` is invalid: no retry starts then.
///
/// A task without a result whose earlier attempts recovery already judged (a person
/// deleted its entry to run it again) continues the numbering above them, so the old
/// verdicts, analyses and logs do not apply to the new run.
pub(super) fn next_step(id: &str, entry: Option<&TaskResult>, verdicts: Option<&Verdicts>) -> Step {
    let Some(r) = entry else {
        return Step::Attempt {
            attempt: verdicts.map_or(0, |v| v.latest_attempt(id)) + 1,
            patch_id: None,
            not_before: None,
        };
    };
    if retry_requested(r) {
        return Step::Attempt {
            attempt: r.attempt + 1,
            patch_id: None,
            not_before: None,
        };
    }
    match (r.status, verdicts) {
        (Status::Failed | Status::TimedOut, Some(verdicts)) => match verdict_for(r, verdicts) {
            // Until retry_at is set (next plan), the retry is not scheduled.
            Some(v) if v.retry_recommended && r.retry_at.is_some() => Step::Attempt {
                attempt: r.attempt + 1,
                patch_id: v.patch_ids.first().cloned(),
                not_before: r.retry_at.clone(),
            },
            _ => Step::Nothing,
        },
        _ => Step::Nothing,
    }
}
