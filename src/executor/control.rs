//! `control.json` requests (`phase cancel`, `phase retry`), each carried out once per
//! task and recorded in the task's `handled_requests`.

use serde_json::json;

use super::{Executor, PHASE};
use crate::model::{EventType, Request, RequestAction, Status, TaskResult, now_rfc3339};
use crate::store::Claim;

impl Executor {
    /// Carries out every request not yet handled.
    pub(super) fn handle_requests(&mut self) {
        let requests = std::mem::take(&mut self.requests);
        for request in &requests {
            if !self.is_handled(request) {
                match request.action {
                    RequestAction::Cancel => self.cancel(request),
                    RequestAction::Retry => self.retry(request),
                }
            }
        }
        self.requests = requests;
    }

    fn is_handled(&self, request: &Request) -> bool {
        let id = &request.request_id;
        let in_progress = self
            .running
            .get(&request.task_id)
            .is_some_and(|t| t.cancel_requests.contains(id));
        in_progress
            || self
                .ledger
                .get(&request.task_id)
                .is_some_and(|r| r.handled_requests.contains(id))
            || self
                .orphan_requests
                .get(&request.task_id)
                .is_some_and(|ids| ids.contains(id))
    }

    /// Whether the task exists for the executor (a decision or a result). A request for a
    /// task not routed yet waits until it is.
    fn knows(&self, task_id: &str) -> bool {
        self.graph.find(task_id).is_some() || self.ledger.get(task_id).is_some()
    }

    fn cancel(&mut self, request: &Request) {
        let id = request.task_id.as_str();
        if let Some(task) = self.running.get_mut(id) {
            // The worker ends the group (SIGTERM, grace, SIGKILL); the attempt then
            // ends `canceled`.
            task.cancel_requests.push(request.request_id.clone());
            task.stop.stop();
            return;
        }
        if !self.knows(id) {
            return;
        }
        match self.ledger.get(id).map(|r| r.status) {
            Some(Status::Succeeded | Status::Canceled) => {
                self.record_handled(id, &request.request_id);
                return;
            }
            // Running elsewhere: its executor cancels it. Running nowhere: the sweep
            // marks it interrupted first.
            Some(Status::Running) => return,
            _ => {}
        }
        // Not running: stop it from starting. The claim keeps another executor from
        // starting it at this very moment.
        let claim = match self.take_claim(id) {
            Ok(Some(claim)) => claim,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(phase = PHASE, task = id, "{e}");
                return;
            }
        };
        // Another executor may have run it and released the claim since we last looked.
        if self.refresh_results() {
            match self.ledger.get(id).map(|r| r.status) {
                Some(Status::Running) => {
                    self.flusher.hold(id, claim);
                    return;
                }
                Some(Status::Succeeded | Status::Canceled) => {
                    self.record_handled(id, &request.request_id);
                    self.flusher.hold(id, claim);
                    return;
                }
                _ => {}
            }
        }
        let tool = self.tool_of(id);
        let r = self.ledger.upsert(id, || TaskResult {
            task_id: id.to_string(),
            tool_id: tool,
            ..TaskResult::default()
        });
        r.status = Status::Canceled;
        r.reason = Some(format!("canceled by request {}", request.request_id));
        r.retry_at = None;
        r.finished_at = Some(now_rfc3339());
        r.budget_from_attempt = r.budget_from_attempt.min(r.attempt);
        r.handled_requests.push(request.request_id.clone());
        let attempt = r.attempt;
        self.carry_orphans(id);
        self.flusher.hold(id, claim);
        self.events.emit(
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
        let Some(status) = self.ledger.get(id).map(|r| r.status) else {
            // Nothing to retry yet (never ran): a no-op, remembered until it has an entry.
            self.orphan_requests
                .entry(id.to_string())
                .or_default()
                .push(request.request_id.clone());
            return;
        };
        if !matches!(
            status,
            Status::Quarantined
                | Status::Failed
                | Status::TimedOut
                | Status::Canceled
                | Status::DepFailed
        ) {
            self.record_handled(id, &request.request_id);
            return;
        }
        let Some(r) = self.ledger.update(id) else {
            return;
        };
        // A fresh budget whose first attempt is the next one; runnable at once.
        r.budget_from_attempt = r.attempt + 1;
        r.retry_at = None;
        r.handled_requests.push(request.request_id.clone());
        let attempt = r.attempt;
        self.events.emit(
            EventType::TaskRetryScheduled,
            PHASE,
            Some(id),
            Some(attempt),
            json!({
                "retry_at": now_rfc3339(),
                "delay_ms": 0,
                "next_attempt": attempt + 1,
                "requested_by": request.request_id,
                "previous_status": status.as_str(),
            }),
        );
    }

    fn record_handled(&mut self, id: &str, request_id: &str) {
        if let Some(r) = self.ledger.update(id) {
            r.handled_requests.push(request_id.to_string());
        }
    }

    /// Moves request ids remembered for a task without an entry into its entry.
    pub(super) fn carry_orphans(&mut self, id: &str) {
        if let Some(ids) = self.orphan_requests.remove(id)
            && let Some(r) = self.ledger.update(id)
        {
            r.handled_requests.extend(ids);
        }
    }

    /// The tool a task's decision names (empty if it has none).
    fn tool_of(&self, id: &str) -> String {
        self.graph
            .find(id)
            .map(|i| self.graph.decision(i).selected_tool.clone())
            .unwrap_or_default()
    }

    /// A claim on `id`: one this process still holds from a finished attempt, or a new one.
    /// `Ok(None)`: another process holds it.
    pub(super) fn take_claim(&mut self, id: &str) -> crate::Result<Option<Claim>> {
        match self.flusher.take(id) {
            Some(claim) => Ok(Some(claim)),
            None => Claim::try_acquire(&self.state, id),
        }
    }

    /// Re-reads the results file if someone else changed it; `true` if it did (or it is
    /// invalid now), so the caller must look at the task again.
    pub(super) fn refresh_results(&mut self) -> bool {
        match self.results.poll(&self.events) {
            Ok(super::Seen::Changed(doc)) => {
                self.ledger.adopt(doc);
                self.needs_plan = true;
                true
            }
            Ok(super::Seen::Recovered) => {
                self.needs_plan = true;
                false
            }
            Ok(super::Seen::Unchanged) => false,
            Ok(super::Seen::Broken) => true,
            Err(e) => {
                tracing::warn!(phase = PHASE, "{e}");
                false
            }
        }
    }
}
