//! `phase submit FILE…|-`: validate task files, then publish each into `inbox/<id>.json`.
//!
//! All inputs are read and checked (format, duplicate ids, ids already taken) before
//! anything is published, so an invalid input means nothing is written. Prints each
//! task's id on stdout, one a line, in input order.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::validate::refs::Refs;
use super::{Context, EXIT_OK, Failure, Out, Outcome, note, report};
use crate::Error;
use crate::events::EventLog;
use crate::model::EventType;
use crate::store::{Existing, Published, Submission};

/// Arguments of `phase submit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Task files; `-` reads one task from stdin (it must then give its `id`).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// What submitting one input comes to, decided before anything is written.
enum Plan {
    /// Publish it.
    Publish,
    /// The same task is already in the state directory here.
    AlreadyThere(PathBuf),
    /// The same task appears earlier in this very command.
    Repeat,
}

/// Validates every input, then publishes them.
pub(super) fn run(args: &Args, ctx: &Context, out: &mut Out<'_>) -> Outcome {
    let state = &ctx.state;
    if !state.root().is_dir() {
        return Err(Failure::usage(Error::invalid(
            state.root(),
            "no state directory here (run `phase init`, or pass --state-dir)",
        )));
    }
    let (submissions, mut problems) = read_inputs(&args.files);
    // The tools and dependencies they name, against the config and the tasks known.
    let config = ctx.config().map_err(Failure::usage)?;
    let mut refs = Refs::new(Some((&config, &ctx.config_shown())), state);
    for s in &submissions {
        refs.add_known(s.id());
    }
    for s in &submissions {
        problems.extend(refs.check(s.source(), s.spec()));
    }
    let mut plans = Vec::with_capacity(submissions.len());
    let mut first_by_id: HashMap<&str, &Submission> = HashMap::new();
    for s in &submissions {
        if let Some(first) = first_by_id.get(s.id()) {
            if first.spec() == s.spec() {
                plans.push(Plan::Repeat);
            } else {
                problems.push(Error::invalid(
                    s.source(),
                    format!(
                        "task {:?} is also given by {} with different content",
                        s.id(),
                        first.source().display()
                    ),
                ));
            }
            continue;
        }
        first_by_id.insert(s.id(), s);
        match s.existing(state) {
            Ok(Existing::None) => plans.push(Plan::Publish),
            Ok(Existing::Same(path)) => plans.push(Plan::AlreadyThere(path)),
            Ok(Existing::Different(path)) => problems.push(s.conflict(&path)),
            // The state directory cannot be looked at: no fault of the input (exit 1).
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(last) = problems.pop() {
        for p in &problems {
            report(p);
        }
        return Err(Failure::usage(last));
    }
    publish(ctx, &submissions, plans, out)
}

/// Reads and validates every input; returns the good ones and one error per bad one.
fn read_inputs(files: &[PathBuf]) -> (Vec<Submission>, Vec<Error>) {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    let mut stdin_used = false;
    for file in files {
        let read = if file.as_os_str() == "-" {
            if std::mem::replace(&mut stdin_used, true) {
                bad.push(Error::Usage("`-` (stdin) given more than once".to_string()));
                continue;
            }
            Submission::from_reader(Path::new("<stdin>"), std::io::stdin().lock())
        } else {
            Submission::from_file(file)
        };
        match read {
            Ok(s) => good.push(s),
            Err(e) => bad.push(e),
        }
    }
    (good, bad)
}

fn publish(
    ctx: &Context,
    submissions: &[Submission],
    plans: Vec<Plan>,
    out: &mut Out<'_>,
) -> Outcome {
    let log = EventLog::new(&ctx.state, &uuid::Uuid::now_v7().to_string());
    let outcome = publish_each(ctx, submissions, plans, &log, out);
    // The tasks are published; a log that cannot be written is worth a warning only.
    if let Err(e) = log.flush() {
        tracing::warn!("cannot record TASK_SUBMITTED events: {e}");
    }
    outcome
}

fn publish_each(
    ctx: &Context,
    submissions: &[Submission],
    plans: Vec<Plan>,
    log: &EventLog,
    out: &mut Out<'_>,
) -> Outcome {
    for (s, plan) in submissions.iter().zip(plans) {
        let already = match plan {
            Plan::Repeat => None,
            Plan::AlreadyThere(path) => Some(path),
            Plan::Publish => match s.publish(&ctx.state).map_err(publish_failure)? {
                Published::New(path) => {
                    let file = path.strip_prefix(ctx.state.root()).unwrap_or(&path);
                    log.emit(
                        EventType::TaskSubmitted,
                        "cli",
                        Some(s.id()),
                        None,
                        serde_json::json!({
                            "file": file.display().to_string(),
                            "source": s.source().display().to_string(),
                        }),
                    );
                    None
                }
                Published::AlreadyThere(path) => Some(path),
            },
        };
        if let Some(path) = already {
            note(&format!(
                "{}: task {:?} is already submitted ({}); not submitted again",
                s.source().display(),
                s.id(),
                path.display()
            ));
        }
        out.line(s.id())?;
    }
    Ok(EXIT_OK)
}

/// A task that turns out to conflict while it is published is the user's input (exit 2);
/// a file system that fails to take it is not (exit 1).
fn publish_failure(error: Error) -> Failure {
    if error.is_content_error() {
        Failure::usage(error)
    } else {
        Failure::from(error)
    }
}
