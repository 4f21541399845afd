//! `phase validate [PATH…]`: state files, the event log, task files and the config, each
//! against its schema. One `error:` line per problem, a summary line on stdout; exit 0 if
//! everything is valid, else 1.

mod events;
mod json;
pub(super) mod refs;

use std::path::{Path, PathBuf};

use super::{Context, EXIT_FAILURE, EXIT_OK, Out, Outcome, report};
use crate::config::Config;
use crate::events::EVENTS_FILE;
use crate::model::{
    AdapterAssignments, Control, ErrorAnalyses, ExecutionResults, FixPatches, HookCursors, Plans,
    RoutingDecisions, Runs, StateDoc, ToolHealth,
};
use crate::store::{StateFile, list_inbox, list_task_files, read_task_file};
use crate::{Error, Result};
use refs::Refs;

/// Arguments of `phase validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files to check; the kind comes from the name: a state file's name (e.g.
    /// `execution_results.json`), `*.toml` (config), `*.jsonl` (event log), anything else a
    /// task file. None: everything in the state directory, and the config.
    pub paths: Vec<PathBuf>,
    /// Print the result as JSON for programs (schemas/validate.schema.json); the
    /// `error:` lines still go to stderr.
    #[arg(long)]
    pub json: bool,
}

type Checker = fn(&Path) -> Result<()>;

/// The JSON state files, by name.
const STATE_FILES: [(&str, Checker); 10] = [
    (RoutingDecisions::FILE, check_state::<RoutingDecisions>),
    (AdapterAssignments::FILE, check_state::<AdapterAssignments>),
    (ExecutionResults::FILE, check_state::<ExecutionResults>),
    (ErrorAnalyses::FILE, check_state::<ErrorAnalyses>),
    (FixPatches::FILE, check_state::<FixPatches>),
    (Control::FILE, check_state::<Control>),
    (ToolHealth::FILE, check_state::<ToolHealth>),
    (Plans::FILE, check_state::<Plans>),
    (Runs::FILE, check_state::<Runs>),
    (HookCursors::FILE, check_state::<HookCursors>),
];

/// Files checked and files with problems.
#[derive(Debug, Default)]
struct Tally {
    files: usize,
    invalid: usize,
    /// Every problem, for `--json`.
    problems: Vec<json::Problem>,
}

impl Tally {
    fn record(&mut self, problems: &[Error]) {
        self.files += 1;
        if !problems.is_empty() {
            self.invalid += 1;
        }
        for p in problems {
            report(p);
            self.problems.push(json::Problem::of(p));
        }
    }
}

/// Checks the given paths, or everything.
pub(super) fn run(args: &Args, ctx: &Context, out: &mut Out<'_>) -> Outcome {
    let mut tally = Tally::default();
    let refs = task_refs(ctx, &args.paths);
    if args.paths.is_empty() {
        check_everything(ctx, &mut tally, &refs)?;
    } else {
        for path in &args.paths {
            tally.record(&check_path(path, &refs));
        }
    }
    if args.json {
        out.line(json::render(tally.files, tally.invalid, &tally.problems)?)?;
        return Ok(if tally.invalid == 0 {
            EXIT_OK
        } else {
            EXIT_FAILURE
        });
    }
    let plural = |n: usize| if n == 1 { "file" } else { "files" };
    if tally.invalid == 0 {
        out.line(format!("ok: {} {} valid", tally.files, plural(tally.files)))?;
        Ok(EXIT_OK)
    } else {
        out.line(format!(
            "invalid: {} of {} {}",
            tally.invalid,
            tally.files,
            plural(tally.files)
        ))?;
        Ok(EXIT_FAILURE)
    }
}

/// `warning:` lines for agent tools that cannot run on this machine (a program not on
/// PATH, an API key not set): the config is valid, the machine is not ready.
fn warn_agents(path: &Path, config: &Config) {
    use std::io::Write as _;
    for warning in crate::config::presets::readiness_warnings(config) {
        let _ = writeln!(
            std::io::stderr().lock(),
            "warning: {}: {warning}",
            path.display()
        );
    }
}

/// One explicitly named file, its kind taken from its name.
fn check_path(path: &Path, refs: &Refs) -> Vec<Error> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if let Some((_, check)) = STATE_FILES.iter().find(|(file, _)| *file == name) {
        // A missing state file reads as empty; a file named on the command line must exist.
        if let Err(e) = std::fs::symlink_metadata(path) {
            return vec![Error::io(path, "read", e)];
        }
        return check(path).err().into_iter().collect();
    }
    if name.ends_with(".toml") {
        return match Config::load_required(path) {
            Ok(config) => {
                warn_agents(path, &config);
                Vec::new()
            }
            Err(e) => vec![e],
        };
    }
    if name.ends_with(".jsonl") {
        return events::check_log(path).unwrap_or_else(|e| vec![e]);
    }
    check_task(path, refs)
}

/// A task file: its format, then the tool and dependencies it names.
fn check_task(path: &Path, refs: &Refs) -> Vec<Error> {
    match read_task_file(path) {
        Ok(spec) => refs.check(path, &spec),
        Err(e) => vec![e],
    }
}

/// What task files are checked against: the config's tools (when it loads; its own
/// problems are reported as the config's) and the tasks known, explicit files included.
fn task_refs(ctx: &Context, paths: &[PathBuf]) -> Refs {
    let config = ctx.config().ok();
    let shown = ctx.config_shown();
    let mut refs = Refs::new(config.as_ref().map(|c| (c, shown.as_path())), &ctx.state);
    for path in paths {
        if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
            refs.add_known(stem);
        }
    }
    refs
}

/// The config and every file of the state directory.
fn check_everything(ctx: &Context, tally: &mut Tally, refs: &Refs) -> Result<()> {
    if ctx.config_explicit || ctx.config_path.exists() {
        let config = ctx.config();
        if let Ok(config) = &config {
            warn_agents(&ctx.config_path, config);
        }
        tally.record(&config.err().into_iter().collect::<Vec<_>>());
    }
    let state = &ctx.state;
    if !state.root().is_dir() {
        tally.record(&[Error::invalid(
            state.root(),
            "no state directory here (run `phase init`, or pass --state-dir)",
        )]);
        return Ok(());
    }
    for (name, check) in STATE_FILES {
        let path = state.file(name);
        if path.exists() {
            tally.record(&check(&path).err().into_iter().collect::<Vec<_>>());
        }
    }
    let log = state.file(EVENTS_FILE);
    if log.exists() {
        tally.record(&events::check_log(&log).unwrap_or_else(|e| vec![e]));
    }
    let inbox = list_inbox(state)?.into_iter().map(|f| f.path);
    let tasks = list_task_files(&state.tasks())?;
    for path in inbox.chain(tasks) {
        tally.record(&check_task(&path, refs));
    }
    Ok(())
}

fn check_state<T: StateDoc>(path: &Path) -> Result<()> {
    // Reading needs no lock (writers replace the file by rename), so no lock path.
    StateFile::<T>::at(path.to_path_buf(), PathBuf::new())
        .read()
        .map(drop)
}
