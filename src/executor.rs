//! Phase 5, the executor: runs every routed task whose dependencies succeeded, re-runs
//! failed ones when recovery recommends it, and records every attempt in
//! `execution_results.json` (docs/EXECUTION.md, docs/LIFECYCLE.md).
//!
//! Parts, each with one job:
//! - `inputs`: the files it reads (decisions, recovery's recommendations, control
//!   requests, its own results file), a `stat` each per pass.
//! - `schedule`: the dependency graph, the ready queue, per-task counters of unmet
//!   dependencies, and the limits.
//! - `supervisor`: the attempts that run, through the attempt runner (`phase __runner`,
//!   docs/ATTEMPTS.md) that holds their claims and fences and outlives the engine; acks
//!   after each results write; and the watch on attempts this process does not run
//!   (other executors', and those an engine that died left behind).
//! - `book`: the results in memory (`ResultsBook`), changed only through the lifecycle's
//!   transitions (`crate::lifecycle::Stage`), and the cadence of writing them.
//! - `reconcile`: one pass as ordered small passes over the parts: finished attempts →
//!   inputs → requests → recommendations → dependencies → foreign → spawn → flush.

mod book;
mod inputs;
mod reconcile;
mod schedule;
mod site;
mod supervisor;
mod times;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::Result;
use crate::config::Config;
use crate::events::EventLog;
use crate::phase::{Outcome, Phase, Waker};
use crate::store::StateDir;

use book::ResultsBook;
use inputs::Inputs;
use schedule::Schedule;
use site::Site;
use supervisor::Supervisor;

/// The phase name used in events.
const PHASE: &str = "executor";

/// The executor phase. Construct with [`Executor::new`]; the coordinator drives it
/// through [`Phase`].
pub struct Executor {
    site: Site,
    inputs: Inputs,
    schedule: Schedule,
    supervisor: Supervisor,
    book: ResultsBook,
    /// An input changed: the next pass re-derives everything from the files.
    needs_plan: bool,
    /// Shutting down: no attempt starts.
    stopping: bool,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("state", &self.site.state)
            .field("running", &self.supervisor.count())
            .field("tasks", &self.schedule.graph().len())
            .finish_non_exhaustive()
    }
}

impl Executor {
    /// An executor over `state`; nothing is read or started until [`Phase::start`].
    pub fn new(state: StateDir, config: Arc<Config>, events: EventLog) -> Executor {
        Executor {
            inputs: Inputs::new(&state),
            schedule: Schedule::default(),
            supervisor: Supervisor::new(),
            book: ResultsBook::new(&config),
            needs_plan: true,
            stopping: false,
            site: Site::new(state, config, events),
        }
    }

    /// Runs attempts through `program __runner` instead of this very binary (an
    /// in-process test's binary is not `phase`).
    pub fn with_runner_program(mut self, program: PathBuf) -> Executor {
        self.site.runner_program = program;
        self
    }
}

impl Phase for Executor {
    fn name(&self) -> &'static str {
        PHASE
    }

    fn wakes_on(&self) -> fn(&Path) -> bool {
        is_executor_input
    }

    fn start(&mut self, waker: Waker) -> Result<()> {
        self.site.state.ensure_runtime_dirs()?;
        self.site.state.ensure_claims_files()?;
        let program = self.site.runner_program.clone();
        let id = self.site.executor_id.clone();
        self.supervisor
            .start(program, &self.site.state, &id, waker)?;
        self.read_inputs();
        self.look_for_left_attempts();
        self.plan();
        self.sweep_foreign();
        Ok(())
    }

    fn reconcile(&mut self) -> Result<Outcome> {
        Ok(self.pass())
    }

    fn shutdown(&mut self, grace: Duration) -> Result<()> {
        self.stopping = true;
        self.collect_reports();
        // The runner ends what outlives the grace (recorded `interrupted`); every
        // attempt then reports `finished`.
        self.supervisor.shut_down_runner(grace);
        let kill_grace = Duration::from_millis(self.site.config.execution.kill_grace_ms);
        self.wait_running(Instant::now() + grace + kill_grace + Duration::from_secs(5));
        // Attempts of a runner that died meanwhile: recorded now from what they left.
        self.supervisor.foreign.look_now();
        self.sweep_foreign();
        if self.supervisor.count() > 0 {
            tracing::error!(
                phase = PHASE,
                tasks = self.supervisor.count(),
                "attempts did not end after SIGKILL; their runner records them when they do"
            );
        }
        self.flush_now();
        self.write_events();
        // Acked by the write: the runner releases the claims and exits.
        self.supervisor.wait_runner_exit(Duration::from_secs(5));
        Ok(())
    }
}

impl Executor {
    /// Records the runner's reports as they come until nothing runs or `deadline` passes.
    fn wait_running(&mut self, deadline: Instant) {
        while self.supervisor.count() > 0 {
            let Some(report) = self.supervisor.report_until(deadline) else {
                return;
            };
            self.on_report(report);
        }
    }
}

// Dropped without a shutdown (a test, a panic), the runner link tells the runner to end
// every attempt and record it: no task outlives the phase unrecorded.

/// The executor's inputs; also `attempts/` (an outcome record written by a runner whose
/// engine is gone) and `fixes_in_progress.json` (a fix that ended may let a held-back
/// task start).
fn is_executor_input(path: &Path) -> bool {
    Inputs::FILES.iter().any(|f| path == Path::new(f))
        || path.starts_with("attempts")
        || crate::store::is_fixes_in_progress(path)
}
