//! Recovery's recommendations on failed attempts ([`Stage::judge`]): giving up
//! quarantines the task; a retry sets `retry_at = finished_at + back-off` the first time
//! it is seen, and the schedule starts the next attempt then.
//!
//! [`Stage::judge`]: crate::lifecycle::Stage::judge

use serde_json::json;

use crate::executor::{Executor, PHASE, times};
use crate::lifecycle::{Recommendation, Stage, Transition, applicable_recommendation};
use crate::model::EventType;

impl Executor {
    /// Acts on every recommendation that applies and has not been acted on.
    pub(in crate::executor) fn apply_recommendations(&mut self) {
        let Some(advice) = self.inputs.advice() else {
            return;
        };
        let mut quarantine = Vec::new();
        let mut schedule = Vec::new();
        for r in self.book.entries() {
            if self.supervisor.runs(&r.task_id) {
                continue;
            }
            let Some(v) = applicable_recommendation(r, advice) else {
                continue;
            };
            let stage = Stage::of_result(Some(r));
            match stage.judge(Recommendation::from_flag(v.retry_recommended)) {
                Transition::To(Stage::Quarantined) => quarantine.push(r.task_id.clone()),
                Transition::To(_) if r.retry_at.is_none() => schedule.push(r.task_id.clone()),
                _ => {}
            }
        }
        for id in quarantine {
            self.book.quarantine(&id);
        }
        for id in schedule {
            self.schedule_retry(&id);
        }
    }

    /// Sets `retry_at` for the recommended retry of `id` and announces it.
    fn schedule_retry(&mut self, id: &str) {
        let config = &self.site.config;
        let backoff = match self.schedule.graph().find(id) {
            Some(i) => config.backoff(&self.schedule.graph().decision(i).task),
            None => config.execution.backoff,
        };
        let (Some(advice), Some(r)) = (self.inputs.advice(), self.book.get(id)) else {
            return;
        };
        let Some(recommendation) = applicable_recommendation(r, advice) else {
            return;
        };
        let failures = r.failures_in_budget().max(1);
        let delay_ms = backoff.delay_ms(failures);
        let finished = r
            .finished_at
            .as_deref()
            .and_then(times::parse)
            .unwrap_or_else(jiff::Timestamp::now);
        let retry_at = times::format(times::add_ms(finished, delay_ms));
        let ladder_step = recommendation.ladder_step.clone();
        let patch_ids = recommendation.patch_ids.clone();
        let Some(attempt) = self.book.schedule_retry(id, retry_at.clone()) else {
            return;
        };
        let data = json!({
            "retry_at": retry_at,
            "delay_ms": delay_ms,
            "next_attempt": attempt + 1,
            "failures": failures,
            "ladder_step": ladder_step,
            "patch_ids": patch_ids,
        });
        self.site.events.emit(
            EventType::TaskRetryScheduled,
            PHASE,
            Some(id),
            Some(attempt),
            data,
        );
    }
}
