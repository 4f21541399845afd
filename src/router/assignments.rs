//! `adapter_assignments.json`: a view derived from the decisions and the configuration —
//! per tool its argv template, kinds, limits, health and the tasks routed to it.
//!
//! Re-derived and written only when the decisions changed (a batch, or a hand edit of
//! `routing_decisions.json`), and only if the result differs from what the file holds. A
//! hand edit of this file is kept until then; a broken one is reported and never
//! overwritten.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::Result;
use crate::config::Config;
use crate::events::EventLog;
use crate::model::{AdapterAssignment, AdapterAssignments, RoutingDecision};
use crate::store::{LockWait, Poll, StateDir, WatchedFile};

use super::health::HealthBook;

/// Every configured tool, plus any tool a (hand-edited) decision names.
pub(super) fn derive(
    config: &Config,
    decisions: &[RoutingDecision],
    health: &HealthBook,
) -> BTreeMap<String, AdapterAssignment> {
    let mut adapters: BTreeMap<String, AdapterAssignment> = config
        .tools
        .iter()
        .map(|(name, tool)| {
            let (healthy, health_note) = match health.known(name) {
                Some(Err(why)) => (false, Some(why.clone())),
                Some(Ok(())) | None => (true, None),
            };
            let assignment = AdapterAssignment {
                tool_id: name.clone(),
                command: tool.command.clone(),
                kinds: tool.kinds.clone(),
                max_parallel: tool.max_parallel,
                timeout_seconds: tool.timeout_seconds,
                healthy,
                health_note,
                task_ids: Vec::new(),
            };
            (name.clone(), assignment)
        })
        .collect();
    for d in decisions {
        adapters
            .entry(d.selected_tool.clone())
            .or_insert_with(|| AdapterAssignment {
                tool_id: d.selected_tool.clone(),
                healthy: false,
                health_note: Some("not in [tools] of the configuration".to_string()),
                ..AdapterAssignment::default()
            })
            .task_ids
            .push(d.task_id.clone());
    }
    adapters
}

/// The assignments file as the router knows it.
#[derive(Debug)]
pub(super) struct AssignmentsFile {
    file: WatchedFile<AdapterAssignments>,
    /// What the file holds, as last read or written (`None`: not read yet).
    current: Option<BTreeMap<String, AdapterAssignment>>,
}

impl AssignmentsFile {
    pub(super) fn new(state: &StateDir) -> Self {
        Self {
            file: WatchedFile::new(state, super::PHASE),
            current: None,
        }
    }

    /// Notices hand edits: adopts a valid one, reports a broken one (once).
    pub(super) fn refresh(&mut self, events: &EventLog) -> Result<()> {
        if let Poll::Changed(doc) = self.file.poll(events)? {
            self.current = Some(doc.adapters);
        }
        Ok(())
    }

    /// When the file's pending content check is due, if one is.
    pub(super) fn confirm_at(&self) -> Option<Instant> {
        self.file.confirm_at()
    }

    /// Writes `desired` unless the file already holds it or is broken.
    pub(super) fn write(
        &mut self,
        desired: BTreeMap<String, AdapterAssignment>,
        lock_timeout: Duration,
        run_id: &str,
        events: &EventLog,
    ) -> Result<()> {
        self.refresh(events)?;
        if self.file.is_broken() || self.current.as_ref() == Some(&desired) {
            return Ok(());
        }
        let locked = match self.file.lock(LockWait::AtMost(lock_timeout), events) {
            Ok(locked) => locked,
            // Reported by the handle; the file is left as the person wrote it.
            Err(e) if e.is_content_error() => return Ok(()),
            Err(e) => return Err(e),
        };
        // Everything in the file is derived: someone else's version has nothing to keep.
        let mut doc = AdapterAssignments {
            adapters: desired,
            ..AdapterAssignments::default()
        };
        locked.commit(&mut doc, run_id)?;
        self.current = Some(doc.adapters);
        Ok(())
    }
}
