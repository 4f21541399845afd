//! Runs that wait for another attempt to succeed ([`RunRequest::after`]): held without
//! their claim, started the moment that attempt ends in success, refused as
//! [`Refusal::Unmet`] when it ends otherwise (and so is every run waiting on them).

use super::{Runner, fenced};
use crate::runner::protocol::{AfterAttempt, Refusal, RunRequest};

/// Where the attempt a run waits for stands.
enum After {
    Succeeded,
    Pending,
    Unmet(String),
}

impl Runner {
    /// Whether `req` may go on to start or queue now. If not, it is held (its attempt
    /// still runs or waits here) or refused (it ended otherwise, or is not this runner's).
    pub(super) fn after_met(&mut self, req: &RunRequest) -> bool {
        let Some(after) = &req.after else {
            return true;
        };
        match self.after_state(after) {
            After::Succeeded => true,
            After::Pending => {
                self.held.push(req.clone());
                false
            }
            After::Unmet(message) => {
                self.link.send(&fenced(req, Refusal::Unmet, None, message));
                false
            }
        }
    }

    fn after_state(&self, after: &AfterAttempt) -> After {
        if let Some(a) = self
            .find(&after.task, after.attempt)
            .and_then(|id| self.attempts.get(&id))
        {
            return match a.finished() {
                None => After::Pending,
                Some(f) if f.succeeded() => After::Succeeded,
                Some(_) => After::Unmet(format!(
                    "{} attempt {} did not succeed",
                    after.task, after.attempt
                )),
            };
        }
        let waits = |r: &RunRequest| r.task == after.task && r.attempt == after.attempt;
        if self.queue.iter().any(waits) || self.held.iter().any(waits) {
            return After::Pending;
        }
        After::Unmet(format!(
            "{} attempt {} is not run by this runner",
            after.task, after.attempt
        ))
    }

    /// Attempt `attempt` of `task` ended (or will never start): the runs held for it
    /// start (queued behind the runs already waiting) or are refused, in the order asked.
    pub(super) fn settle_held(&mut self, task: &str, attempt: u32, succeeded: bool) {
        if self.held.is_empty() {
            return;
        }
        let follows = |r: &RunRequest| {
            r.after
                .as_ref()
                .is_some_and(|a| a.task == task && a.attempt == attempt)
        };
        let (ready, rest) = std::mem::take(&mut self.held)
            .into_iter()
            .partition::<Vec<_>, _>(follows);
        self.held = rest;
        for mut req in ready {
            if succeeded {
                req.after = None;
                self.run(&req);
            } else {
                let message = format!("{task} attempt {attempt} did not succeed");
                self.link.send(&fenced(&req, Refusal::Unmet, None, message));
                self.settle_held(&req.task, req.attempt, false);
            }
        }
    }

    /// Takes attempt `attempt` of `task` out of the queue or the held runs, if it waits
    /// there (nothing of it was written).
    pub(super) fn take_waiting(&mut self, task: &str, attempt: u32) -> Option<RunRequest> {
        let is = |r: &RunRequest| r.task == task && r.attempt == attempt;
        if let Some(at) = self.queue.iter().position(is) {
            return self.queue.remove(at);
        }
        let at = self.held.iter().position(is)?;
        Some(self.held.remove(at))
    }
}
