//! `tool_health.json` as the router holds it: the working copy of every tool's state,
//! which tools changed since the last write, and what each state means for routing now.
//! A person's valid edit replaces the working copy (closing a circuit by hand works); a
//! broken file is reported once and never overwritten, and routing goes on with the last
//! valid states.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::json;

use super::clock::{Millis, format_ms, parse_ms};
use crate::Result;
use crate::events::EventLog;
use crate::model::{Circuit, EventType, ToolHealth, ToolState};
use crate::store::{Durability, LockWait, Poll, StateDir, WatchedDoc};

/// Whether a tool may take a task now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Availability {
    /// Yes.
    Usable,
    /// Its circuit is half open and no probe is out: it may take exactly one task.
    Probe,
    /// Not now: why, and when that may end (`None`: when a probe task ends).
    Unavailable { why: String, until: Option<Millis> },
}

/// The file and the working copy.
#[derive(Debug)]
pub(super) struct ToolBook {
    file: WatchedDoc<ToolHealth>,
    /// The states as the router works with them.
    doc: ToolHealth,
    /// Tools whose state changed since the last write (plus `results_through`).
    changed: BTreeSet<String>,
    dirty: bool,
}

impl ToolBook {
    pub(super) fn new(state: &StateDir) -> Self {
        Self {
            file: WatchedDoc::new(state, super::PHASE),
            doc: ToolHealth::default(),
            changed: BTreeSet::new(),
            dirty: false,
        }
    }

    /// Adopts a person's (or `phase tools reset`'s) valid edit; `true` if there was one.
    /// A circuit closed that way is logged as closed.
    pub(super) fn refresh(&mut self, events: &EventLog) -> Result<bool> {
        let Poll::Changed(theirs) = self.file.poll(events)? else {
            return Ok(false);
        };
        for (name, state) in &theirs.tools {
            let before = self
                .doc
                .tools
                .get(name)
                .map_or(Circuit::Closed, |s| s.circuit);
            if before != Circuit::Closed && state.circuit == Circuit::Closed {
                events.emit(
                    EventType::CircuitClosed,
                    super::PHASE,
                    None,
                    None,
                    json!({ "tool": name, "reason": "closed by an edit of tool_health.json" }),
                );
            }
        }
        self.doc = theirs.clone();
        Ok(true)
    }

    /// When a pending content check of the file is due.
    pub(super) fn confirm_at(&self) -> Option<Instant> {
        self.file.confirm_at()
    }

    /// The newest attempt end accounted for.
    pub(super) fn results_through(&self) -> Option<Millis> {
        parse_ms(&self.doc.results_through)
    }

    /// Notes that attempts up to `at` are accounted for.
    pub(super) fn set_results_through(&mut self, at: Millis) {
        if self.results_through().is_none_or(|t| t < at) {
            self.doc.results_through = format_ms(at);
            self.dirty = true;
        }
    }

    /// A tool's state, if it has one.
    pub(super) fn get(&self, tool: &str) -> Option<&ToolState> {
        self.doc.tools.get(tool)
    }

    /// Every tool with a state.
    pub(super) fn states(&self) -> &BTreeMap<String, ToolState> {
        &self.doc.tools
    }

    /// A tool's state to change; it will be written.
    pub(super) fn entry(&mut self, tool: &str) -> &mut ToolState {
        if !self.changed.contains(tool) {
            self.changed.insert(tool.to_string());
        }
        self.dirty = true;
        self.doc.tools.entry(tool.to_string()).or_default()
    }

    /// Whether a tool may take task `task_id` at `now`: as [`availability`]
    /// (Self::availability), except that the probe of a half-open circuit may.
    pub(super) fn availability_for(&self, tool: &str, now: Millis, task_id: &str) -> Availability {
        let is_probe = self
            .doc
            .tools
            .get(tool)
            .and_then(|s| s.probe.as_ref())
            .is_some_and(|p| p.task_id == task_id);
        match self.availability(tool, now) {
            Availability::Unavailable { .. } if is_probe && !self.cooling_down(tool, now) => {
                Availability::Usable
            }
            other => other,
        }
    }

    fn cooling_down(&self, tool: &str, now: Millis) -> bool {
        self.doc
            .tools
            .get(tool)
            .and_then(|s| s.cooldown_until.as_deref())
            .and_then(parse_ms)
            .is_some_and(|until| until > now)
    }

    /// Whether a tool may take a task at `now`.
    pub(super) fn availability(&self, tool: &str, now: Millis) -> Availability {
        let Some(s) = self.doc.tools.get(tool) else {
            return Availability::Usable;
        };
        if let Some(until) = s.cooldown_until.as_deref().and_then(parse_ms)
            && until > now
        {
            let why = s.cooldown_reason.as_deref().unwrap_or("rate limited");
            return Availability::Unavailable {
                why: format!("cooling down until {} ({why})", format_ms(until)),
                until: Some(until),
            };
        }
        match s.circuit {
            Circuit::Closed => Availability::Usable,
            Circuit::Open => {
                let until = super::circuit::open_until(s);
                Availability::Unavailable {
                    why: format!(
                        "circuit open until {}",
                        s.open_until.as_deref().unwrap_or("its health check passes")
                    ),
                    until: Some(until.unwrap_or(now).max(now)),
                }
            }
            Circuit::HalfOpen => match &s.probe {
                None => Availability::Probe,
                Some(p) => Availability::Unavailable {
                    why: format!("circuit half open, probe task {} running", p.task_id),
                    until: None,
                },
            },
        }
    }

    /// Writes the changed tools onto the file's current content (someone else's tools
    /// and edits are kept). Nothing is written while the file is broken.
    ///
    /// When only `results_through` moved (the attempts it passed changed no tool's
    /// state), the write is not synced: a router restarted from an older cursor counts
    /// those attempts again from the same states, with the same outcome. A run of
    /// successes synced the file (and its directory) after every read of the results.
    pub(super) fn write(&mut self, lock_timeout: Duration, events: &EventLog) -> Result<()> {
        if !self.dirty || self.file.is_broken() {
            return Ok(());
        }
        let on_file = &self.file.doc().tools;
        let states_changed =
            (self.changed.iter()).any(|name| self.doc.tools.get(name) != on_file.get(name));
        let durability = if states_changed {
            Durability::Synced
        } else {
            Durability::Unsynced
        };
        let mine = &self.doc;
        let changed = &self.changed;
        let written = self.file.update_with(
            LockWait::AtMost(lock_timeout),
            (events.run_id(), events),
            |theirs| {
                for name in changed {
                    if let Some(state) = mine.tools.get(name) {
                        theirs.tools.insert(name.clone(), state.clone());
                    }
                }
                if parse_ms(&theirs.results_through) < parse_ms(&mine.results_through) {
                    theirs.results_through = mine.results_through.clone();
                }
            },
            durability,
        );
        match written {
            Ok(()) => {
                self.doc = self.file.doc().clone();
                self.changed.clear();
                self.dirty = false;
                Ok(())
            }
            // Reported by the handle; the person's file is left alone.
            Err(e) if e.is_content_error() => Ok(()),
            Err(e) => Err(e),
        }
    }
}
