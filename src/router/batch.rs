//! One batch: every ready inbox file sorted into what happens to it — routed, rejected,
//! a duplicate, or the second half of a move a crash interrupted. Pure planning: nothing
//! here touches a file.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::{RoutingDecision, TaskSpec, now_rfc3339};
use crate::store::{InboxFile, RejectionNote, StateDir, accepted_task_exists, read_accepted_task};

use super::choose::{Request, Selector, choose};
use super::intake::{IntakeDecision, Ready};
use super::routing_book::RoutingBook;

/// A file whose task id is already accepted with the same spec.
#[derive(Debug)]
pub(super) struct Duplicate {
    pub file: InboxFile,
    pub task_id: String,
    /// It duplicates a file routed in this same batch: it only counts as a duplicate once
    /// that one's decision is committed.
    pub of_this_batch: bool,
}

/// What to do with each ready file.
#[derive(Debug, Default)]
pub(super) struct Plan {
    /// New decisions, in submission order (file mtime, then name).
    pub routed: Vec<(InboxFile, RoutingDecision)>,
    /// Invalid or unroutable files.
    pub rejected: Vec<(InboxFile, RejectionNote)>,
    /// Files whose decision exists (identical spec) but that were never moved to
    /// `tasks/`: the router crashed between the two steps. Just moved.
    pub unfinished_moves: Vec<(InboxFile, String)>,
    /// Copies of accepted tasks.
    pub duplicates: Vec<Duplicate>,
}

/// Plans a batch. Files sharing an id are taken by name: the first is routed (unless the
/// id is already decided), the rest are duplicates or conflicts.
pub(super) fn plan(
    ready: Vec<Ready>,
    book: &RoutingBook,
    sel: &mut Selector<'_>,
    state: &StateDir,
) -> Plan {
    let mut plan = Plan::default();
    let mut by_id: BTreeMap<String, Vec<(InboxFile, TaskSpec)>> = BTreeMap::new();
    for Ready { file, decision } in ready {
        match decision {
            IntakeDecision::Valid(spec) => by_id
                .entry(spec.id().to_string())
                .or_default()
                .push((file, *spec)),
            IntakeDecision::Invalid(e) => {
                let note = RejectionNote::for_error(&file.name(), &e);
                plan.rejected.push((file, note));
            }
        }
    }
    for (id, mut files) in by_id {
        files.sort_by(|a, b| a.0.file_name.cmp(&b.0.file_name));
        // The accepted spec and whether it was accepted in this batch.
        let mut accepted: Option<(TaskSpec, bool)> =
            book.get(&id).map(|d| (accepted_spec(state, d), false));
        let mut move_finished = false;
        for (file, spec) in files {
            match &accepted {
                None => match choose(new_task(&spec, &id), sel) {
                    Ok(choice) => {
                        let decision = RoutingDecision {
                            task_id: id.clone(),
                            task_kind: spec.kind.clone(),
                            selected_tool: choice.selected_tool,
                            strategy: choice.strategy,
                            candidates: choice.candidates.into(),
                            skipped: choice.skipped.into(),
                            reason: choice.reason,
                            decided_at: now_rfc3339(),
                            submission_seq: 0,
                            metadata: spec.metadata.clone(),
                            // The values stay in tasks/<id>.json only (secrets).
                            task: spec.redacted(),
                            scores: choice.scores.into(),
                            fallbacks: Default::default(),
                            waiting: choice.waiting,
                            // The executor waits for the router's look at each failure.
                            reviewed_attempt: Some(0),
                            gate: sel.config.gate_for(&spec).map(Box::new),
                        };
                        plan.routed.push((file, decision));
                        accepted = Some((spec, true));
                    }
                    Err(why) => {
                        let note = RejectionNote::new(&file.name(), Some(&id), why);
                        plan.rejected.push((file, note));
                    }
                },
                // A decision whose task file is not readable (its move not finished) only
                // has the env names: the same names count as the same task.
                Some((theirs, of_this_batch)) if *theirs == spec || *theirs == spec.redacted() => {
                    if !of_this_batch && !move_finished && !accepted_task_exists(state, &id) {
                        move_finished = true;
                        plan.unfinished_moves.push((file, id.clone()));
                    } else {
                        plan.duplicates.push(Duplicate {
                            file,
                            task_id: id.clone(),
                            of_this_batch: *of_this_batch,
                        });
                    }
                }
                Some((theirs, _)) => {
                    let why = format!(
                        "task id {id:?} is already accepted with different content \
                         (differs in: {}); submit it under a new id",
                        differing_fields(theirs, &spec).join(", ")
                    );
                    let note = RejectionNote::new(&file.name(), Some(&id), why);
                    plan.rejected.push((file, note));
                }
            }
        }
    }
    plan.routed
        .sort_by(|a, b| (a.0.modified, &a.0.file_name).cmp(&(b.0.modified, &b.0.file_name)));
    plan
}

/// A task seen for the first time: nothing ran, nothing to leave out.
fn new_task<'t>(spec: &'t TaskSpec, id: &'t str) -> Request<'t> {
    Request {
        task: spec,
        task_id: id,
        after_attempt: 0,
        exclude: None,
    }
}

/// The spec a decision stands for, to compare a new file with: its env values are only in
/// the accepted task file, so they are read from there (the decision's own, redacted,
/// when that file cannot be read).
fn accepted_spec(state: &StateDir, decision: &RoutingDecision) -> TaskSpec {
    if decision.task.env.is_empty() {
        return decision.task.clone();
    }
    read_accepted_task(state, &decision.task_id).unwrap_or_else(|_| decision.task.clone())
}

/// Top-level fields whose values differ between two specs.
fn differing_fields(a: &TaskSpec, b: &TaskSpec) -> Vec<String> {
    let (Ok(Value::Object(a)), Ok(Value::Object(b))) =
        (serde_json::to_value(a), serde_json::to_value(b))
    else {
        return vec!["(unknown)".to_string()];
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}
