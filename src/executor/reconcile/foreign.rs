//! Attempts this executor does not run (docs/ATTEMPTS.md, "What a restarted engine must
//! do"): a `running` result of another executor, or an attempt a fence names that the
//! results file does not have. Always the claim first, then the record:
//!
//! - **claim held**: the attempt runs (or ended, not yet recorded) under some runner.
//!   Never started again. If its engine is gone, it is *adopted*: shown `running`, a
//!   cancel request ends its group (the fence's `pgid`), and so does a deadline its runner
//!   let pass;
//! - **claim free**: taken here (no runner starts the task meanwhile), the results file
//!   looked at again (a live owner writes before it releases), then the fence: its attempt
//!   is recorded from its outcome record, or — no record: its runner died with it — its
//!   group is SIGKILLed if anything of it is left, and it is recorded `interrupted`, which
//!   uses no retry budget.

use std::time::{Duration, Instant};

use crate::executor::supervisor::{Done, RunningTask, engine_gone};
use crate::executor::{Executor, PHASE, times};
use crate::lifecycle::Stage;
use crate::model::{Attempt, AttemptOutcome, EventType};
use crate::process::kill_group;
use crate::runner::AttemptFinished;
use crate::store::{Claim, Fence, read_outcome};

/// A deadline the attempt's own runner let pass by this much (beyond the kill grace) is
/// enforced from here.
const OVERDUE: Duration = Duration::from_secs(5);

impl Executor {
    /// Looks at the watched attempts, when a look is due.
    pub(in crate::executor) fn sweep_foreign(&mut self) {
        if self.inputs.results_broken() {
            return;
        }
        let Some(ids) = self.supervisor.foreign.due(Instant::now()) else {
            return;
        };
        for id in ids {
            if self.supervisor.runs(&id) || self.supervisor.acks.waits_on(&id) {
                // Ours after all: our runner holds its claim.
                self.supervisor.foreign.forget(&id);
                continue;
            }
            if self.supervisor.claims.holds(&id) {
                // Recorded here already; looked at again after the write.
                continue;
            }
            match Claim::is_held(&self.site.state, &id) {
                Ok(true) => self.adopt(&id),
                Ok(false) => {
                    if self.settle(&id) {
                        self.supervisor.foreign.forget(&id);
                        if let Some(t) = self.schedule.graph().find(&id) {
                            self.consider(t);
                        }
                    }
                }
                Err(e) => tracing::warn!(phase = PHASE, task = %id, "{e}"),
            }
        }
    }

    /// The claim of `id` is held: if the attempt's engine is gone, it is shown `running`
    /// and cancels and an overdue deadline are carried out on its group.
    fn adopt(&mut self, id: &str) {
        let fence = match Fence::read(&self.site.state, id) {
            Ok(Some(fence)) => fence,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(phase = PHASE, task = %id, "{e}");
                return;
            }
        };
        if !engine_gone(&fence.runner, &self.site.executor_id) {
            return;
        }
        let entry = self.book.get(id);
        let known = entry.map_or(0, |r| r.attempt);
        if fence.attempt > known {
            self.record_adopted(id, &fence);
        } else if fence.attempt < known || self.book.stage(id) != Stage::Running {
            // Recorded already: its runner only writes the outcome record now.
            return;
        }
        self.enforce(id, &fence);
    }

    /// An adopted attempt of `id`, not in the results file yet: `running` from now on.
    fn record_adopted(&mut self, id: &str, fence: &Fence) {
        tracing::info!(phase = PHASE, task = %id, attempt = fence.attempt, runner = %fence.runner, "adopted a running attempt whose engine is gone");
        let record = self.foreign_record(id, fence.attempt, &fence.started_at, &fence.runner);
        let metadata = self.metadata_of(id);
        self.book.start_attempt(id, record, metadata);
    }

    /// Ends an adopted attempt's group when a cancel asks for it or its deadline is long
    /// past: SIGTERM, then SIGKILL after the kill grace.
    fn enforce(&mut self, id: &str, fence: &Fence) {
        let Some(pgid) = fence.pgid.and_then(|p| i32::try_from(p).ok()) else {
            return;
        };
        let grace = Duration::from_millis(self.site.config.execution.kill_grace_ms);
        let overdue = fence
            .deadline
            .as_deref()
            .and_then(times::parse)
            .is_some_and(|d| {
                let ms = u64::try_from((grace + OVERDUE).as_millis()).unwrap_or(u64::MAX);
                times::add_ms(d, ms) <= jiff::Timestamp::now()
            });
        let Some(w) = self.supervisor.foreign.get_mut(id) else {
            return;
        };
        if w.cancel_requests.is_empty() && !overdue {
            return;
        }
        let now = Instant::now();
        match w.term_sent {
            None => {
                tracing::info!(phase = PHASE, task = %id, pgid, "ending an adopted attempt (canceled, or past its deadline)");
                kill_group(pgid, rustix::process::Signal::TERM);
                w.term_sent = Some(now);
            }
            Some(at) if now >= at + grace => kill_group(pgid, rustix::process::Signal::KILL),
            Some(_) => {}
        }
    }

    /// The claim of `id` was free: records what its fence says happened; `true` when
    /// nothing is left to watch.
    fn settle(&mut self, id: &str) -> bool {
        let claim = match Claim::try_acquire(&self.site.state, id) {
            Ok(Some(claim)) => claim,
            Ok(None) => return false,
            Err(e) => {
                tracing::warn!(phase = PHASE, task = %id, "{e}");
                return false;
            }
        };
        // A live owner writes its result before it releases the claim: read it.
        self.refresh_results();
        let fence = match Fence::read(&self.site.state, id) {
            Ok(fence) => fence,
            Err(e) => {
                // Nobody can tell which attempt it stood for.
                tracing::warn!(phase = PHASE, task = %id, "{e}");
                None
            }
        };
        let fenced = fence.as_ref().map_or(0, |f| f.attempt);
        let known = self.book.get(id).map_or(0, |r| r.attempt);
        let mut changed = false;
        if self.book.stage(id) == Stage::Running && fenced <= known {
            // `running` in the file: it ran under that fence, or never reached a runner.
            let ran = fence.as_ref().filter(|f| f.attempt == known);
            changed = self.record_left(id, known, ran);
        } else if let Some(fence) = fence.as_ref().filter(|f| f.attempt > known) {
            if self.book.stage(id) == Stage::Running {
                // A later attempt started than the file knows; the one it shows ended.
                self.interrupt_running(id);
            }
            changed = self.record_ahead(id, fence);
        } else if fenced == known && fenced > 0 && self.outcome_record(id, known).is_some() {
            // Recorded already (its engine died between the write and the ack): the
            // record is not needed any more.
            self.supervisor.acks.remove_later(id, known);
        }
        let asked_cancel = self
            .supervisor
            .foreign
            .get_mut(id)
            .is_some_and(|w| !w.cancel_requests.is_empty());
        if changed || asked_cancel {
            // A cancel not recorded with an outcome is carried out on the task as it
            // now stands.
            self.needs_plan = true;
        }
        if changed {
            // Held until the change is on disk: no runner starts the task meanwhile.
            self.supervisor.claims.hold(id, claim);
        }
        true
    }

    /// The `running` attempt `attempt` of `id`, whose claim is free: from its outcome
    /// record if it ran (`fence`) and left one, else interrupted.
    fn record_left(&mut self, id: &str, attempt: u32, fence: Option<&Fence>) -> bool {
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
    fn record_ahead(&mut self, id: &str, fence: &Fence) -> bool {
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
    fn interrupt_running(&mut self, id: &str) -> bool {
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
    fn outcome_record(&self, id: &str, attempt: u32) -> Option<AttemptOutcome> {
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
