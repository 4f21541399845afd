//! Which acceptance gate a task gets (docs/RECOVERY.md "The acceptance gate"): its own
//! `verify`/`review`, else those of the first `[[routing.rules]]` whose kind matches its
//! kind — the rule that routes it, and for a task that names its own `tool`, the rule
//! that would have: a gate belongs to the kind of work, not to the tool doing it.

use super::{Config, RoutingRule};
use crate::model::{Gate, TaskSpec};

impl RoutingRule {
    /// The rule's gate fields (possibly empty).
    pub fn gate(&self) -> Gate {
        Gate {
            verify: self.verify.clone(),
            verify_timeout_seconds: self.verify_timeout_seconds,
            review: self.review.clone(),
        }
    }
}

impl Config {
    /// The acceptance gate of `task`, if it has one; the router copies it into the task's
    /// decision.
    pub fn gate_for(&self, task: &TaskSpec) -> Option<Gate> {
        let kind = task.kind.as_str();
        let rule = self
            .routing
            .rules
            .iter()
            .find(|r| r.kind == "*" || r.kind == kind)
            .map(RoutingRule::gate);
        Gate::of(task, rule.as_ref())
    }
}
