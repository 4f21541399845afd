//! `control.json` requests (`phase cancel`, `phase retry`), each carried out once per task
//! and recorded in the task's `handled_requests`; what each does to a task is the
//! lifecycle's [`Stage::cancel`] and [`Stage::retry`].
//!
//! [`Stage::cancel`]: crate::lifecycle::Stage::cancel
//! [`Stage::retry`]: crate::lifecycle::Stage::retry

use serde_json::json;

use crate::executor::book::RetryOutcome;
use crate::executor::{Executor, PHASE};
use crate::lifecycle::Transition;
use crate::model::{EventType, Request, RequestAction, now_rfc3339};

impl Executor {
    /// Carries out every request not yet handled.
    pub(in crate::executor) fn handle_requests(&mut self) {
        let requests = self.inputs.take_requests();
        for request in &requests {
            if !self.is_handled(request) {
                match request.action {
                    RequestAction::Cancel => self.cancel(request),
                    RequestAction::Retry | RequestAction::Rerun => self.retry(request),
                }
            }
        }
        self.inputs.put_requests(requests);
    }

    fn is_handled(&self, request: &Request) -> bool {
        let (task, id) = (&request.task_id, &request.request_id);
        self.supervisor.is_canceling(task, id) || self.book.has_handled(task, id)
    }

    /// Whether the task exists for the executor (a decision or a result). A request for a
    /// task not routed yet waits until it is.
    fn knows(&self, task_id: &str) -> bool {
        self.schedule.graph().find(task_id).is_some() || self.book.get(task_id).is_some()
    }

    fn cancel(&mut self, request: &Request) {
        let id = request.task_id.as_str();
        if let Some(task) = self.supervisor.get_mut(id) {
            // The runner ends the group (SIGTERM, grace, SIGKILL); the attempt then
            // ends `canceled`.
            task.cancel_requests.push(request.request_id.clone());
            self.supervisor.cancel(id);
            self.supervisor.cancel_followers(id);
            return;
        }
        if !self.knows(id) {
            return;
        }
        match self.book.stage(id).cancel() {
            Transition::Stay => return self.book.record_handled(id, &request.request_id),
            // Running elsewhere: a live executor cancels it itself; one left by an engine
            // that died is ended through its fence's group by the foreign watch, and
            // the request recorded with its outcome.
            Transition::StopAttempt => {
                self.supervisor.foreign.cancel(id, &request.request_id);
                return;
            }
            Transition::To(_) | Transition::Revert => {}
        }
        // Not running: stop it from starting. The claim keeps another executor from
        // starting it at this very moment.
        let claim = match self.supervisor.take_claim(&self.site.state, id) {
            Ok(Some(claim)) => claim,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(phase = PHASE, task = id, "{e}");
                return;
            }
        };
        // Another executor may have run it and released the claim since we last looked.
        if self.refresh_results() {
            match self.book.stage(id).cancel() {
                Transition::StopAttempt => return self.supervisor.claims.hold(id, claim),
                Transition::Stay => {
                    self.book.record_handled(id, &request.request_id);
                    return self.supervisor.claims.hold(id, claim);
                }
                Transition::To(_) | Transition::Revert => {}
            }
        }
        let tool = self
            .schedule
            .graph()
            .find(id)
            .map(|i| self.schedule.graph().decision(i).selected_tool.clone())
            .unwrap_or_default();
        let attempt = self.book.cancel_unstarted(id, tool, &request.request_id);
        self.supervisor.claims.hold(id, claim);
        self.site.events.emit(
            EventType::TaskCanceled,
            PHASE,
            Some(id),
            Some(attempt),
            json!({ "request_id": request.request_id, "was_running": false }),
        );
    }

    fn retry(&mut self, request: &Request) {
        let id = request.task_id.as_str();
        if !self.knows(id) {
            return;
        }
        let RetryOutcome::Applied { attempt, previous } =
            self.book
                .request_retry(id, &request.request_id, request.action)
        else {
            return;
        };
        self.site.events.emit(
            EventType::TaskRetryScheduled,
            PHASE,
            Some(id),
            Some(attempt),
            json!({
                "retry_at": now_rfc3339(),
                "delay_ms": 0,
                "next_attempt": attempt + 1,
                "requested_by": request.request_id,
                "previous_status": previous.as_str(),
            }),
        );
    }
}
