//! Finished attempts — ours, and adopted ones recorded from their outcome records: how
//! each ended (status and reason), its record, its event, and what it unlocks —
//! incrementally: only the dependents of the task are looked at.

use serde_json::json;

use crate::executor::book::{AttemptEnd, INTERRUPTED};
use crate::executor::supervisor::{Done, End, RunningTask};
use crate::executor::{Executor, PHASE};
use crate::lifecycle::Ending;
use crate::model::EventType;

/// The reason of an attempt that exited 0 without changing any of its files, for a tool
/// that must change something (an agent: it may exit 0 having done nothing).
const NOTHING_CHANGED: &str = "exit code 0, but none of the task's files changed";

impl Executor {
    /// Records how the attempt `task` ended.
    pub(in crate::executor) fn finish(&mut self, done: Done, task: RunningTask) {
        if matches!(done.end, End::Exited(_)) {
            self.schedule.depth.note(done.duration_ms);
        }
        let (ending, reason) = ending(&done, &task);
        let ending = self.gated(&done.task_id, ending);
        // Agents: what the CLI reported it used, and an isolated attempt's change merged
        // back, a conflict failing it — after its gate, if it has one (src/agent/ended.rs;
        // one lookup for other tasks).
        let (site, entry) = (&self.site, self.book.get(&done.task_id));
        let agent = crate::agent::end_attempt(
            &site.state,
            &site.config,
            entry,
            &done.task_id,
            task.attempt,
            ending,
        );
        let (ending, reason) = match agent.failure.clone() {
            Some(why) => (Ending::Failed, Some(why)),
            None => (ending, reason),
        };
        let (exit_code, signal) = match &done.end {
            End::Exited(f) => (f.exit_code, f.signal),
            End::NotStarted(_) => (None, None),
        };
        let id = done.task_id.clone();
        let attempt = task.attempt;
        let end = AttemptEnd {
            done: &done,
            ending,
            reason: reason.clone(),
            exit_code,
            signal,
            tool: &task.tool,
            attempt,
            cancel_requests: &task.cancel_requests,
        };
        self.book.end_attempt(&id, &end, &self.site.executor_id);
        self.book.record_agent(&id, attempt, agent);

        let (kind, data) = match ending {
            Ending::Succeeded => (
                EventType::TaskSucceeded,
                json!({
                    "exit_code": exit_code,
                    "duration_ms": done.duration_ms,
                    "files_modified": done.files_modified,
                }),
            ),
            Ending::AwaitsGate => (
                EventType::TaskVerifying,
                self.verifying_data(&id, exit_code, &done),
            ),
            Ending::Canceled => (
                EventType::TaskCanceled,
                json!({
                    "request_id": task.cancel_requests.first(),
                    "was_running": true,
                    "exit_code": exit_code,
                    "signal": signal,
                }),
            ),
            Ending::Failed | Ending::TimedOut => (
                EventType::TaskFailed,
                json!({
                    "exit_code": exit_code,
                    "signal": signal,
                    "reason": reason,
                    "stderr_tail": done.stderr_tail,
                    "duration_ms": done.duration_ms,
                    "timed_out": ending == Ending::TimedOut,
                }),
            ),
        };
        self.site
            .events
            .emit(kind, PHASE, Some(&id), Some(attempt), data);

        match ending {
            Ending::Succeeded => self.unlock_dependents(&id),
            // Its dependents can no longer run.
            Ending::Canceled => self.needs_plan = true,
            // Recovery waits for it to run the gate.
            Ending::AwaitsGate => self.book.hurry(),
            Ending::Failed | Ending::TimedOut => {}
        }
    }

    /// `id` succeeded: each dependent has one unmet dependency less.
    fn unlock_dependents(&mut self, id: &str) {
        let Some(t) = self.schedule.graph().find(id) else {
            return;
        };
        match self.schedule.succeeded(t) {
            Some(unblocked) => {
                for d in unblocked {
                    self.consider(d);
                }
            }
            None => self.needs_plan = true,
        }
    }
}

/// How an attempt ended and why, from what its runner saw and why it was stopped.
fn ending(done: &Done, task: &RunningTask) -> (Ending, Option<String>) {
    if let Some(request) = task.cancel_requests.first() {
        return (
            Ending::Canceled,
            Some(format!("canceled by request {request}")),
        );
    }
    if done.canceled {
        // Canceled at a request this process did not see (an earlier engine's).
        return (Ending::Canceled, Some("canceled".to_string()));
    }
    if task.interrupted || done.interrupted {
        return (Ending::Failed, Some(INTERRUPTED.to_string()));
    }
    match &done.end {
        End::NotStarted(reason) => (Ending::Failed, Some(reason.clone())),
        End::Exited(f) if f.timed_out => (Ending::TimedOut, Some(f.describe(task.timeout))),
        End::Exited(f) if f.success() && task.require_changes && done.files_modified.is_empty() => {
            (
                Ending::Failed,
                Some(format!(
                    "{NOTHING_CHANGED} (tools.{}.require_changes)",
                    task.tool
                )),
            )
        }
        End::Exited(f) if f.success() => (Ending::Succeeded, None),
        End::Exited(f) => (Ending::Failed, Some(f.describe(None))),
    }
}
