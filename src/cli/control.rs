//! `phase cancel ID…` and `phase retry ID…`: requests to the executor, recorded in
//! `control.json` under its lock. The executor carries each out once.

use serde_json::json;

use super::{Context, EXIT_OK, Failure, Out, Outcome};
use crate::events::EventLog;
use crate::model::{
    Control, EventType, Request, RequestAction, RoutingDecisions, is_valid_task_id, now_rfc3339,
};
use crate::store::{LockWait, StateFile, list_task_files};
use crate::{Error, Result};

/// Arguments of `phase cancel` and `phase retry`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Task ids.
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
}

/// Records one request per id; prints `<action> requested: <id>`.
pub fn run(action: RequestAction, args: &Args, ctx: &Context, out: &mut Out<'_>) -> Outcome {
    let known = known_tasks(ctx)?;
    for id in &args.ids {
        if !is_valid_task_id(id) || !known.iter().any(|k| k == id) {
            return Err(Failure::usage(Error::Usage(format!(
                "no task {id:?} in {} (routed or in the inbox)",
                ctx.state.root().display()
            ))));
        }
    }
    let run_id = format!("cli-{}", std::process::id());
    let mut file = StateFile::<Control>::new(&ctx.state);
    let mut locked = file.lock(LockWait::AtMost(std::time::Duration::from_secs(10)))?;
    let mut doc = match locked.take_external() {
        Some(doc) => doc,
        None => StateFile::<Control>::new(&ctx.state).read()?,
    };
    let events = EventLog::new(&ctx.state, &run_id);
    for id in &args.ids {
        let request_id = uuid::Uuid::now_v7().to_string();
        doc.requests.push(Request {
            request_id: request_id.clone(),
            action,
            task_id: id.clone(),
            requested_at: now_rfc3339(),
        });
        if action == RequestAction::Retry {
            events.emit(
                EventType::TaskRetryRequested,
                "cli",
                Some(id),
                None,
                json!({ "request_id": request_id }),
            );
        }
    }
    events.flush()?;
    locked.commit(&mut doc, &run_id)?;
    let verb = match action {
        RequestAction::Cancel => "cancel",
        RequestAction::Retry => "retry",
    };
    for id in &args.ids {
        out.line(format!("{verb} requested: {id}"))?;
    }
    Ok(EXIT_OK)
}

/// Ids with a routing decision or a file in the inbox.
fn known_tasks(ctx: &Context) -> Result<Vec<String>> {
    let decisions = StateFile::<RoutingDecisions>::new(&ctx.state).read()?;
    let mut ids: Vec<String> = decisions.decisions.into_iter().map(|d| d.task_id).collect();
    for path in list_task_files(&ctx.state.inbox())? {
        if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
            ids.push(stem.to_string());
        }
    }
    Ok(ids)
}
