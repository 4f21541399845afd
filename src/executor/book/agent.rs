//! What an attempt's record gains when it ends, for agents ([`crate::agent::end_attempt`]):
//! the tokens and cost its CLI reported, and an isolated attempt's settled worktree.

use super::ResultsBook;
use crate::agent::AgentEnd;

impl ResultsBook {
    /// Records `end` on attempt `attempt` of `id` (after [`Self::end_attempt`]).
    pub(in crate::executor) fn record_agent(&mut self, id: &str, attempt: u32, end: AgentEnd) {
        if end.is_empty() {
            return;
        }
        let Some(r) = self.update(id) else {
            return;
        };
        if let Some(a) = r.attempts.iter_mut().rev().find(|a| a.attempt == attempt) {
            a.usage = end.usage.map(Box::new).or(a.usage.take());
            a.worktree = end.worktree.map(Box::new).or_else(|| a.worktree.take());
        }
    }
}
