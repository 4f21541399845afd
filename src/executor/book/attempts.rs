//! An attempt's start, end and interruption, recorded in its task's entry and its
//! attempt record through the lifecycle ([`Stage::start`], [`Stage::end`],
//! [`Stage::interrupt`]).

use super::ResultsBook;
use super::transitions::{enter, enter_attempt, target};
use crate::executor::supervisor::Done;
use crate::lifecycle::{Ending, Stage, Transition};
use crate::model::{Attempt, Metadata, TaskResult, now_rfc3339};

/// The reason recorded for an attempt whose executor died or was shut down.
pub(in crate::executor) const INTERRUPTED: &str = "interrupted";

/// How an attempt of ours ended, as recorded.
#[derive(Debug)]
pub(in crate::executor) struct AttemptEnd<'a> {
    pub(in crate::executor) done: &'a Done,
    pub(in crate::executor) ending: Ending,
    pub(in crate::executor) reason: Option<String>,
    pub(in crate::executor) exit_code: Option<i32>,
    pub(in crate::executor) signal: Option<i32>,
    pub(in crate::executor) tool: &'a str,
    pub(in crate::executor) attempt: u32,
    /// `cancel` requests that stopped it, recorded as handled now.
    pub(in crate::executor) cancel_requests: &'a [String],
}

impl ResultsBook {
    /// An attempt starts: `record` becomes the latest attempt, `running`.
    pub(in crate::executor) fn start_attempt(
        &mut self,
        id: &str,
        mut record: Attempt,
        metadata: Metadata,
    ) {
        let to = target(id, self.stage(id), |s| s.start(), Stage::Running);
        let carried = self.orphan_requests.remove(id).unwrap_or_default();
        let r = self.upsert(id, || TaskResult {
            task_id: id.to_string(),
            // A rerun after a person deleted the entry: a fresh budget and ladder.
            budget_from_attempt: if record.attempt > 1 {
                record.attempt
            } else {
                0
            },
            ..TaskResult::default()
        });
        enter(r, to);
        r.tool_id = record.tool_id.clone();
        r.attempt = record.attempt;
        r.exit_code = None;
        r.duration_ms = 0;
        r.output_patch_id = record.patch_id.clone();
        r.files_modified.clear();
        r.reason = None;
        r.started_at = record.started_at.clone();
        r.finished_at = None;
        r.retry_at = None;
        r.metadata = metadata;
        r.handled_requests.extend(carried);
        r.attempts.retain(|a| a.attempt != record.attempt);
        enter_attempt(&mut record, to);
        // Most tasks run once: no room for four attempts in each of 10,000 entries.
        r.attempts.reserve_exact(1);
        r.attempts.push(record);
    }

    /// An attempt of ours ended; it happened, so it is recorded whatever a person did to
    /// the entry meanwhile.
    pub(in crate::executor) fn end_attempt(
        &mut self,
        id: &str,
        end: &AttemptEnd<'_>,
        executor: &str,
    ) {
        let ending = end.ending;
        let to = target(id, self.stage(id), |s| s.end(ending), Stage::Failed);
        let done = end.done;
        let attempt = end.attempt;
        let r = self.upsert(id, || TaskResult {
            task_id: id.to_string(),
            tool_id: end.tool.to_string(),
            ..TaskResult::default()
        });
        r.attempt = attempt;
        enter(r, to);
        r.reason = end.reason.clone();
        r.exit_code = end.exit_code;
        r.duration_ms = done.duration_ms;
        r.files_modified = done.files_modified.clone();
        r.started_at = done.started_at.clone();
        r.finished_at = Some(done.finished_at.clone());
        r.retry_at = None;
        let index = match r.attempts.iter().rposition(|a| a.attempt == attempt) {
            Some(i) => i,
            None => {
                // A person removed the entry while it ran: the attempt still happened.
                r.attempts.push(Attempt {
                    attempt,
                    tool_id: end.tool.to_string(),
                    log_out: format!("logs/{id}/{attempt}.out"),
                    log_err: format!("logs/{id}/{attempt}.err"),
                    executor: executor.to_string(),
                    ..Attempt::default()
                });
                r.attempts.len() - 1
            }
        };
        let a = &mut r.attempts[index];
        enter_attempt(a, to);
        a.exit_code = end.exit_code;
        a.signal = end.signal;
        a.reason = end.reason.clone();
        a.started_at = done.started_at.clone();
        a.finished_at = Some(done.finished_at.clone());
        a.duration_ms = done.duration_ms;
        a.stderr_tail = done.stderr_tail.clone();
        a.files_modified = done.files_modified.clone();
        a.log_error = done.log_error.clone();
        r.handled_requests
            .extend(end.cancel_requests.iter().cloned());
        self.carry_orphans(id);
    }

    /// Records Slurm's final `state` on attempt `attempt` of `id` (after
    /// [`Self::end_attempt`]): what `status` and `show` show beside the job id.
    pub(in crate::executor) fn record_slurm_state(&mut self, id: &str, attempt: u32, state: &str) {
        let Some(r) = self.update(id) else {
            return;
        };
        if let Some(a) = r.attempts.iter_mut().rev().find(|a| a.attempt == attempt) {
            a.slurm_state = Some(state.to_string());
        }
    }

    /// A `running` entry whose claim nobody holds: its attempt is `failed`,
    /// `interrupted`. Returns the attempt and the executor that ran it, if it was.
    pub(in crate::executor) fn interrupt(&mut self, id: &str) -> Option<(u32, String)> {
        let Transition::To(to) = self.stage(id).interrupt() else {
            return None;
        };
        let now = now_rfc3339();
        let r = self.update(id)?;
        let attempt = r.attempt;
        enter(r, to);
        r.reason = Some(INTERRUPTED.to_string());
        r.exit_code = None;
        r.finished_at = Some(now.clone());
        if let Some(a) = r.attempts.iter_mut().rev().find(|a| a.attempt == attempt) {
            enter_attempt(a, to);
            a.reason = Some(INTERRUPTED.to_string());
            a.finished_at = Some(now);
        }
        let executor = r
            .attempts
            .last()
            .map(|a| a.executor.clone())
            .unwrap_or_default();
        Some((attempt, executor))
    }
}
