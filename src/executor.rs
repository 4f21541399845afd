//! Phase 5, the executor: runs every routed task whose dependencies succeeded, re-runs
//! failed ones when recovery recommends it, and records every attempt in
//! `execution_results.json` (docs/EXECUTION.md, docs/LIFECYCLE.md).
//!
//! Parts, each with one job:
//! - `inputs`: the files it reads (decisions, recovery's recommendations, control
//!   requests, its own results file), a `stat` each per pass.
//! - `schedule`: the dependency graph, the ready queue, per-task counters of unmet
//!   dependencies, and the limits.
//! - `supervisor`: the attempts that run — spawn, claims, timeouts, stop — and the watch
//!   on other executors' attempts.
//! - `book`: the results in memory (`ResultsBook`), changed only through the lifecycle's
//!   transitions (`crate::lifecycle::Stage`), and the cadence of writing them.
//! - `reconcile`: one pass as ordered small passes over the parts: finished attempts →
//!   inputs → requests → recommendations → dependencies → interrupted → spawn → flush.

mod book;
mod inputs;
mod reconcile;
mod schedule;
mod site;
mod supervisor;
mod times;

use std::path::Path;
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
}

impl Phase for Executor {
    fn name(&self) -> &'static str {
        PHASE
    }

    fn wakes_on(&self, path: &Path) -> bool {
        Inputs::FILES.iter().any(|f| path == Path::new(f))
    }

    fn start(&mut self, waker: Waker) -> Result<()> {
        self.site.state.ensure_runtime_dirs()?;
        self.supervisor.start(self.site.parallelism(), waker)?;
        self.read_inputs();
        self.plan();
        self.sweep_interrupted();
        Ok(())
    }

    fn reconcile(&mut self) -> Result<Outcome> {
        Ok(self.pass())
    }

    fn shutdown(&mut self, grace: Duration) -> Result<()> {
        self.stopping = true;
        self.collect_finished();
        self.wait_running(Instant::now() + grace);
        if self.supervisor.count() > 0 {
            self.supervisor.interrupt_all();
            let kill_grace = Duration::from_millis(self.site.config.execution.kill_grace_ms);
            self.wait_running(Instant::now() + kill_grace + Duration::from_secs(5));
        }
        if self.supervisor.count() > 0 {
            tracing::error!(
                phase = PHASE,
                tasks = self.supervisor.count(),
                "tasks did not end after SIGKILL; their results are not recorded"
            );
        }
        self.flush_now();
        self.write_events();
        // A worker still waiting on an unkillable process is left behind, not joined.
        self.supervisor.stop_workers_if_idle();
        Ok(())
    }
}

impl Executor {
    /// Records endings as they come until nothing runs or `deadline` passes.
    fn wait_running(&mut self, deadline: Instant) {
        while self.supervisor.count() > 0 {
            let Some(done) = self.supervisor.done_until(deadline) else {
                return;
            };
            self.record_done(done);
        }
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        // Dropped without a shutdown (a test, a panic): no task may outlive us.
        self.supervisor.stop_all();
    }
}
