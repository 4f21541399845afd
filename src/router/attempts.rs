//! What the router learns from `execution_results.json` (re-read at a bounded cost, see
//! [`PacedFile`], as a [`ResultsDigest`]): each task's latest attempt (to know which tasks may still be moved to
//! another tool), the attempts running per tool (for `least_loaded`), and every attempt
//! that ended since the last look, judged ([`Blame`]) for the circuits and the metrics.
//!
//! Each ended attempt is handed over once per router process. Attempts that ended before
//! `tool_health.json`'s `results_through` were counted by an earlier router: they feed
//! the metrics only.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::blame::{Blame, Verdict};
use super::clock::{Millis, now_ms, parse_ms};
use super::metrics::Metrics;
use crate::events::EventLog;
use crate::model::{ResultsDigest, Status};
use crate::store::{Pace, PacedFile, Poll, StateDir};

/// A task's latest attempt.
#[derive(Debug, Clone)]
pub(super) struct Progress {
    /// Its number (0: none ran).
    pub attempt: u32,
    /// The task's status.
    pub status: Status,
    /// The tool the latest attempt ran on.
    pub tool: String,
    /// What the latest attempt says about its tool, once it ended.
    pub verdict: Verdict,
}

impl Progress {
    /// Whether the task's next attempt (if any) is still to be started: it has not run,
    /// or its latest attempt failed and a retry may follow.
    pub(super) fn awaits_attempt(&self) -> bool {
        self.attempt == 0 || self.status.is_failure()
    }
}

/// An attempt that ended, for the circuits.
#[derive(Debug, Clone)]
pub(super) struct EndedAttempt {
    pub task_id: String,
    pub attempt: u32,
    pub tool: String,
    pub at: Millis,
    pub verdict: Verdict,
}

/// How often the router re-reads the results: at most 1/40 of the time. It needs them for
/// its circuits and load counts only: a failure that reaches a circuit up to 10 s later
/// costs little, a core-share spent re-reading 10,000 successes costs every task (it was
/// the largest part of the router's time). The 10 s cap holds the pace up to a ~25 MB file
/// (30,000 tasks). A file under 512 KiB is read whenever it changes.
const PACE: Pace = Pace {
    share: 40,
    unpaced: Duration::ZERO,
    max_pause: Duration::from_secs(10),
    small_bytes: 512 * 1024,
};

/// The results as the router follows them.
#[derive(Debug)]
pub(super) struct Attempts {
    file: PacedFile<ResultsDigest>,
    blame: Blame,
    progress: HashMap<String, Progress>,
    running: HashMap<String, usize>,
    /// Per task, the highest attempt already handed over.
    seen: HashMap<String, u32>,
    /// Attempts that ended at or before this were counted by an earlier router.
    counted_before: Option<Option<Millis>>,
    /// A task's latest attempt became a failure since the last [`Attempts::take_new_failure`]
    /// — also one already seen ended (a failed gate turns `verifying` into `failed`).
    new_failure: bool,
}

impl Attempts {
    pub(super) fn new(state: &StateDir, blame: Blame) -> Self {
        Self {
            file: PacedFile::new(state, super::PHASE, PACE),
            blame,
            progress: HashMap::new(),
            running: HashMap::new(),
            seen: HashMap::new(),
            counted_before: None,
            new_failure: false,
        }
    }

    /// Reads the file if it changed (and the pace allows: else `Err(when)`); returns the
    /// attempts that ended since the last read, oldest first, and feeds every one to
    /// `metrics`. `results_through` is `tool_health.json`'s, read once.
    pub(super) fn refresh(
        &mut self,
        events: &EventLog,
        results_through: Option<Millis>,
        metrics: &mut Metrics,
        kind_of: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<EndedAttempt>, Instant> {
        let doc = match self.file.poll(events)? {
            Ok(Poll::Changed(doc)) => doc,
            Ok(_) => return Ok(Vec::new()),
            Err(e) => {
                tracing::warn!(phase = super::PHASE, "{e}");
                return Ok(Vec::new());
            }
        };
        let counted_before = *self.counted_before.get_or_insert(results_through);
        let before = std::mem::take(&mut self.progress);
        self.running.clear();
        let mut ended = Vec::new();
        for result in doc.results {
            let seen = self.seen.entry(result.task_id.clone()).or_default();
            if result.attempt < *seen {
                // The entry was replaced (deleted by hand and run again).
                *seen = 0;
            }
            let mut verdict = Verdict::Neutral;
            // The latest attempt's verdict as of the last read, if nothing changed since:
            // judging means matching its output against patterns, once is enough.
            let unchanged = before
                .get(&result.task_id)
                .filter(|b| (b.attempt, b.status) == (result.attempt, result.status))
                .map(|b| &b.verdict);
            for a in &result.attempts {
                if a.status == Status::Running {
                    *self.running.entry(a.tool_id.clone()).or_default() += 1;
                    continue;
                }
                let latest = a.attempt == result.attempt;
                let fresh = a.attempt > *seen;
                if !latest && !fresh {
                    continue;
                }
                let at = a
                    .finished_at
                    .as_deref()
                    .and_then(parse_ms)
                    .unwrap_or_else(now_ms);
                let judged = match unchanged {
                    Some(v) if latest && !fresh => v.clone(),
                    _ => self.blame.judge(a, at),
                };
                if latest {
                    verdict = judged.clone();
                }
                if !fresh {
                    continue;
                }
                *seen = a.attempt;
                let worked = match &judged {
                    Verdict::Worked { succeeded } => Some(*succeeded),
                    Verdict::Fault(_) => Some(false),
                    Verdict::Neutral => None,
                };
                if let (Some(ok), Some(kind)) = (worked, kind_of(&result.task_id)) {
                    metrics.record(&a.tool_id, &kind, ok, a.duration_ms);
                }
                if counted_before.is_none_or(|t| at > t) {
                    ended.push(EndedAttempt {
                        task_id: result.task_id.clone(),
                        attempt: a.attempt,
                        tool: a.tool_id.clone(),
                        at,
                        verdict: judged,
                    });
                }
            }
            let tool = result
                .latest()
                .map_or(result.tool_id.clone(), |a| a.tool_id.clone());
            let progress = Progress {
                attempt: result.attempt,
                status: result.status,
                tool,
                verdict,
            };
            if progress.status.is_failure()
                && before
                    .get(&result.task_id)
                    .is_none_or(|b| (b.attempt, b.status) != (progress.attempt, progress.status))
            {
                self.new_failure = true;
            }
            self.progress.insert(result.task_id, progress);
        }
        ended.sort_by(|a, b| (a.at, &a.task_id, a.attempt).cmp(&(b.at, &b.task_id, b.attempt)));
        Ok(ended)
    }

    /// Whether a task's latest attempt became a failure since the last call: the fallback
    /// scan must look (and mark it reviewed) even if no new attempt ended.
    pub(super) fn take_new_failure(&mut self) -> bool {
        std::mem::take(&mut self.new_failure)
    }

    /// The latest attempt of `task`, if it has a result.
    pub(super) fn progress(&self, task: &str) -> Option<&Progress> {
        self.progress.get(task)
    }

    /// Attempts running on `tool`.
    pub(super) fn running(&self, tool: &str) -> usize {
        self.running.get(tool).copied().unwrap_or(0)
    }

    /// Lifts the read pause: the next refresh reads the file if it changed.
    pub(super) fn unpause(&mut self) {
        self.file.unpause();
    }

    /// When a pending content check of the file is due.
    pub(super) fn confirm_at(&self) -> Option<Instant> {
        self.file.confirm_at()
    }
}
