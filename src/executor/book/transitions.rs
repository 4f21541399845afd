//! The lifecycle's transitions applied to result entries: each method asks [`Stage`]
//! where the event leads and writes that, with the fields that go with it. The writes of
//! a status are here ([`enter`], [`revert`]); `attempts` applies an attempt's start and end
//! through them.

use super::ResultsBook;
use crate::lifecycle::{Stage, Transition, reverted_status};
use crate::model::{Attempt, RoutingDecision, Status, TaskResult, now_rfc3339};

/// What a `retry` request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::executor) enum RetryOutcome {
    /// A fresh budget from the next attempt; the entry had `previous` status at `attempt`.
    Applied { attempt: u32, previous: Status },
    /// Nothing to retry (running, succeeded); recorded as handled.
    Recorded,
    /// The task has no entry yet: remembered until it has one.
    Remembered,
}

impl ResultsBook {
    /// The stage `id`'s entry records.
    pub(in crate::executor) fn stage(&self, id: &str) -> Stage {
        Stage::of_result(self.get(id))
    }

    /// Recovery gave up on `id`'s latest attempt.
    pub(in crate::executor) fn quarantine(&mut self, id: &str) {
        let stage = self.stage(id);
        let Transition::To(to) = stage.judge(crate::lifecycle::Recommendation::GiveUp) else {
            return;
        };
        if let Some(r) = self.update(id) {
            enter(r, to);
            r.retry_at = None;
        }
    }

    /// Recovery recommends a retry of `id`'s latest attempt, not before `retry_at`.
    /// Returns that attempt.
    pub(in crate::executor) fn schedule_retry(
        &mut self,
        id: &str,
        retry_at: String,
    ) -> Option<u32> {
        let r = self.update(id)?;
        r.retry_at = Some(retry_at);
        Some(r.attempt)
    }

    /// `cancel` of a task that does not run: it will not. Returns its attempt.
    pub(in crate::executor) fn cancel_unstarted(
        &mut self,
        id: &str,
        tool: String,
        request_id: &str,
    ) -> u32 {
        let to = target(id, self.stage(id), Stage::cancel, Stage::Canceled);
        let r = self.upsert(id, || TaskResult {
            task_id: id.to_string(),
            tool_id: tool,
            ..TaskResult::default()
        });
        enter(r, to);
        r.reason = Some(format!("canceled by request {request_id}"));
        r.retry_at = None;
        r.finished_at = Some(now_rfc3339());
        r.budget_from_attempt = r.budget_from_attempt.min(r.attempt);
        r.handled_requests.push(request_id.to_string());
        let attempt = r.attempt;
        self.carry_orphans(id);
        attempt
    }

    /// `retry` (or `rerun`) of `id`: a fresh budget from the next attempt, where the
    /// lifecycle allows.
    pub(in crate::executor) fn request_retry(
        &mut self,
        id: &str,
        request_id: &str,
        action: crate::model::RequestAction,
    ) -> RetryOutcome {
        let Some(r) = self.get(id) else {
            self.remember_handled(id, request_id);
            return RetryOutcome::Remembered;
        };
        let previous = r.status;
        let stage = Stage::of_result(Some(r));
        let asked = match action {
            crate::model::RequestAction::Rerun => stage.rerun(),
            _ => stage.retry(),
        };
        let Transition::To(_) = asked else {
            self.record_handled(id, request_id);
            return RetryOutcome::Recorded;
        };
        let Some(r) = self.update(id) else {
            return RetryOutcome::Recorded;
        };
        // Runnable at once; its `dep_failed` dependents recover by re-derivation.
        r.budget_from_attempt = r.attempt + 1;
        r.retry_at = None;
        r.handled_requests.push(request_id.to_string());
        RetryOutcome::Applied {
            attempt: r.attempt,
            previous,
        }
    }

    /// A dependency of `decision`'s task can never succeed, `cause` says why. Returns
    /// its attempt.
    pub(in crate::executor) fn mark_dep_failed(
        &mut self,
        decision: &RoutingDecision,
        cause: String,
    ) -> u32 {
        let id = decision.task_id.as_str();
        let to = target(
            id,
            self.stage(id),
            Stage::dependency_failed,
            Stage::DepFailed,
        );
        let carried = self.orphan_requests.remove(id).unwrap_or_default();
        let r = self.upsert(id, || TaskResult {
            task_id: id.to_string(),
            tool_id: decision.selected_tool.clone(),
            metadata: decision.metadata.clone(),
            ..TaskResult::default()
        });
        enter(r, to);
        r.reason = Some(cause);
        r.retry_at = None;
        r.finished_at = Some(now_rfc3339());
        r.handled_requests.extend(carried);
        r.attempt
    }

    /// The causes of these tasks' `dep_failed` went away: one that never ran loses its
    /// entry (it is blocked or runnable again); one that ran gets its latest attempt's
    /// outcome back.
    pub(in crate::executor) fn lift_dep_failed<'a>(
        &mut self,
        ids: impl IntoIterator<Item = &'a str>,
    ) {
        let mut remove = std::collections::HashSet::new();
        for id in ids {
            if self.stage(id).dependencies_recovered() != Transition::Revert {
                continue;
            }
            let Some(r) = self.update(id) else {
                continue;
            };
            match r.attempts.last() {
                None => {
                    let handled = std::mem::take(&mut r.handled_requests);
                    if !handled.is_empty() {
                        self.orphan_requests
                            .entry(id.to_string())
                            .or_default()
                            .extend(handled);
                    }
                    remove.insert(id.to_string());
                }
                Some(last) => {
                    let status = last.status;
                    r.reason = last.reason.clone();
                    r.exit_code = last.exit_code;
                    r.finished_at = last.finished_at.clone();
                    revert(r, status);
                }
            }
        }
        self.remove(&remove);
    }
}

/// Writes the status of the stage `r` moves to ([`Stage::RetryDue`] keeps its own).
pub(super) fn enter(r: &mut TaskResult, to: Stage) {
    if let Some(status) = to.status() {
        r.status = status;
    }
}

/// Puts back the status of a `dep_failed` entry's latest attempt ([`reverted_status`]).
fn revert(r: &mut TaskResult, latest_attempt: Status) {
    r.status = reverted_status(latest_attempt);
}

/// The same as [`enter`] for an attempt record.
pub(super) fn enter_attempt(a: &mut Attempt, to: Stage) {
    if let Some(status) = to.status() {
        a.status = status;
    }
}

/// Where `event` takes `id` from `stage`. The executor offers an event only where the
/// lifecycle allows it; if that ever fails, what happened is still recorded (`fallback`),
/// with a warning, rather than lost.
pub(super) fn target(
    id: &str,
    stage: Stage,
    event: impl FnOnce(Stage) -> Transition,
    fallback: Stage,
) -> Stage {
    match event(stage) {
        Transition::To(to) => to,
        other => {
            tracing::warn!(
                phase = crate::executor::PHASE,
                task = id,
                "the lifecycle does not move {stage:?} to {fallback:?} ({other:?}); recorded anyway"
            );
            fallback
        }
    }
}
