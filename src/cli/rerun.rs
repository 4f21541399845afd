//! `phase rerun ID… [--with-dependents]`: runs ended tasks again — a succeeded one too —
//! as a new attempt with a fresh budget, through a `rerun` request in `control.json` that
//! the executor carries out ([`crate::lifecycle::Stage::rerun`]). With
//! `--with-dependents`, the ended tasks that depend on them (directly or not) run again
//! after them.

use std::collections::{HashMap, HashSet, VecDeque};

use super::{Context, Failure, Out, Outcome};
use crate::Error;
use crate::lifecycle::{self, LivePhases, TaskState, TaskView};
use crate::model::RequestAction;
use crate::status::read_facts;

/// Arguments of `phase rerun`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Tasks that have ended (succeeded, failed, quarantined, canceled).
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
    /// Also run again the ended tasks that depend on them, after them.
    #[arg(long)]
    pub with_dependents: bool,
}

/// Records one `rerun` request per task; prints `rerun requested: <id>`.
pub(super) fn run(args: &Args, ctx: &Context, out: &mut Out<'_>) -> Outcome {
    let facts = read_facts(&ctx.state)?;
    let snapshot = lifecycle::derive(&facts, LivePhases::detect(&ctx.state)?);
    let views: HashMap<&str, &TaskView> =
        snapshot.tasks.iter().map(|t| (t.id.as_str(), t)).collect();
    for id in &args.ids {
        let Some(t) = views.get(id.as_str()) else {
            return Err(Failure::usage(Error::Usage(format!(
                "no task {id:?} in {}",
                ctx.state.root().display()
            ))));
        };
        check(t)?;
    }
    let mut ids = args.ids.clone();
    if args.with_dependents {
        let mut dependents: HashMap<&str, Vec<&str>> = HashMap::new();
        for d in &facts.decisions.decisions {
            for dep in &d.task.depends_on {
                dependents.entry(dep).or_default().push(&d.task_id);
            }
        }
        // Breadth first: nearer dependents first (the executor orders them by their
        // dependencies anyway).
        let mut seen: HashSet<String> = ids.iter().cloned().collect();
        let mut queue: VecDeque<&str> = args.ids.iter().map(String::as_str).collect();
        while let Some(id) = queue.pop_front() {
            for &next in dependents.get(id).into_iter().flatten() {
                if !seen.insert(next.to_string()) {
                    continue;
                }
                queue.push_back(next);
                if views.get(next).is_some_and(|t| rerunnable(t)) {
                    ids.push(next.to_string());
                }
            }
        }
    }
    super::control::request(RequestAction::Rerun, &ids, ctx, out)
}

/// Ended and runnable again by a rerun.
fn rerunnable(t: &TaskView) -> bool {
    lifecycle::is_settled(t)
        && matches!(
            t.state,
            TaskState::Succeeded | TaskState::Failed | TaskState::Quarantined | TaskState::Canceled
        )
}

/// Why `t` cannot be re-run, if it cannot.
fn check(t: &TaskView) -> Result<(), Failure> {
    if rerunnable(t) {
        return Ok(());
    }
    let id = &t.id;
    let why = match t.state {
        TaskState::Rejected | TaskState::Duplicate => {
            return Err(Failure::usage(Error::Usage(format!(
                "{id:?} is a {} file in rejected/, not a task",
                t.state.as_str()
            ))));
        }
        TaskState::DepFailed => format!(
            "cannot rerun {id:?}: it is dep_failed ({}); run its dependencies first \
             (`phase retry --with-deps {id}`)",
            t.reason.as_deref().unwrap_or("a dependency cannot succeed")
        ),
        state => format!(
            "cannot rerun {id:?}: it has not ended ({}); wait for it (`phase wait {id}`)",
            state.as_str()
        ),
    };
    Err(Failure::from(Error::Runtime(why)))
}
