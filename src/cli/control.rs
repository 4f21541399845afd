//! `phase cancel ID…` and `phase retry [--with-deps] ID…`: requests to the executor,
//! recorded in `control.json` under its lock. The executor carries each out once.
//!
//! A retry that cannot make a task run — a dependency ended for good, so the task would
//! stay `dep_failed` — is refused, naming what to retry first; `--with-deps` retries the
//! failed, quarantined, canceled and `dep_failed` tasks upstream of it too
//! ([`crate::lifecycle::plan_retry`]).

use serde_json::json;

use super::{Context, EXIT_OK, Failure, Out, Outcome};
use crate::events::EventLog;
use crate::lifecycle::{Refusal, plan_retry};
use crate::model::{
    Control, EventType, Request, RequestAction, RoutingDecisions, is_valid_task_id, now_rfc3339,
};
use crate::store::{LockGuard, LockWait, StateFile, list_task_files};
use crate::{Error, Result};

/// Arguments of `phase cancel`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Task ids.
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
}

/// Arguments of `phase retry`.
#[derive(Debug, clap::Args)]
pub struct RetryArgs {
    /// Task ids.
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
    /// Also retry the failed, quarantined, canceled and dep_failed tasks they depend on
    /// (directly or not), dependencies first.
    #[arg(long)]
    pub with_deps: bool,
}

/// Records one request per id; prints `<action> requested: <id>`.
pub(super) fn run(action: RequestAction, args: &Args, ctx: &Context, out: &mut Out<'_>) -> Outcome {
    let known = known_tasks(ctx)?;
    check_known(&args.ids, &known, ctx)?;
    request(action, &args.ids, ctx, out)
}

/// `phase retry`: refuses (exit 1) a retry that would leave a task `dep_failed`, naming
/// the dependencies to retry first; otherwise records the retries (with `--with-deps`,
/// of the dependencies too).
pub(super) fn retry(args: &RetryArgs, ctx: &Context, out: &mut Out<'_>) -> Outcome {
    let known = known_tasks(ctx)?;
    check_known(&args.ids, &known, ctx)?;
    let facts = crate::status::read_facts(&ctx.state)?;
    let plan = plan_retry(&facts, &args.ids, args.with_deps);
    if !plan.refused.is_empty() {
        let reasons: Vec<String> = plan
            .refused
            .iter()
            .map(|r| refusal_message(r, args.with_deps))
            .collect();
        return Err(Failure::from(Error::Runtime(reasons.join("; "))));
    }
    request(RequestAction::Retry, &plan.requests, ctx, out)
}

/// Why a retry of `r.task` is refused, and what to do instead.
fn refusal_message(r: &Refusal, with_deps: bool) -> String {
    let task = &r.task;
    let dead: Vec<String> = r
        .dead_dependencies
        .iter()
        .map(|(id, stage)| format!("{id:?} is {}", stage.as_str()))
        .collect();
    let mut message = format!(
        "cannot retry {task:?}: it would stay dep_failed, as its dependency {}",
        dead.join(" and ")
    );
    if !r.retry_first.is_empty() {
        let first: Vec<String> = r
            .retry_first
            .iter()
            .map(|(id, stage)| format!("{id:?} ({})", stage.as_str()))
            .collect();
        message.push_str(&format!("; retry first: {}", first.join(", ")));
        if !with_deps {
            message.push_str(&format!(
                ", or all of them with `phase retry --with-deps {task}`"
            ));
        }
    }
    if !r.unknown.is_empty() {
        message.push_str(&format!(
            "; no task is routed as {} (no retry changes that)",
            quoted(&r.unknown)
        ));
    }
    if !r.cyclic.is_empty() {
        message.push_str(&format!(
            "; {} depend on each other in a cycle (no retry changes that)",
            quoted(&r.cyclic)
        ));
    }
    message
}

fn quoted(ids: &[String]) -> String {
    ids.iter()
        .map(|id| format!("{id:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A usage error (exit 2) for the first id that names no task. An id not found is looked
/// for again under the inbox lock, which the router holds while it moves files: a task
/// is never reported missing because the router was moving it.
fn check_known(ids: &[String], known: &[String], ctx: &Context) -> Result<(), Failure> {
    if ids.iter().all(|id| known.contains(id)) {
        return Ok(());
    }
    let _router_paused = LockGuard::acquire(
        &ctx.state.lock_path("inbox"),
        LockWait::AtMost(std::time::Duration::from_secs(10)),
    )?;
    let known = known_tasks(ctx)?;
    for id in ids {
        if !is_valid_task_id(id) || !known.iter().any(|k| k == id) {
            return Err(Failure::usage(Error::Usage(format!(
                "no task {id:?} in {} (routed or in the inbox)",
                ctx.state.root().display()
            ))));
        }
    }
    Ok(())
}

/// Appends one request per id to `control.json` (all in one write); prints
/// `<action> requested: <id>`.
pub(super) fn request(
    action: RequestAction,
    ids: &[String],
    ctx: &Context,
    out: &mut Out<'_>,
) -> Outcome {
    let run_id = format!("cli-{}", std::process::id());
    let mut file = StateFile::<Control>::new(&ctx.state);
    let mut locked = file.lock(LockWait::AtMost(std::time::Duration::from_secs(10)))?;
    let mut doc = match locked.take_external() {
        Some(doc) => doc,
        None => StateFile::<Control>::new(&ctx.state).read()?,
    };
    let events = EventLog::new(&ctx.state, &run_id);
    for id in ids {
        let request_id = uuid::Uuid::now_v7().to_string();
        doc.requests.push(Request {
            request_id: request_id.clone(),
            action,
            task_id: id.clone(),
            requested_at: now_rfc3339(),
        });
        if action != RequestAction::Cancel {
            let mut data = json!({ "request_id": request_id });
            if action == RequestAction::Rerun {
                data["rerun"] = json!(true);
            }
            events.emit(EventType::TaskRetryRequested, "cli", Some(id), None, data);
        }
    }
    events.flush()?;
    locked.commit(&mut doc, &run_id)?;
    let verb = match action {
        RequestAction::Cancel => "cancel",
        RequestAction::Retry => "retry",
        RequestAction::Rerun => "rerun",
    };
    for id in ids {
        out.line(format!("{verb} requested: {id}"))?;
    }
    Ok(EXIT_OK)
}

/// Ids with a routing decision, a file in the inbox, or an accepted task file — looked at
/// in the order the router moves a task (decision, then `inbox/` → `tasks/`), so a task
/// it moves meanwhile is seen in one place or the next.
fn known_tasks(ctx: &Context) -> Result<Vec<String>> {
    let decisions = StateFile::<RoutingDecisions>::new(&ctx.state).read()?;
    let mut ids: Vec<String> = decisions.decisions.into_iter().map(|d| d.task_id).collect();
    for dir in [ctx.state.inbox(), ctx.state.tasks()] {
        for path in list_task_files(&dir)? {
            if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                ids.push(stem.to_string());
            }
        }
    }
    Ok(ids)
}
