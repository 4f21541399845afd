//! What the attempt runner reports (docs/ATTEMPTS.md, "The protocol"): `started` records
//! the attempt `running`; `finished` records how it ended and acks it after the next
//! results write; `fenced` hands the task to the foreign watch (another process runs it,
//! or its fence names an attempt the results file does not have); `Gone` — the runner
//! died — hands every attempt it ran to the foreign watch, and a new runner starts.

use std::time::{Duration, Instant};

use crate::executor::supervisor::{Done, RunningTask};
use crate::executor::{Executor, PHASE};
use crate::model::EventType;
use crate::runner::{AttemptFinished, Refusal, RunnerEvent, RunnerMessage};
use crate::store::{Claim, Fence};

impl Executor {
    /// Takes every report the runner sent.
    pub(in crate::executor) fn collect_reports(&mut self) {
        while let Some(report) = self.supervisor.try_report() {
            self.on_report(report);
        }
    }

    /// One report.
    pub(in crate::executor) fn on_report(&mut self, report: RunnerEvent) {
        match report {
            RunnerEvent::Message(RunnerMessage::Started {
                task,
                attempt,
                started_at,
                ..
            }) => self.on_started(&task, attempt, Some(started_at)),
            RunnerEvent::Message(RunnerMessage::Finished(f)) => self.on_finished(&f),
            RunnerEvent::Message(RunnerMessage::Fenced {
                task,
                attempt,
                why,
                message,
                ..
            }) => self.on_fenced(&task, attempt, why, message),
            RunnerEvent::Message(RunnerMessage::Ready { .. }) => {}
            RunnerEvent::Gone => self.on_runner_gone(),
        }
    }

    /// Our attempt `attempt` of `id` runs: recorded `running` (from when the runner
    /// started it: it may have waited in the runner's queue), TASK_STARTED.
    fn on_started(&mut self, id: &str, attempt: u32, started_at: Option<String>) {
        if let Some(task) = self.supervisor.get_mut(id)
            && task.attempt == attempt
            && let Some(mut launch) = task.launch.take()
        {
            if let Some(at) = started_at {
                launch.record.started_at = at;
            }
            self.supervisor.started_fine(id);
            self.book.start_attempt(id, launch.record, launch.metadata);
            self.site.events.emit(
                EventType::TaskStarted,
                PHASE,
                Some(id),
                Some(attempt),
                launch.event,
            );
        }
    }

    /// Our attempt ended (or never started): recorded, acked after the next write.
    fn on_finished(&mut self, f: &AttemptFinished) {
        let id = f.task.as_str();
        if self
            .supervisor
            .get_mut(id)
            .is_none_or(|t| t.attempt != f.attempt)
        {
            tracing::warn!(phase = PHASE, task = %id, attempt = f.attempt, "a finished attempt nobody was waiting for");
            return;
        }
        // A report without `started` before it: recorded as started now.
        self.on_started(id, f.attempt, None);
        let Some(mut task) = self.supervisor.remove(id) else {
            return;
        };
        self.schedule.tool_ended(&task.tool);
        let files_modified = match (f.pid, task.changes.take()) {
            (Some(_), Some((probe, before))) => probe.changed_since(&before),
            _ => Vec::new(),
        };
        self.finish(Done::from_report(f, files_modified), task);
        // A Slurm job's final state, beside its job id (docs/SLURM.md).
        if let Some(state) = self.supervisor.slurm.take_state(id, f.attempt) {
            self.book.record_slurm_state(id, f.attempt, &state);
        }
        self.supervisor.acks.ack_later(id, f.attempt);
    }

    /// The runner did not start our attempt, and wrote nothing.
    fn on_fenced(&mut self, id: &str, attempt: u32, why: Refusal, message: String) {
        if self
            .supervisor
            .get_mut(id)
            .is_none_or(|t| t.attempt != attempt)
        {
            return;
        }
        let Some(task) = self.supervisor.remove(id) else {
            return;
        };
        self.schedule.tool_ended(&task.tool);
        // A cancel request it carried is carried out again on the task as it now stands.
        self.needs_plan = true;
        let now = Instant::now();
        match why {
            // Someone holds the claim: looked at again until it is free, then what the
            // fence says is recorded.
            Refusal::Busy => {
                let poll = Duration::from_millis(self.site.config.state.poll_interval_ms);
                self.supervisor.foreign.watch(id, now + poll);
            }
            // The fence names this attempt or a later one: that one is recorded (from
            // its outcome record, or as interrupted) before the next starts.
            Refusal::Started => self.supervisor.foreign.watch(id, now),
            // Never started: planned again as the task now stands.
            Refusal::ShuttingDown | Refusal::Withdrawn | Refusal::Unmet => {}
            Refusal::Error => self.on_unfenced(id, task, &message),
        }
    }

    /// The claim or its fence could not be used. A claims file that is broken (a fence
    /// that does not parse, a planted link) stays broken: the attempt is recorded as one
    /// that could not start, naming the file. Anything else (a full disk, no descriptors
    /// left) passes: the task is tried again later, waiting longer each time.
    fn on_unfenced(&mut self, id: &str, mut task: RunningTask, message: &str) {
        let state = &self.site.state;
        let broken = (Claim::is_held(state, id).err())
            .filter(crate::Error::is_content_error)
            .or_else(|| {
                Fence::read(state, id)
                    .err()
                    .filter(crate::Error::is_content_error)
            });
        match broken {
            Some(e) => {
                tracing::warn!(phase = PHASE, task = %id, "{e}");
                if let Some(launch) = task.launch.take() {
                    self.book.start_attempt(id, launch.record, launch.metadata);
                }
                self.finish(Done::not_started(id, format!("cannot start: {e}")), task);
            }
            _ => {
                let poll = Duration::from_millis(self.site.config.state.poll_interval_ms);
                let delay = self.supervisor.unfenced_delay(id, poll);
                tracing::warn!(phase = PHASE, task = %id, "cannot start it now ({message}); trying again in {delay:?}");
                if let Some(t) = self.schedule.graph().find(id) {
                    self.schedule.at(Instant::now() + delay, t);
                }
            }
        }
    }

    /// The runner died: its attempts are looked at as foreign ones (their outcome
    /// records, or interrupted), and a new runner starts.
    fn on_runner_gone(&mut self) {
        let now = Instant::now();
        for (id, task) in self.supervisor.runner_lost() {
            self.schedule.tool_ended(&task.tool);
            self.supervisor.foreign.watch(&id, now);
        }
        self.needs_plan = true;
    }
}

/// TASK_STARTED's data.
pub(in crate::executor) fn started_event(
    record: &crate::model::Attempt,
    workdir: &std::path::Path,
) -> serde_json::Value {
    serde_json::json!({
        "tool": record.tool_id,
        "argv": record.argv,
        "workdir": workdir.display().to_string(),
        "log_out": record.log_out,
        "log_err": record.log_err,
        "patch_id": record.patch_id,
    })
}
