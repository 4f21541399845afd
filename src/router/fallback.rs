//! Moving tasks that have not started their next attempt to another tool — the only way
//! the router reaches the executor, which reads a decision's `selected_tool` afresh for
//! every attempt and starts none while the decision says `waiting`:
//!
//! 1. a task whose latest attempt failed by its tool's fault (could not start, timed out,
//!    killed, rate limited, transient output) goes to the next usable candidate of its
//!    rule, once per failed attempt; with none, it stays (a pinned task always stays);
//! 2. a task whose tool may not take it now (circuit open, cooling down, half open with
//!    another task as its probe) goes to a usable candidate, or waits;
//! 3. a waiting task is looked at again, and runs as soon as a candidate may take it.
//!
//! Every failed attempt is marked as looked at (`reviewed_attempt`), moved or not: the
//! executor holds a retry until then, so it cannot start on the tool that just failed
//! before the move lands, however short its back-off.
//!
//! Each move is recorded in the decision (`fallbacks`: from, to, why), with the
//! candidates' new scores and skip reasons.

use super::blame::Verdict;
use super::choose::{Choice, Request, Selector, choose};
use super::clock::{add_ms, format_ms};
use super::tool_book::Availability;
use crate::model::{CandidateScore, Fallback, RoutingDecision, SkippedCandidate, Waiting};

/// A change to one decision, applied only if its tool is still `expect_tool`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Amendment {
    pub task_id: String,
    pub expect_tool: String,
    pub selected_tool: String,
    pub skipped: Vec<SkippedCandidate>,
    pub scores: Vec<CandidateScore>,
    pub waiting: Option<Box<Waiting>>,
    pub fallback: Option<Fallback>,
    /// The failed attempt now looked at, for the decision's `reviewed_attempt`.
    pub reviewed: Option<u32>,
}

impl Amendment {
    /// Applies it to `d` (whose tool the caller checked).
    pub(super) fn apply(&self, d: &mut RoutingDecision) {
        d.selected_tool = self.selected_tool.clone();
        d.waiting = self.waiting.clone();
        // Only where the router made the decision: one written by hand has none to wait on.
        if let (Some(r), Some(seen)) = (self.reviewed, d.reviewed_attempt.as_mut()) {
            *seen = (*seen).max(r);
        }
        if let Some(f) = &self.fallback {
            d.skipped = self.skipped.as_slice().into();
            d.scores = self.scores.as_slice().into();
            d.fallbacks.push(f.clone());
        }
    }
}

/// The amendments the decisions need now (see the module doc).
pub(super) fn amendments(decisions: &[RoutingDecision], sel: &mut Selector<'_>) -> Vec<Amendment> {
    let mut out = Vec::new();
    for d in decisions {
        let progress = sel.attempts.progress(&d.task_id);
        let after = progress.map_or(0, |p| p.attempt);
        // A failed attempt the executor holds the retry of until it is looked at.
        let review = (after > 0 && d.reviewed_attempt.is_some_and(|r| r < after)).then_some(after);
        if !progress.is_none_or(|p| p.awaits_attempt()) {
            if d.waiting.is_some() {
                // Running or ended (a person intervened): nothing to wait for any more.
                out.push(unchanged(d, None));
            }
            continue;
        }
        let tool = d.selected_tool.as_str();
        let pinned = d.task.tool.is_some();
        let fault = progress.and_then(|p| match &p.verdict {
            Verdict::Fault(f) if p.tool == tool && p.attempt > 0 => Some(f),
            _ => None,
        });
        let failed_here = fault
            .filter(|_| !pinned && !d.fallbacks.iter().any(|f| f.after_attempt == after))
            .map(|f| format!("attempt {after} on {tool} failed: {}", f.reason));
        let unavailable = match sel.tools.availability_for(tool, sel.now, &d.task_id) {
            Availability::Usable => None,
            Availability::Probe if sel.may_run(&d.task) => {
                // The first task waiting for this tool is the probe that may go through.
                sel.tools.entry(tool).probe = Some(crate::model::ProbeTask {
                    task_id: d.task_id.clone(),
                    after_attempt: after,
                    since: format_ms(sel.now),
                });
                None
            }
            Availability::Probe => Some(format!("{tool}: circuit half open")),
            Availability::Unavailable { why, .. } => Some(format!("{tool}: {why}")),
        };
        if failed_here.is_none() && unavailable.is_none() && d.waiting.is_none() {
            out.extend(review.map(|r| reviewed(unchanged(d, None), r)));
            continue;
        }
        let why = failed_here
            .clone()
            .or(unavailable)
            .unwrap_or_else(|| "what it waited for ended".to_string());
        sel.load.remove(tool);
        let request = Request {
            task: &d.task,
            task_id: &d.task_id,
            after_attempt: after,
            exclude: failed_here.as_deref().map(|w| (tool, w)),
        };
        let mut choice = choose(request, sel);
        if request.exclude.is_some() && !matches!(&choice, Ok(c) if c.waiting.is_none()) {
            // No other candidate may take it: it stays (or waits) where it is.
            choice = choose(
                Request {
                    exclude: None,
                    ..request
                },
                sel,
            );
        }
        let amendment = match choice {
            Ok(c) => amend(d, c, after, &why, failed_here.is_some(), sel.now),
            // Still waiting for the same: the decision stays as it is.
            Err(no_tool) if d.waiting.as_ref().is_some_and(|w| w.reason == no_tool) => None,
            Err(no_tool) => {
                let every = sel.config.routing.health_check_interval_ms;
                let until = (every > 0).then(|| format_ms(add_ms(sel.now, every)));
                let waiting = Waiting {
                    reason: no_tool,
                    until,
                };
                Some(unchanged(d, Some(Box::new(waiting))))
            }
        };
        let amendment = match (amendment, review) {
            (Some(a), Some(r)) => Some(reviewed(a, r)),
            (None, Some(r)) => Some(reviewed(unchanged(d, d.waiting.clone()), r)),
            (a, None) => a,
        };
        out.extend(
            amendment
                .filter(|a| a.fallback.is_some() || a.waiting != d.waiting || a.reviewed.is_some()),
        );
    }
    out
}

/// The amendment a choice makes, if any.
fn amend(
    d: &RoutingDecision,
    choice: Choice,
    after: u32,
    why: &str,
    after_failure: bool,
    now: i64,
) -> Option<Amendment> {
    if choice.waiting.is_some() {
        // It waits on the tool it has; a move is recorded once it can go somewhere.
        return Some(unchanged(d, choice.waiting));
    }
    let moved = choice.selected_tool != d.selected_tool;
    let reason = if moved || !after_failure {
        why.to_string()
    } else {
        format!("{why}; no other candidate may take it")
    };
    let fallback = (moved || after_failure).then(|| Fallback {
        after_attempt: after,
        from: d.selected_tool.clone(),
        to: choice.selected_tool.clone(),
        reason,
        at: format_ms(now),
    });
    Some(Amendment {
        task_id: d.task_id.clone(),
        expect_tool: d.selected_tool.clone(),
        selected_tool: choice.selected_tool,
        skipped: choice.skipped,
        scores: choice.scores,
        waiting: None,
        fallback,
        reviewed: None,
    })
}

/// `a`, marking failed attempt `r` as looked at.
fn reviewed(a: Amendment, r: u32) -> Amendment {
    Amendment {
        reviewed: Some(r),
        ..a
    }
}

/// Keeps the tool, sets (or clears) `waiting`.
fn unchanged(d: &RoutingDecision, waiting: Option<Box<Waiting>>) -> Amendment {
    Amendment {
        task_id: d.task_id.clone(),
        expect_tool: d.selected_tool.clone(),
        selected_tool: d.selected_tool.clone(),
        skipped: Vec::new(),
        scores: Vec::new(),
        waiting,
        fallback: None,
        reviewed: None,
    }
}
