//! Events emitted but not yet written. An append that fails (disk full, I/O error) puts
//! its batch back here, in order, and the next flush writes it: `seq` is given at write
//! time, so a late write leaves no gap and nothing is dropped.
//!
//! Two rules keep that honest:
//! - A phase whose commit a failed append stopped does its work again and emits the same
//!   event again: while an identical event (type, phase, task, attempt, data) waits from a
//!   failed append, the new one is that same event and is not kept twice.
//! - Memory is bounded: past [`MAX_WAITING`] events, further ones are counted by type
//!   and reported as one EVENTS_LOST event when writing works again — never dropped
//!   without a trace.

use std::collections::{BTreeMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::{Value, json};

use crate::model::EventType;

/// At most this many events wait in memory for the log to accept them (~100 MB at the
/// size of a large event; a run with a full disk reaches it only after hours).
pub(super) const MAX_WAITING: usize = 100_000;

/// One emitted event, before it has a `seq`.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    pub ts: String,
    pub kind: EventType,
    pub phase: String,
    pub task_id: Option<String>,
    pub attempt: Option<u32>,
    pub data: Value,
}

impl Pending {
    /// Identity for the "same event emitted again" rule: everything but the time.
    fn identity(&self) -> u64 {
        let mut h = DefaultHasher::new();
        self.kind.hash(&mut h);
        self.phase.hash(&mut h);
        self.task_id.hash(&mut h);
        self.attempt.hash(&mut h);
        self.data.to_string().hash(&mut h);
        h.finish()
    }

    /// Whether `other` is the same event (see [`identity`](Self::identity)).
    pub(super) fn same_as(&self, other: &Pending) -> bool {
        self.kind == other.kind
            && self.phase == other.phase
            && self.task_id == other.task_id
            && self.attempt == other.attempt
            && self.data == other.data
    }
}

/// Events over the bound, counted while the log could not be written.
#[derive(Debug, Default)]
struct Lost {
    count: u64,
    first_ts: String,
    last_ts: String,
    by_type: BTreeMap<String, u64>,
}

/// The events waiting to be written.
#[derive(Debug, Default)]
pub(super) struct Buffer {
    events: Vec<Pending>,
    /// Identities of the events put back after a failed append.
    waiting: HashSet<u64>,
    lost: Lost,
}

impl Buffer {
    /// Adds an event, unless it repeats one that waits since a failed append, or the
    /// bound is reached (then it is counted as lost).
    pub(super) fn push(&mut self, event: Pending) {
        if !self.waiting.is_empty() && self.waiting.contains(&event.identity()) {
            return;
        }
        if self.events.len() >= MAX_WAITING {
            if self.lost.count == 0 {
                tracing::error!(
                    "{MAX_WAITING} events wait for events.jsonl to accept them; further \
                     events are counted and reported as EVENTS_LOST once it does"
                );
                self.lost.first_ts = event.ts.clone();
            }
            self.lost.count += 1;
            self.lost.last_ts = event.ts;
            let name = serde_json::to_value(event.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            *self.lost.by_type.entry(name).or_default() += 1;
            return;
        }
        self.events.push(event);
    }

    /// How many events wait.
    pub(super) fn len(&self) -> usize {
        self.events.len()
    }

    /// Takes everything to write, in order, with an EVENTS_LOST report at the end when
    /// events were lost.
    pub(super) fn take(&mut self, now: &str) -> Vec<Pending> {
        let mut batch = std::mem::take(&mut self.events);
        let lost = std::mem::take(&mut self.lost);
        if lost.count > 0 {
            batch.push(Pending {
                ts: now.to_string(),
                kind: EventType::EventsLost,
                phase: "events".to_string(),
                task_id: None,
                attempt: None,
                data: json!({
                    "count": lost.count,
                    "first_ts": lost.first_ts,
                    "last_ts": lost.last_ts,
                    "by_type": lost.by_type,
                    "why": "events.jsonl could not be written and too many events waited",
                }),
            });
        }
        batch
    }

    /// Puts back a batch whose append failed, before anything emitted since.
    pub(super) fn put_back(&mut self, mut batch: Vec<Pending>) {
        self.waiting.extend(batch.iter().map(Pending::identity));
        batch.append(&mut self.events);
        self.events = batch;
    }

    /// An append worked: nothing waits from a failed one any more.
    pub(super) fn written(&mut self) {
        self.waiting.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(task: &str) -> Pending {
        Pending {
            ts: "t".into(),
            kind: EventType::TaskRouted,
            phase: "router".into(),
            task_id: Some(task.into()),
            attempt: None,
            data: json!({"tool": "shell"}),
        }
    }

    fn tasks(batch: &[Pending]) -> Vec<&str> {
        batch.iter().filter_map(|p| p.task_id.as_deref()).collect()
    }

    #[test]
    fn a_failed_batch_comes_back_first_and_is_not_doubled() {
        let mut buffer = Buffer::default();
        buffer.push(event("a"));
        let batch = buffer.take("t");
        buffer.push(event("b"));
        buffer.put_back(batch);
        // The router routes `a` again after its commit was stopped: the same event.
        buffer.push(event("a"));
        let batch = buffer.take("t");
        assert_eq!(tasks(&batch), ["a", "b"]);
        buffer.written();
        buffer.push(event("a"));
        assert_eq!(
            tasks(&buffer.take("t")),
            ["a"],
            "after a write, a new event"
        );
    }

    #[test]
    fn events_over_the_bound_are_reported_as_lost() {
        let mut buffer = Buffer::default();
        for i in 0..MAX_WAITING + 3 {
            buffer.push(event(&format!("t{i}")));
        }
        assert_eq!(buffer.len(), MAX_WAITING);
        let batch = buffer.take("now");
        let last = batch.last().expect("report");
        assert_eq!(last.kind, EventType::EventsLost);
        assert_eq!(last.data["count"], 3);
        assert_eq!(last.data["by_type"]["TASK_ROUTED"], 3);
        assert!(buffer.take("now").is_empty(), "reported once");
    }
}
