//! The ready queue: runnable tasks by priority (higher first), then submission order;
//! tasks set aside while their tool is at its `max_parallel`; and timers for back-offs.
//! Entries may be stale or repeated: whoever pops one checks it again.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

/// Orders runnable tasks: the greatest key runs first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(in crate::executor) struct Key {
    priority: i64,
    seq: Reverse<u64>,
    task: Reverse<usize>,
}

impl Key {
    /// The key of task `task` (a graph index).
    pub(in crate::executor) fn new(priority: i64, submission_seq: u64, task: usize) -> Key {
        Key {
            priority,
            seq: Reverse(submission_seq),
            task: Reverse(task),
        }
    }

    /// The task (a graph index).
    pub(in crate::executor) fn task(&self) -> usize {
        self.task.0
    }
}

/// Runnable tasks, tool-limited tasks and timers.
#[derive(Debug, Default)]
pub(in crate::executor) struct ReadyQueue {
    ready: BinaryHeap<Key>,
    waiting_for_tool: HashMap<String, BinaryHeap<Key>>,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
}

impl ReadyQueue {
    /// Forgets everything (the graph changed).
    pub(in crate::executor) fn clear(&mut self) {
        self.ready.clear();
        self.waiting_for_tool.clear();
        self.timers.clear();
    }

    /// Adds a runnable task.
    pub(in crate::executor) fn push(&mut self, key: Key) {
        self.ready.push(key);
    }

    /// The best runnable task.
    pub(in crate::executor) fn pop(&mut self) -> Option<Key> {
        self.ready.pop()
    }

    /// Whether no task is runnable.
    pub(in crate::executor) fn is_empty(&self) -> bool {
        self.ready.is_empty()
    }

    /// Sets `key` aside until a task of `tool` ends.
    pub(in crate::executor) fn wait_for_tool(&mut self, tool: &str, key: Key) {
        match self.waiting_for_tool.get_mut(tool) {
            Some(heap) => heap.push(key),
            None => {
                self.waiting_for_tool
                    .insert(tool.to_string(), BinaryHeap::from([key]));
            }
        }
    }

    /// A task of `tool` ended: its best waiting task becomes runnable again.
    pub(in crate::executor) fn tool_freed(&mut self, tool: &str) {
        if let Some(key) = self
            .waiting_for_tool
            .get_mut(tool)
            .and_then(BinaryHeap::pop)
        {
            self.ready.push(key);
        }
    }

    /// Looks at task `task` again at `at`.
    pub(in crate::executor) fn at(&mut self, at: Instant, task: usize) {
        self.timers.push(Reverse((at, task)));
    }

    /// The earliest timer.
    pub(in crate::executor) fn next_timer(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    /// Removes and returns the tasks whose timers are due.
    pub(in crate::executor) fn due(&mut self, now: Instant) -> Vec<usize> {
        let mut due = Vec::new();
        while let Some(Reverse((t, task))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            due.push(task);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_then_submission_order() {
        let mut q = ReadyQueue::default();
        q.push(Key::new(0, 3, 3));
        q.push(Key::new(5, 9, 9));
        q.push(Key::new(0, 1, 1));
        let order: Vec<usize> = std::iter::from_fn(|| q.pop()).map(|k| k.task()).collect();
        assert_eq!(order, vec![9, 1, 3]);
    }
}
