//! `phase plan import FILE… [--dry-run]` and `phase plan close PLAN` (README "Plans"):
//! Markdown plans as tasks. Every plan is read and decided before anything is submitted,
//! so a plan with a mistake submits nothing; `plans.json` is held under its lock from the
//! first read to the last write, so two imports never submit the same item twice.

mod json;

use std::path::PathBuf;
use std::time::Duration;

use super::{Context, EXIT_OK, Failure, Out, Outcome};
use crate::events::EventLog;
use crate::model::Plans;
use crate::plan::close;
use crate::plan::import::{self, Prepared, Verdict};
use crate::store::{LockWait, StateFile};
use crate::{Error, Result};

/// How long a plan command waits for `plans.json`'s lock.
const LOCK_WAIT: LockWait = LockWait::AtMost(Duration::from_secs(10));

/// Arguments of `phase plan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do with a plan.
    #[command(subcommand)]
    pub command: PlanCommand,
}

/// The `phase plan` verbs.
#[derive(Debug, clap::Subcommand)]
pub enum PlanCommand {
    /// Submit the task items of Markdown plans (numbered or checkbox items, headings as
    /// groups, `{files: …; kind: …; tool: …; after: …; parallel}` annotations); items
    /// already imported (same content) are skipped.
    Import(ImportArgs),
    /// When every task of an imported plan has succeeded: tick its checkboxes and append a
    /// completion section (never if the file changed since its import).
    Close(CloseArgs),
}

/// Arguments of `phase plan import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Markdown plan files.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print what would be submitted; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the result as JSON for programs (schemas/plan_import.schema.json).
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `phase plan close`.
#[derive(Debug, clap::Args)]
pub struct CloseArgs {
    /// The plan: its file, or its name (the file stem).
    #[arg(value_name = "PLAN")]
    pub plan: String,
}

/// Runs the verb.
pub(super) fn run(args: &Args, ctx: &Context, out: &mut Out<'_>) -> Outcome {
    if !ctx.state.root().is_dir() {
        return Err(Failure::usage(Error::invalid(
            ctx.state.root(),
            "no state directory here (run `phase init`, or pass --state-dir)",
        )));
    }
    match &args.command {
        PlanCommand::Import(a) => import_plans(a, ctx, out),
        PlanCommand::Close(a) => close_plan(a, ctx, out),
    }
}

fn import_plans(args: &ImportArgs, ctx: &Context, out: &mut Out<'_>) -> Outcome {
    let state = &ctx.state;
    let writer = format!("cli-{}", std::process::id());
    let mut file = StateFile::<Plans>::new(state);
    let mut locked = if args.dry_run {
        None
    } else {
        Some(file.lock(LOCK_WAIT)?)
    };
    let mut doc = match locked.as_mut().and_then(|l| l.take_external()) {
        Some(doc) => doc,
        None => StateFile::<Plans>::new(state).read()?,
    };
    // Decided one after the other against what the ones before add, so one command with
    // two plans holding the same item submits it once.
    let mut seen = doc.clone();
    let mut prepared = Vec::new();
    for path in &args.files {
        let p = import::prepare(state, path, &seen).map_err(Failure::usage)?;
        import::remember(&p, &mut seen);
        prepared.push(p);
    }
    let events = EventLog::new(state, &writer);
    if let Some(locked) = locked {
        for p in &prepared {
            import::commit(state, p, &mut doc, &events)?;
        }
        events.flush()?;
        locked.commit(&mut doc, &writer)?;
    }
    if args.json {
        out.line(json::render(&prepared, args.dry_run)?)?;
        return Ok(EXIT_OK);
    }
    for p in &prepared {
        print_plan(p, args.dry_run, out)?;
    }
    Ok(EXIT_OK)
}

/// One line per item, then the plan's counts.
fn print_plan(p: &Prepared, dry_run: bool, out: &mut Out<'_>) -> Result<(), Failure> {
    let (mut new, mut known, mut checked) = (0, 0, 0);
    for d in &p.items {
        let title = &d.draft.item.title;
        match &d.verdict {
            Verdict::New => {
                new += 1;
                let spec = d.spec.as_ref();
                let after = spec.map(|s| s.depends_on.join(", ")).unwrap_or_default();
                let verb = if dry_run { "would submit" } else { "submitted" };
                out.line(format!(
                    "{verb:<13}{}  [{}] {title}  (after: {})",
                    d.task_id,
                    d.draft.kind,
                    if after.is_empty() { "-" } else { &after }
                ))?;
            }
            Verdict::Known(_) => {
                known += 1;
                out.line(format!("{:<13}{}  {title}", "known", d.task_id))?;
            }
            Verdict::Checked => {
                checked += 1;
                out.line(format!("{:<13}{}  {title}", "checked", d.task_id))?;
            }
        }
    }
    out.line(format!(
        "{}: {} items: {new} {}, {known} known, {checked} checked{}",
        p.path.display(),
        p.items.len(),
        if dry_run { "to submit" } else { "submitted" },
        if dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        }
    ))
}

fn close_plan(args: &CloseArgs, ctx: &Context, out: &mut Out<'_>) -> Outcome {
    let state = &ctx.state;
    let writer = format!("cli-{}", std::process::id());
    let mut file = StateFile::<Plans>::new(state);
    let mut locked = file.lock(LOCK_WAIT)?;
    let mut doc = match locked.take_external() {
        Some(doc) => doc,
        None => StateFile::<Plans>::new(state).read()?,
    };
    let record = close::find(state, &doc, &args.plan).map_err(Failure::usage)?;
    if let Some(at) = already_closed(state, record)? {
        out.line(format!("{}: closed already ({at})", record.path))?;
        return Ok(EXIT_OK);
    }
    let events = EventLog::new(state, &writer);
    let closed = close::close(state, &mut doc, &args.plan, &events)?;
    events.flush()?;
    locked.commit(&mut doc, &writer)?;
    out.line(format!(
        "{}: closed: {} items done, {} checkboxes ticked, completion section appended",
        closed.path, closed.tasks, closed.ticked
    ))?;
    Ok(EXIT_OK)
}

/// When the plan was closed, if it was and its file is still as the close left it.
fn already_closed(
    state: &crate::store::StateDir,
    record: &crate::model::PlanRecord,
) -> Result<Option<String>> {
    let Some(at) = &record.closed_at else {
        return Ok(None);
    };
    let path = state.project_root().join(&record.path);
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, "read", e))?;
    Ok((crate::plan::sha256(&bytes) == record.fingerprint).then(|| at.clone()))
}
