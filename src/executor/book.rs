//! `execution_results.json` as the executor holds it in memory: one entry per task, the
//! set of entries changed since the last write, adoption of other writers' versions (a
//! person's hand edit, another executor) for every entry we have not changed since — and
//! for those we have, a merge by attempt (`merge`) —, and request ids carried out on tasks
//! that have no entry yet. Entries change only through
//! the lifecycle's transitions (`transitions`); `cadence` says when to write them.

mod agent;
mod attempts;
mod cadence;
mod gate;
mod merge;
mod transitions;

use std::collections::{HashMap, HashSet};

use crate::config::Config;
use crate::model::{ExecutionResults, TaskResult};
use crate::store::EntrySpans;

pub(super) use attempts::{AttemptEnd, INTERRUPTED};
pub(super) use cadence::WriteCadence;
pub(super) use transitions::RetryOutcome;

/// Every task's result, in file order, with an index by task id.
#[derive(Debug)]
pub(super) struct ResultsBook {
    doc: ExecutionResults,
    index: HashMap<String, usize>,
    /// Task ids whose entry we changed (or removed) since the last write.
    dirty: HashSet<String>,
    /// Request ids carried out on tasks that have no result entry to record them in yet
    /// (moved into the entry once it exists).
    orphan_requests: HashMap<String, Vec<String>>,
    /// When to write.
    pub(super) cadence: WriteCadence,
    /// A change another phase waits for is not written yet (see `gate.rs`).
    hurried: bool,
    /// Where each entry lies in the file as last written: a write copies the unchanged
    /// ones instead of serialising every entry again (`store/spliced.rs`).
    spans: EntrySpans,
}

impl ResultsBook {
    /// An empty book; nothing is read until the first poll of the file.
    pub(super) fn new(config: &Config) -> ResultsBook {
        ResultsBook {
            doc: ExecutionResults::default(),
            index: HashMap::new(),
            dirty: HashSet::new(),
            orphan_requests: HashMap::new(),
            cadence: WriteCadence::new(config),
            hurried: false,
            spans: EntrySpans::default(),
        }
    }

    /// The entry of `id`.
    pub(super) fn get(&self, id: &str) -> Option<&TaskResult> {
        self.index.get(id).map(|&i| &self.doc.results[i])
    }

    /// Every entry, in file order.
    pub(super) fn entries(&self) -> &[TaskResult] {
        &self.doc.results
    }

    /// Whether `id`'s result is `succeeded`.
    pub(super) fn succeeded(&self, id: &str) -> bool {
        // By stage: a `phase rerun` keeps `succeeded` in the entry until its attempt starts.
        crate::lifecycle::Stage::of_result(self.get(id)) == crate::lifecycle::Stage::Succeeded
    }

    /// Whether `request_id` was carried out on `task_id` (recorded in its entry, or
    /// remembered while it has none).
    pub(super) fn has_handled(&self, task_id: &str, request_id: &str) -> bool {
        let handled = |ids: &Vec<String>| ids.iter().any(|id| id == request_id);
        self.get(task_id)
            .is_some_and(|r| handled(&r.handled_requests))
            || self.orphan_requests.get(task_id).is_some_and(handled)
    }

    /// The entry of `id`, to change: it is written at the next flush.
    fn update(&mut self, id: &str) -> Option<&mut TaskResult> {
        let i = *self.index.get(id)?;
        self.dirty.insert(id.to_string());
        self.spans.changed(i);
        Some(&mut self.doc.results[i])
    }

    /// The entry of `id`, created by `make` if there is none; marked changed.
    fn upsert(&mut self, id: &str, make: impl FnOnce() -> TaskResult) -> &mut TaskResult {
        self.dirty.insert(id.to_string());
        let i = match self.index.get(id) {
            Some(&i) => i,
            None => {
                crate::model::reserve_gently(&mut self.doc.results, 1);
                self.doc.results.push(make());
                let i = self.doc.results.len() - 1;
                self.index.insert(id.to_string(), i);
                i
            }
        };
        self.spans.changed(i);
        &mut self.doc.results[i]
    }

    /// Removes the entries of `ids` (one pass, however many).
    fn remove(&mut self, ids: &HashSet<String>) {
        if ids.is_empty() {
            return;
        }
        self.doc.results.retain(|r| !ids.contains(&r.task_id));
        self.dirty.extend(ids.iter().cloned());
        self.reindex();
    }

    /// Records `request_id` as carried out on `id` (nothing changed otherwise).
    pub(in crate::executor) fn record_handled(&mut self, id: &str, request_id: &str) {
        if let Some(r) = self.update(id) {
            r.handled_requests.push(request_id.to_string());
        }
    }

    /// Remembers `request_id` as carried out on `id`, which has no entry yet.
    pub(in crate::executor) fn remember_handled(&mut self, id: &str, request_id: &str) {
        self.orphan_requests
            .entry(id.to_string())
            .or_default()
            .push(request_id.to_string());
    }

    /// Moves request ids remembered for a task without an entry into its entry.
    pub(super) fn carry_orphans(&mut self, id: &str) {
        if let Some(ids) = self.orphan_requests.remove(id)
            && let Some(r) = self.update(id)
        {
            r.handled_requests.extend(ids);
        }
    }

    /// Whether something changed since the last write.
    pub(super) fn is_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// Adopts someone else's version of the file: theirs for every entry we have not
    /// changed since our last write (including their deletions); for the rest, ours and
    /// theirs merged by attempt (the later attempt wins; no attempt record is dropped).
    pub(super) fn adopt(&mut self, theirs: ExecutionResults) {
        let mut ours: HashMap<String, TaskResult> = if self.dirty.is_empty() {
            HashMap::new()
        } else {
            std::mem::take(&mut self.doc.results)
                .into_iter()
                .filter(|r| self.dirty.contains(&r.task_id))
                .map(|r| (r.task_id.clone(), r))
                .collect()
        };
        let mut seen: HashSet<String> = HashSet::with_capacity(theirs.results.len());
        let mut results = Vec::with_capacity(theirs.results.len() + ours.len());
        for entry in theirs.results {
            if !seen.insert(entry.task_id.clone()) {
                tracing::warn!(
                    task = %entry.task_id,
                    "execution_results.json lists the task twice; the first entry is kept"
                );
                continue;
            }
            if self.dirty.contains(&entry.task_id) {
                match ours.remove(&entry.task_id) {
                    Some(mine) => results.push(merge::merge(mine, entry)),
                    // We removed it (a lifted `dep_failed` mark on a task that never
                    // ran); attempts another writer recorded meanwhile are kept.
                    None if !entry.attempts.is_empty() => results.push(entry),
                    None => {}
                }
            } else {
                let mut entry = entry;
                // Parsing leaves room for four attempts where most tasks have one.
                entry.attempts.shrink_to_fit();
                results.push(entry);
            }
        }
        // Our new entries, in the order we made them.
        let mut rest: Vec<TaskResult> = ours.into_values().collect();
        rest.sort_by(|a, b| a.started_at.cmp(&b.started_at));
        results.extend(rest);
        self.doc = ExecutionResults { results, ..theirs };
        self.reindex();
    }

    /// The document to write, and where its entries lie in the file as last written.
    pub(super) fn for_write(&mut self) -> (&mut ExecutionResults, &mut EntrySpans) {
        (&mut self.doc, &mut self.spans)
    }

    /// Everything is on disk.
    pub(super) fn mark_clean(&mut self) {
        self.dirty.clear();
        self.hurried = false;
    }

    /// When the pending changes may be written: after the coalescing interval, or for a
    /// hurried change (one another phase waits for) as soon as the last write's cost
    /// allows.
    pub(super) fn write_due(&self) -> Option<std::time::Instant> {
        match self.hurried {
            true => self.cadence.hurried_due(),
            false => self.cadence.due(),
        }
    }

    /// After entries were removed or replaced: rebuilds the index; the next write
    /// serialises every entry.
    fn reindex(&mut self) {
        self.spans.forget();
        self.index.clear();
        for (i, r) in self.doc.results.iter().enumerate() {
            self.index.entry(r.task_id.clone()).or_insert(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;

    fn entry(id: &str, status: Status) -> TaskResult {
        TaskResult {
            task_id: id.to_string(),
            status,
            ..TaskResult::default()
        }
    }

    fn doc(entries: Vec<TaskResult>) -> ExecutionResults {
        ExecutionResults {
            results: entries,
            ..ExecutionResults::default()
        }
    }

    #[test]
    fn adoption_keeps_our_changes_and_takes_theirs_elsewhere() {
        let mut book = ResultsBook::new(&Config::default());
        book.adopt(doc(vec![
            entry("a", Status::Succeeded),
            entry("b", Status::Failed),
            entry("c", Status::Failed),
        ]));
        assert!(!book.is_dirty());
        // Our next attempt of b starts.
        let b = book.update("b").expect("b");
        (b.status, b.attempt) = (Status::Running, 1);
        book.upsert("d", || entry("d", Status::Running));
        // A person deleted a and c, and edited b's old attempt.
        book.adopt(doc(vec![entry("b", Status::Canceled)]));
        let ids: Vec<(&str, Status)> = book
            .entries()
            .iter()
            .map(|r| (r.task_id.as_str(), r.status))
            .collect();
        assert_eq!(ids, vec![("b", Status::Running), ("d", Status::Running)]);
        assert!(book.get("a").is_none());
    }

    #[test]
    fn our_removals_survive_adoption() {
        let mut book = ResultsBook::new(&Config::default());
        book.adopt(doc(vec![
            entry("a", Status::DepFailed),
            entry("b", Status::Failed),
        ]));
        book.remove(&HashSet::from(["a".to_string()]));
        book.adopt(doc(vec![
            entry("a", Status::DepFailed),
            entry("b", Status::Succeeded),
        ]));
        assert!(book.get("a").is_none());
        assert_eq!(book.get("b").map(|r| r.status), Some(Status::Succeeded));
    }
}
