//! `adapter_assignments.json`: a view derived from the decisions and the configuration —
//! per tool its argv template, kinds, limits, health and the tasks routed to it.
//!
//! Re-derived and written only when the decisions changed (a batch, or a hand edit of
//! `routing_decisions.json`), and only if the result differs from what the file holds. A
//! hand edit of this file is kept until then; a broken one is reported and never
//! overwritten.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::Config;
use crate::events::EventLog;
use crate::model::{AdapterAssignment, AdapterAssignments, RoutingDecision};
use crate::store::{LockWait, StateDir, StateFile};
use crate::{Error, Result};

use super::health::HealthBook;
use super::invalid::InvalidFile;

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
    file: StateFile<AdapterAssignments>,
    /// What the file holds, as last read or written (`None`: not read yet).
    current: Option<BTreeMap<String, AdapterAssignment>>,
    invalid: InvalidFile,
}

impl AssignmentsFile {
    pub(super) fn new(state: &StateDir) -> Self {
        Self {
            file: StateFile::new(state),
            current: None,
            invalid: InvalidFile::default(),
        }
    }

    /// Notices hand edits: adopts a valid one, reports a broken one (once).
    pub(super) fn refresh(&mut self, events: &EventLog) -> Result<()> {
        if self.invalid.unchanged_since_report(self.file.path())? {
            return Ok(());
        }
        match self.file.read_if_changed() {
            Ok(changed) => {
                self.invalid.clear(self.file.path(), events);
                if let Some(doc) = changed {
                    self.current = Some(doc.adapters);
                }
                Ok(())
            }
            Err(e) if e.is_content_error() => self.invalid.report(self.file.path(), &e, events),
            Err(e) => Err(e),
        }
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
        if self.invalid.is_broken() || self.current.as_ref() == Some(&desired) {
            return Ok(());
        }
        let locked = match self.file.lock(LockWait::AtMost(lock_timeout)) {
            Ok(Some(locked)) => locked,
            Ok(None) => {
                return Err(Error::LockTimeout {
                    path: self.file.path().to_path_buf(),
                    waited_ms: lock_timeout.as_millis() as u64,
                });
            }
            Err(e) if e.is_content_error() => {
                let path = self.file.path().to_path_buf();
                return self.invalid.report(&path, &e, events);
            }
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
