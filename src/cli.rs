//! The `phase` command line: global options, one file per verb in `cli/`, and the one
//! place that renders errors and maps them to exit codes (DESIGN.md §7).
//!
//! Adding a verb: a variant in [`Command`] holding the verb's `Args`, a file
//! `cli/<verb>.rs` with `pub fn run(args, ctx, out) -> Outcome`, and its arm in
//! [`Command::run`].

mod archive;
mod completions;
mod control;
mod dag;
mod edit;
mod events;
mod init;
mod log_format;
mod logs;
mod man;
mod out;
mod plan;
mod progress;
mod rerun;
mod run;
mod schema;
mod show;
mod status;
mod submit;
mod tools;
mod validate;
mod wait;

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::Config;
use crate::model::RequestAction;
use crate::store::StateDir;
use crate::{Error, Result};

pub use out::{Out, note, report};

pub use crate::error::{EXIT_FAILURE, EXIT_USAGE};

/// `phase --version`: the package version and the commit it was built from (build.rs;
/// `unknown` outside a git checkout).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("PHASE_GIT_COMMIT"),
    ")"
);

/// Exit code: everything is ok.
pub const EXIT_OK: i32 = 0;

/// `phase`: a file-driven workflow engine.
#[derive(Debug, Parser)]
#[command(name = "phase", version = VERSION, about, propagate_version = true)]
pub struct Cli {
    /// The state directory.
    #[arg(
        long,
        global = true,
        env = "PHASE_STATE_DIR",
        default_value = ".state",
        value_name = "DIR"
    )]
    pub state_dir: PathBuf,
    /// The configuration file (missing: built-in defaults, unless given explicitly).
    #[arg(
        long,
        global = true,
        env = "PHASE_CONFIG",
        default_value = "config/coordinator.toml",
        value_name = "FILE"
    )]
    pub config: PathBuf,
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
    /// Less log output on stderr (-q errors only, -qq nothing).
    #[arg(short, long, global = true, action = ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the state directory layout and a starter config (never overwrites).
    Init(init::Args),
    /// Check state files, task files and the config against their schemas.
    Validate(validate::Args),
    /// List the published JSON Schemas, or print one.
    Schema(schema::Args),
    /// Validate task files and publish them into the inbox.
    Submit(submit::Args),
    /// Run the phases (all, or the ones named) until SIGINT/SIGTERM, or with --once until
    /// nothing is left to do.
    Run(run::Args),
    /// Show every task's state as derived from the files.
    Status(status::Args),
    /// Everything about one task: decision, attempts, analyses, fixes, gates, logs.
    Show(show::Args),
    /// Cancel tasks: a running task's process group is killed; the task ends canceled.
    Cancel(control::Args),
    /// Give quarantined, failed or canceled tasks a fresh retry budget.
    Retry(control::RetryArgs),
    /// Print the event log (`--follow` to keep watching).
    Events(events::Args),
    /// Print a task attempt's captured stdout (or `--stderr`).
    Logs(logs::Args),
    /// Wait until tasks (all, or the ones named) have ended; exit 0 only if all succeeded.
    Wait(wait::Args),
    /// Edit a state file in $VISUAL/$EDITOR; validated, then swapped in under its lock.
    Edit(edit::Args),
    /// Show the tools' circuits, cool-downs and health checks; `reset NAME` closes a circuit.
    Tools(tools::Args),
    /// Markdown plans as tasks: `import` submits a plan's items, `close` ticks a finished
    /// plan's checkboxes.
    Plan(plan::Args),
    /// Run ended tasks again (a succeeded one too) as a new attempt.
    Rerun(rerun::Args),
    /// Move a finished run's records to .state/archive/<run_id>/.
    Archive(archive::Args),
    /// The tasks' dependency graph (`--dot`: Graphviz), in execution order.
    Dag(dag::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::Args),
    /// Print the manual page (roff; `phase man | man -l -`).
    Man(man::Args),
    /// Internal: the attempt runner an executor starts (docs/ATTEMPTS.md).
    #[command(name = "__runner", hide = true)]
    Runner(crate::runner::RunnerArgs),
    /// Internal: the wrapper each Slurm job runs (docs/SLURM.md).
    #[command(name = "__slurm-job", hide = true)]
    SlurmJob(crate::slurm::SlurmJobArgs),
}

/// What a verb returns: its exit code, or an error to render.
pub type Outcome = std::result::Result<i32, Failure>;

/// An error on its way to the user. [`run`] renders it (the one place that prints
/// `error: …`) and ends with the error's own [`Error::exit_code`]: a verb cannot pick
/// another code for it.
#[derive(Debug)]
pub struct Failure {
    /// What went wrong.
    pub error: Error,
}

impl Failure {
    /// The error comes from the input the user gave, which is unusable: exit code 2
    /// whatever the error is ([`Error::input`]).
    pub fn usage(error: Error) -> Self {
        Failure {
            error: Error::input(error),
        }
    }

    /// The exit code the program ends with.
    pub fn exit_code(&self) -> i32 {
        self.error.exit_code()
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure { error }
    }
}

/// What every verb gets: where the state directory and the config are.
#[derive(Debug, Clone)]
pub struct Context {
    /// The state directory.
    pub state: StateDir,
    /// The configuration file's path.
    pub config_path: PathBuf,
    /// Whether the user named the config (then it must exist).
    pub config_explicit: bool,
    /// `-v` given this many times.
    pub verbose: u8,
    /// `-q` given this many times.
    pub quiet: u8,
}

impl Context {
    /// The config as named in messages: its path, or the built-in defaults when the
    /// default path does not exist.
    pub fn config_shown(&self) -> PathBuf {
        if self.config_explicit || self.config_path.is_file() {
            self.config_path.clone()
        } else {
            PathBuf::from("the built-in default config")
        }
    }

    /// Loads the configuration: the built-in defaults when the default path is absent,
    /// an error when an explicitly named file is.
    pub fn config(&self) -> Result<Config> {
        // `-v` says which config is in use: a misplaced file silently means the defaults.
        if self.config_explicit || self.config_path.is_file() {
            tracing::info!("config: {}", self.config_path.display());
        } else {
            tracing::info!(
                "config: built-in defaults ({} does not exist)",
                self.config_path.display()
            );
        }
        if self.config_explicit {
            Config::load_required(&self.config_path)
        } else {
            Config::load(&self.config_path)
        }
    }
}

impl Command {
    /// Runs the verb.
    pub fn run(&self, ctx: &Context, out: &mut Out<'_>) -> Outcome {
        match self {
            Command::Init(args) => init::run(args, ctx, out),
            Command::Validate(args) => validate::run(args, ctx, out),
            Command::Schema(args) => schema::run(args, out),
            Command::Submit(args) => submit::run(args, ctx, out),
            Command::Run(args) => run::run(args, ctx, out),
            Command::Status(args) => status::run(args, ctx, out),
            Command::Show(args) => show::run(args, ctx, out),
            Command::Cancel(args) => control::run(RequestAction::Cancel, args, ctx, out),
            Command::Retry(args) => control::retry(args, ctx, out),
            Command::Events(args) => events::run(args, ctx, out),
            Command::Logs(args) => logs::run(args, ctx, out),
            Command::Wait(args) => wait::run(args, ctx, out),
            Command::Edit(args) => edit::run(args, ctx, out),
            Command::Tools(args) => tools::run(args, ctx, out),
            Command::Plan(args) => plan::run(args, ctx, out),
            Command::Rerun(args) => rerun::run(args, ctx, out),
            Command::Archive(args) => archive::run(args, ctx, out),
            Command::Dag(args) => dag::run(args, ctx, out),
            Command::Completions(args) => completions::run(args, out),
            Command::Man(args) => man::run(args, out),
            Command::Runner(args) => Ok(crate::runner::serve(args, &ctx.state)?),
            Command::SlurmJob(args) => Ok(crate::slurm::run_job(args, &ctx.state)?),
        }
    }
}

/// The program: parses `std::env::args`, runs the verb, renders any error; returns the
/// exit code.
pub fn main() -> i32 {
    crate::heap::tune();
    run(std::env::args_os(), &mut std::io::stdout().lock())
}

/// Like [`main`] with explicit arguments (the first is the program name) and stdout.
pub fn run(args: impl IntoIterator<Item = OsString>, stdout: &mut dyn std::io::Write) -> i32 {
    let (mut cli, config_explicit, state_explicit) = match parse(args) {
        Ok(parsed) => parsed,
        Err(e) => {
            // clap renders its own `error: …` with usage, or the help/version text.
            let _ = e.print();
            return e.exit_code();
        }
    };
    init_logging(cli.verbose, cli.quiet);
    if let Err(message) = locate_project(&mut cli, config_explicit, state_explicit) {
        eprintln!("error: {message}");
        return EXIT_USAGE;
    }
    let ctx = Context {
        state: StateDir::new(&cli.state_dir),
        config_path: cli.config.clone(),
        config_explicit,
        verbose: cli.verbose,
        quiet: cli.quiet,
    };
    let mut out = Out::new(stdout);
    match cli.command.run(&ctx, &mut out) {
        Ok(code) => code,
        // The reader went away (`phase schema task | head`): not worth a message.
        Err(f) if out::is_broken_pipe(&f.error) => EXIT_OK,
        Err(f) => {
            report(&f.error);
            f.exit_code()
        }
    }
}

/// Parses the arguments; also says whether `--config` and `--state-dir` were given (on
/// the command line or in the environment) rather than defaulted.
fn parse(
    args: impl IntoIterator<Item = OsString>,
) -> std::result::Result<(Cli, bool, bool), clap::Error> {
    let matches = Cli::command().try_get_matches_from(args)?;
    let given = |id: &str| {
        !matches!(
            matches.value_source(id),
            None | Some(ValueSource::DefaultValue)
        )
    };
    let (config, state) = (given("config"), given("state_dir"));
    Ok((Cli::from_arg_matches(&matches)?, config, state))
}

/// Finds the project as git does: unless `--state-dir`/`PHASE_STATE_DIR` name the state
/// directory, the nearest `.state` in the current directory or above; the default config
/// is then relative to that project root. `init` creates a project and `schema` needs
/// none; every other verb without a state directory is a usage error.
fn locate_project(
    cli: &mut Cli,
    config_explicit: bool,
    state_explicit: bool,
) -> std::result::Result<(), String> {
    if state_explicit
        || matches!(
            cli.command,
            Command::Init(_) | Command::Schema(_) | Command::Completions(_) | Command::Man(_)
        )
    {
        return Ok(());
    }
    let cwd =
        std::env::current_dir().map_err(|e| format!("cannot read the current directory: {e}"))?;
    let Some(root) = cwd.ancestors().find(|d| d.join(".state").is_dir()) else {
        // `validate` checks explicit paths without a project, and reports a missing state
        // directory as an invalid file itself (exit 1, the files are not ok).
        if matches!(cli.command, Command::Validate(_)) {
            return Ok(());
        }
        return Err(format!(
            "no .state directory here or above {}; run `phase init`",
            cwd.display()
        ));
    };
    // Found here: keep the relative default, so messages name `.state/…` as before.
    if root != cwd {
        cli.state_dir = root.join(".state");
        if !config_explicit {
            cli.config = root.join(&cli.config);
        }
    }
    Ok(())
}

/// Logs go to stderr; default level warn, `-v` info, `-vv` debug, `-q` error, `-qq` off;
/// `RUST_LOG` wins.
fn init_logging(verbose: u8, quiet: u8) {
    let level = match (verbose, quiet) {
        (0, 0) => "warn",
        (1, _) => "info",
        (2, _) => "debug",
        (_, 0) => "trace",
        (_, 1) => "error",
        _ => "off",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // Fails only if a subscriber is already set (in-process tests): keep that one.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .event_format(log_format::CliFormat)
        .try_init();
}
