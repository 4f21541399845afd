//! What a task's result asks the executor for next: a first attempt, a retry (now, or at
//! `retry_at`), or nothing. Dependencies are the caller's to check.

use super::stage::{Recommendation, Stage, Transition};
use crate::model::{RetryRecommendation, TaskResult};

/// Recovery's recommendations (`fix_patches.json` `retries[]`), as the lifecycle asks for
/// them.
pub trait RecoveryAdvice {
    /// The recommendation on `attempt` of `task`.
    fn on(&self, task: &str, attempt: u32) -> Option<&RetryRecommendation>;
    /// The highest attempt of `task` that recovery has a recommendation on (0: none).
    fn latest_judged(&self, task: &str) -> u32;
}

/// The next step a result asks for, dependencies aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
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

/// The recommendation that applies to `entry`: the one on its latest attempt, while it
/// failed and no `phase retry` started a fresh budget after it.
pub fn applicable_recommendation<'a>(
    entry: &TaskResult,
    advice: &'a impl RecoveryAdvice,
) -> Option<&'a RetryRecommendation> {
    if !Stage::of_result(Some(entry)).awaits_recommendation() {
        return None;
    }
    advice.on(&entry.task_id, entry.attempt)
}

/// What task `id` with result `entry` (`None`: no result yet) needs next. `advice` is
/// `None` while `fix_patches.json` is invalid: no retry starts then.
///
/// A task without a result whose earlier attempts recovery already judged (a person
/// deleted its entry to run it again) continues the numbering above them, so the old
/// recommendations, analyses and logs do not apply to the new run.
pub fn next_step(
    id: &str,
    entry: Option<&TaskResult>,
    advice: Option<&impl RecoveryAdvice>,
) -> Next {
    let stage = Stage::of_result(entry);
    let Some(r) = entry else {
        return Next::Attempt {
            attempt: advice.map_or(0, |a| a.latest_judged(id)) + 1,
            patch_id: None,
            not_before: None,
        };
    };
    if stage == Stage::RetryDue {
        return Next::Attempt {
            attempt: r.attempt + 1,
            patch_id: None,
            not_before: None,
        };
    }
    let Some(v) = advice.and_then(|a| applicable_recommendation(r, a)) else {
        return Next::Nothing;
    };
    let retry =
        stage.judge(Recommendation::from_flag(v.retry_recommended)) == Transition::To(stage);
    match &r.retry_at {
        // Until retry_at is set (the executor's next re-derivation), it is not scheduled.
        Some(at) if retry => Next::Attempt {
            attempt: r.attempt + 1,
            patch_id: v.patch_ids.first().cloned(),
            not_before: Some(at.clone()),
        },
        _ => Next::Nothing,
    }
}
