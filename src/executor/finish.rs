//! Recording a finished attempt: its status and reason, the attempt record, the event,
//! the claim kept until the result is written, and what it unlocks (incrementally: only
//! the dependents of the task are looked at).

use serde_json::json;

use super::attempt::{Done, End};
use super::interrupted::INTERRUPTED;
use super::{Executor, PHASE, RunningTask};
use crate::model::{EventType, Status, TaskResult};

impl Executor {
    /// A worker reported `done`.
    pub(super) fn record_done(&mut self, done: Done) {
        let Some(task) = self.running.remove(&done.task_id) else {
            tracing::warn!(phase = PHASE, task = %done.task_id, "a finished attempt nobody was waiting for");
            return;
        };
        if done.attempt != task.attempt {
            tracing::warn!(phase = PHASE, task = %done.task_id, "worker reported attempt {} for attempt {}", done.attempt, task.attempt);
        }
        if let Some(n) = self.per_tool.get_mut(&task.tool) {
            *n = n.saturating_sub(1);
        }
        self.queue.tool_freed(&task.tool);
        self.finish(done, task);
    }

    /// Records how the attempt `task` ended.
    pub(super) fn finish(&mut self, done: Done, task: RunningTask) {
        let (status, reason) = ending(&done, &task);
        let (exit_code, signal) = match &done.end {
            End::Exited(f) => (f.exit_code, f.signal),
            End::NotStarted(_) => (None, None),
        };
        let id = done.task_id.clone();
        let attempt = task.attempt;
        let r = self.ledger.upsert(&id, || TaskResult {
            task_id: id.clone(),
            tool_id: task.tool.clone(),
            ..TaskResult::default()
        });
        r.attempt = attempt;
        r.status = status;
        r.reason = reason.clone();
        r.exit_code = exit_code;
        r.duration_ms = done.duration_ms;
        r.files_modified = done.files_modified.clone();
        r.started_at = done.started_at.clone();
        r.finished_at = Some(done.finished_at.clone());
        r.retry_at = None;
        let index = match r.attempts.iter().rposition(|a| a.attempt == attempt) {
            Some(i) => i,
            None => {
                // A person removed the entry while it ran: the attempt still happened.
                r.attempts.push(crate::model::Attempt {
                    attempt,
                    tool_id: task.tool.clone(),
                    log_out: format!("logs/{id}/{attempt}.out"),
                    log_err: format!("logs/{id}/{attempt}.err"),
                    executor: self.executor_id.clone(),
                    ..crate::model::Attempt::default()
                });
                r.attempts.len() - 1
            }
        };
        let a = &mut r.attempts[index];
        a.status = status;
        a.exit_code = exit_code;
        a.signal = signal;
        a.reason = reason.clone();
        a.started_at = done.started_at.clone();
        a.finished_at = Some(done.finished_at.clone());
        a.duration_ms = done.duration_ms;
        a.stderr_tail = done.stderr_tail.clone();
        a.files_modified = done.files_modified.clone();
        r.handled_requests
            .extend(task.cancel_requests.iter().cloned());
        self.carry_orphans(&id);
        self.flusher.hold(&id, task.claim);

        let data = match status {
            Status::Succeeded => json!({
                "exit_code": exit_code,
                "duration_ms": done.duration_ms,
                "files_modified": done.files_modified,
            }),
            Status::Canceled => json!({
                "request_id": task.cancel_requests.first(),
                "was_running": true,
                "exit_code": exit_code,
                "signal": signal,
            }),
            _ => json!({
                "exit_code": exit_code,
                "signal": signal,
                "reason": reason,
                "stderr_tail": done.stderr_tail,
                "duration_ms": done.duration_ms,
                "timed_out": status == Status::TimedOut,
            }),
        };
        let kind = match status {
            Status::Succeeded => EventType::TaskSucceeded,
            Status::Canceled => EventType::TaskCanceled,
            _ => EventType::TaskFailed,
        };
        self.events
            .emit(kind, PHASE, Some(&id), Some(attempt), data);

        match status {
            Status::Succeeded => self.unlock_dependents(&id),
            // Its dependents can no longer run.
            Status::Canceled => self.needs_plan = true,
            _ => {}
        }
    }

    /// `id` succeeded: each dependent has one unmet dependency less.
    fn unlock_dependents(&mut self, id: &str) {
        let Some(t) = self.graph.find(id) else {
            return;
        };
        if self.unmet.len() != self.graph.len() {
            self.needs_plan = true;
            return;
        }
        for i in 0..self.graph.dependents(t).len() {
            let d = self.graph.dependents(t)[i];
            self.unmet[d] = self.unmet[d].saturating_sub(1);
            if self.unmet[d] == 0 {
                self.consider(d);
            }
        }
    }
}

/// Status and reason of an attempt, from how it ended and why it was stopped.
fn ending(done: &Done, task: &RunningTask) -> (Status, Option<String>) {
    if let Some(request) = task.cancel_requests.first() {
        return (
            Status::Canceled,
            Some(format!("canceled by request {request}")),
        );
    }
    if task.interrupted {
        return (Status::Failed, Some(INTERRUPTED.to_string()));
    }
    match &done.end {
        End::NotStarted(reason) => (Status::Failed, Some(reason.clone())),
        End::Exited(f) if f.timed_out => (Status::TimedOut, Some(f.describe(task.timeout))),
        End::Exited(f) if f.success() => (Status::Succeeded, None),
        End::Exited(f) => (Status::Failed, Some(f.describe(None))),
    }
}
