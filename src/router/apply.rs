//! Carrying out a planned batch, in the order that keeps a crash harmless: rejections;
//! then the new decisions (their TASK_ROUTED events flushed first) committed in ONE write;
//! only then the accepted files moved to `tasks/`; then duplicates; one directory fsync
//! for the lot.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::Result;
use crate::events::EventLog;
use crate::model::{EventType, RoutingDecision};
use crate::store::{
    InboxFile, InboxLock, RejectionNote, StateDir, accept_task_file, reject_task_file,
    sync_intake_dirs,
};

use super::batch::Plan;
use super::routing_book::{Commit, RoutingBook};

/// What a batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Applied {
    pub routed: usize,
    pub rejected: usize,
    pub duplicates: usize,
    /// Files moved to `tasks/` to finish a move a crash interrupted.
    pub finished_moves: usize,
    /// Ready files left in the inbox (their decision could not be committed).
    pub left_behind: usize,
}

impl Applied {
    /// Whether anything was routed, rejected or skipped.
    pub(super) fn reportable(&self) -> bool {
        self.routed + self.rejected + self.duplicates > 0
    }

    fn moved_any(&self) -> bool {
        self.reportable() || self.finished_moves > 0
    }
}

/// Everything a batch needs besides the plan.
pub(super) struct Context<'a> {
    pub state: &'a StateDir,
    pub events: &'a EventLog,
    pub book: &'a mut RoutingBook,
    pub lock: &'a InboxLock,
    pub lock_timeout: Duration,
}

pub(super) fn apply(plan: Plan, cx: Context<'_>) -> Result<Applied> {
    let mut applied = Applied::default();
    for (file, note) in plan.rejected {
        if let Some(to) = reject_task_file(cx.state, &file.path, &note, cx.lock)? {
            applied.rejected += 1;
            tracing::warn!(file = %note.file, "task file rejected: {}", note.error);
            cx.events.emit(
                EventType::TaskRejected,
                "router",
                note.task_id.as_deref(),
                None,
                json!({ "file": note.file, "rejected_as": relative(cx.state, &to), "error": note.error }),
            );
        }
    }

    let (files, decisions): (Vec<InboxFile>, Vec<RoutingDecision>) =
        plan.routed.into_iter().unzip();
    let ids: Vec<String> = decisions.iter().map(|d| d.task_id.clone()).collect();
    let committed: HashSet<String> = if decisions.is_empty() {
        HashSet::new()
    } else {
        let events = cx.events;
        let announce = |recorded: &[RoutingDecision]| {
            for d in recorded {
                events.emit(
                    EventType::TaskRouted,
                    "router",
                    Some(&d.task_id),
                    None,
                    json!({ "tool": d.selected_tool, "rule": d.reason }),
                );
            }
            // The log must show a decision before any reader can see it in the file.
            events.flush()
        };
        let run_id = events.run_id().to_string();
        match cx
            .book
            .commit(decisions, cx.lock_timeout, &run_id, events, announce)?
        {
            Commit::Done(recorded) => recorded.into_iter().collect(),
            Commit::Invalid => HashSet::new(),
        }
    };
    for (file, id) in files.iter().zip(&ids) {
        if !committed.contains(id) {
            applied.left_behind += 1;
            continue;
        }
        if cx.lock.task_exists(id) {
            tracing::warn!(task = %id, "tasks/{id}.json had no decision; replacing it");
        }
        if accept_task_file(cx.state, &file.path, id, cx.lock)? {
            applied.routed += 1;
        }
    }

    for (file, id) in plan.unfinished_moves {
        if accept_task_file(cx.state, &file.path, &id, cx.lock)? {
            tracing::info!(task = %id, "finished moving an accepted task to tasks/ after a crash");
            applied.finished_moves += 1;
        }
    }

    for dup in plan.duplicates {
        if dup.of_this_batch && !committed.contains(&dup.task_id) {
            applied.left_behind += 1;
            continue;
        }
        let id = &dup.task_id;
        let note = RejectionNote {
            duplicate_of: Some(id.clone()),
            ..RejectionNote::new(
                &dup.file.name(),
                Some(id),
                format!("duplicate of accepted task {id} (same id, identical content)"),
            )
        };
        if let Some(to) = reject_task_file(cx.state, &dup.file.path, &note, cx.lock)? {
            applied.duplicates += 1;
            cx.events.emit(
                EventType::TaskDuplicateSkipped,
                "router",
                Some(id),
                None,
                json!({ "file": note.file, "rejected_as": relative(cx.state, &to) }),
            );
        }
    }

    if applied.moved_any() {
        sync_intake_dirs(cx.state)?;
    }
    Ok(applied)
}

/// `rejected/a.json` rather than an absolute path: the state directory may move.
fn relative(state: &StateDir, path: &Path) -> String {
    path.strip_prefix(state.root())
        .unwrap_or(path)
        .display()
        .to_string()
}
