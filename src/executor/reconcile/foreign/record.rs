//! Recording what a foreign attempt left (docs/ATTEMPTS.md, "What a restarted engine
//! does"): from its outcome record, or as interrupted — after killing what is left of its
//! group, as its runner died — or, for a task whose entry a person deleted, nothing: it
//! runs again above its fence.

use crate::executor::supervisor::{Done, RunningTask};
use crate::executor::{Executor, PHASE};
use crate::lifecycle::Stage;
use crate::model::{Attempt, AttemptOutcome, EventType};
use crate::runner::AttemptFinished;
use crate::store::{Fence, read_outcome};

impl Executor {
    /// An adopted attempt of `id`, not in the results file yet: `running` from now on.
    pub(super) fn record_adopted(&mut self, id: &str, fence: &Fence) {
        tracing::info!(phase = PHASE, task = %id, attempt = fence.attempt, runner = %fence.runner, "adopted a running attempt whose engine is gone");
        let record = self.foreign_record(id, fence.attempt, &fence.started_at, &fence.runner);
        let metadata = self.metadata_of(id);
        self.book.start_attempt(id, record, metadata);
    }

    /// The `running` attempt `attempt` of `id`, whose claim is free: from its outcome
    /// record if it ran (`fence`) and left one, else interrupted.
    pub(super) fn record_left(&mut self, id: &str, attempt: u32, fence: Option<&Fence>) -> bool {
        if let Some(fence) = fence {
            if let Some(outcome) = self.outcome_record(id, attempt) {
                self.record_outcome(id, &outcome);
                return true;
            }
            kill_leftovers(fence);
        }
        self.interrupt_running(id)
    }

    /// An attempt the fence names and the results file does not have.
    pub(super) fn record_ahead(&mut self, id: &str, fence: &Fence) -> bool {
        if let Some(outcome) = self.outcome_record(id, fence.attempt) {
            self.record_outcome(id, &outcome);
            return true;
        }
        let left = kill_leftovers(fence);
        if self.book.get(id).is_none() && !left {
            // No entry and nothing of it left: a person deleted the entry (its outcome
            // was recorded and acked long ago). The task runs again above its fence.
            self.supervisor.raise_floor(id, fence.attempt + 1);
            return false;
        }
        let record = self.foreign_record(id, fence.attempt, &fence.started_at, &fence.runner);
        let metadata = self.metadata_of(id);
        self.book.start_attempt(id, record, metadata);
        let task = self.foreign_task(id, fence.attempt);
        self.finish(Done::interrupted(id, &fence.started_at), task);
        true
    }

    /// Records an attempt from its outcome record; the record is removed once the
    /// results are on disk.
    fn record_outcome(&mut self, id: &str, outcome: &AttemptOutcome) {
        let attempt = outcome.attempt;
        let shown = self
            .book
            .get(id)
            .is_some_and(|r| r.attempt == attempt && Stage::of_result(Some(r)) == Stage::Running);
        if !shown {
            let record = self.foreign_record(id, attempt, &outcome.started_at, &outcome.runner);
            let metadata = self.metadata_of(id);
            self.book.start_attempt(id, record, metadata);
        }
        let task = self.foreign_task(id, attempt);
        let finished = AttemptFinished::from_outcome(outcome);
        self.finish(Done::from_report(&finished, Vec::new()), task);
        self.supervisor.acks.remove_later(id, attempt);
    }

    /// The `running` entry of `id` ends `interrupted` (TASK_FAILED).
    pub(super) fn interrupt_running(&mut self, id: &str) -> bool {
        let Some((attempt, executor)) = self.book.interrupt(id) else {
            return false;
        };
        tracing::warn!(phase = PHASE, task = %id, attempt, "attempt interrupted: its runner ({executor}) is gone and left no outcome record");
        self.site.events.emit(
            EventType::TaskFailed,
            PHASE,
            Some(id),
            Some(attempt),
            serde_json::json!({ "reason": crate::executor::book::INTERRUPTED, "exit_code": null, "executor": executor, "stderr_tail": "" }),
        );
        true
    }

    /// `attempts/<id>/<attempt>.json`, if written (an unreadable one is reported and
    /// counts as none).
    pub(super) fn outcome_record(&self, id: &str, attempt: u32) -> Option<AttemptOutcome> {
        match read_outcome(&self.site.state, id, attempt) {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::warn!(phase = PHASE, task = %id, attempt, "{e}");
                None
            }
        }
    }

    /// The record of an attempt another process started.
    fn foreign_record(&self, id: &str, attempt: u32, started_at: &str, runner: &str) -> Attempt {
        let tool = self
            .book
            .get(id)
            .map(|r| r.tool_id.clone())
            .filter(|t| !t.is_empty())
            .or_else(|| {
                let graph = self.schedule.graph();
                graph
                    .find(id)
                    .map(|t| graph.decision(t).selected_tool.clone())
            })
            .unwrap_or_default();
        Attempt {
            attempt,
            tool_id: tool,
            started_at: started_at.to_string(),
            log_out: format!("logs/{id}/{attempt}.out"),
            log_err: format!("logs/{id}/{attempt}.err"),
            executor: runner.to_string(),
            ..Attempt::default()
        }
    }

    /// How the ending of another process's attempt is judged: with the cancel requests
    /// taken on for it here (it ends `canceled` then), without `require_changes` (what it
    /// changed was never measured).
    fn foreign_task(&mut self, id: &str, attempt: u32) -> RunningTask {
        let tool = self
            .book
            .get(id)
            .map(|r| r.tool_id.clone())
            .unwrap_or_default();
        let mut task = RunningTask::new(attempt, tool);
        if let Some(w) = self.supervisor.foreign.get_mut(id) {
            task.cancel_requests = std::mem::take(&mut w.cancel_requests);
        }
        task
    }

    /// The task's metadata from its decision.
    fn metadata_of(&self, id: &str) -> crate::model::Metadata {
        let graph = self.schedule.graph();
        graph
            .find(id)
            .map(|t| graph.decision(t).metadata.clone())
            .unwrap_or_default()
    }
}

/// SIGKILLs what is left of the fence's process group (its runner died, so nothing else
/// will); whether anything was.
fn kill_leftovers(fence: &Fence) -> bool {
    let Some(pid) = fence
        .pgid
        .and_then(|p| i32::try_from(p).ok())
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    // Signal 0: is any process of the group still there?
    if rustix::process::test_kill_process_group(pid).is_err() {
        return false;
    }
    tracing::warn!(phase = PHASE, task = %fence.task, attempt = fence.attempt, pgid = pid.as_raw_nonzero().get(), "killing what its dead runner left running");
    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    true
}
