//! Phase 5, the executor: runs every routed task whose dependencies succeeded, re-runs
//! failed ones when recovery recommends it, and records every attempt in
//! `execution_results.json` (docs/EXECUTION.md, docs/LIFECYCLE.md).
//!
//! One reconcile pass, in order: take finished attempts from the workers; re-read the
//! input files that changed; if any did, re-derive the whole picture (requests, verdicts,
//! `dep_failed`, the ready queue); repair `running` results nobody holds; start what is
//! ready, up to the limits; write the results when the coalescing interval allows.
//! Completions are handled incrementally (a dependents map and per-task counters of
//! unmet dependencies), so a pass does not rescan every task.

mod attempt;
mod changes;
mod control;
mod finish;
mod flush;
mod graph;
mod interrupted;
mod launch;
mod ledger;
mod output;
mod plan;
mod pool;
mod queue;
mod readiness;
mod times;
mod watched;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::Result;
use crate::config::Config;
use crate::events::EventLog;
use crate::model::{Control, ExecutionResults, FixPatches, RoutingDecisions};
use crate::phase::{Outcome, Phase, Waker};
use crate::process::StopHandle;
use crate::store::{Claim, StateDir};

use flush::Flusher;
use graph::Graph;
use ledger::Ledger;
use pool::Pool;
use queue::ReadyQueue;
use readiness::Verdicts;
use watched::{Seen, Watched};

/// The phase name used in events.
const PHASE: &str = "executor";

/// The executor phase. Construct with [`Executor::new`]; the coordinator drives it
/// through [`Phase`].
pub struct Executor {
    state: StateDir,
    /// Task workdirs are relative to it.
    project_root: PathBuf,
    config: Arc<Config>,
    events: EventLog,
    /// `host:pid`, recorded in every attempt.
    executor_id: String,
    decisions: Watched<RoutingDecisions>,
    patches: Watched<FixPatches>,
    control: Watched<Control>,
    results: Watched<ExecutionResults>,
    /// The tasks and their dependency graph, from the last valid decisions.
    graph: Graph,
    /// Retry verdicts by (task, attempt), from the last valid `fix_patches.json`.
    verdicts: Verdicts,
    /// Requests from the last valid `control.json`.
    requests: Vec<crate::model::Request>,
    ledger: Ledger,
    flusher: Flusher,
    queue: ReadyQueue,
    /// Per task (graph index): dependencies not yet succeeded.
    unmet: Vec<u32>,
    /// Attempts this process is running, by task id.
    running: HashMap<String, RunningTask>,
    /// Running attempts per tool, for `tools.<name>.max_parallel`.
    per_tool: HashMap<String, usize>,
    /// `running` results that are not ours: checked for a dead owner (see `sweep_at`).
    foreign_running: Vec<String>,
    /// When to check `foreign_running` next: after every re-derivation, else a few
    /// times a second (each check takes a lock per task).
    sweep_at: Instant,
    /// Request ids carried out on tasks that have no result entry to record them in yet.
    orphan_requests: HashMap<String, Vec<String>>,
    /// Workdir → git work tree root (or none), for `files_modified`.
    git_roots: HashMap<PathBuf, Option<PathBuf>>,
    /// When to look at the inbox again for tasks waiting on an unknown dependency.
    recheck_unknown_at: Option<Instant>,
    pool: Option<Pool>,
    needs_plan: bool,
    stopping: bool,
}

/// One attempt this process is running.
#[derive(Debug)]
struct RunningTask {
    attempt: u32,
    tool: String,
    timeout: Option<Duration>,
    /// Held until the finished result is on disk.
    claim: Claim,
    stop: StopHandle,
    /// `cancel` requests that stopped it: it ends `canceled`, and they are recorded as
    /// handled only then (after a crash meanwhile, the next executor carries them out).
    cancel_requests: Vec<String>,
    /// Set when shutdown stopped it: it ends `failed` / `interrupted`.
    interrupted: bool,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("state", &self.state)
            .field("running", &self.running.len())
            .field("tasks", &self.graph.len())
            .finish_non_exhaustive()
    }
}

impl Executor {
    /// An executor over `state`; nothing is read or started until [`Phase::start`].
    pub fn new(state: StateDir, config: Arc<Config>, events: EventLog) -> Executor {
        let flusher = Flusher::new(&config);
        Executor {
            decisions: Watched::new(&state),
            patches: Watched::new(&state),
            control: Watched::new(&state),
            results: Watched::new(&state),
            executor_id: executor_id(),
            graph: Graph::default(),
            verdicts: Verdicts::default(),
            requests: Vec::new(),
            ledger: Ledger::default(),
            flusher,
            queue: ReadyQueue::default(),
            unmet: Vec::new(),
            running: HashMap::new(),
            per_tool: HashMap::new(),
            foreign_running: Vec::new(),
            sweep_at: Instant::now(),
            orphan_requests: HashMap::new(),
            git_roots: HashMap::new(),
            recheck_unknown_at: None,
            pool: None,
            needs_plan: true,
            stopping: false,
            project_root: state.project_root(),
            state,
            config,
            events,
        }
    }

    /// Whether new attempts may start: not stopping, and the files they depend on are valid.
    fn can_start(&self) -> bool {
        !self.stopping && !self.decisions.is_broken() && !self.results.is_broken()
    }

    /// Re-reads the files that changed; any change means the whole picture is re-derived.
    fn poll_inputs(&mut self) {
        match self.results.poll(&self.events) {
            Ok(Seen::Changed(doc)) => {
                self.ledger.adopt(doc);
                self.needs_plan = true;
            }
            Ok(Seen::Recovered) => self.needs_plan = true,
            Ok(Seen::Unchanged | Seen::Broken) => {}
            Err(e) => tracing::warn!(phase = PHASE, "{e}"),
        }
        match self.decisions.poll(&self.events) {
            Ok(Seen::Changed(doc)) => {
                self.graph = Graph::build(doc.decisions);
                self.needs_plan = true;
            }
            Ok(Seen::Recovered) => self.needs_plan = true,
            Ok(Seen::Unchanged | Seen::Broken) => {}
            Err(e) => tracing::warn!(phase = PHASE, "{e}"),
        }
        match self.patches.poll(&self.events) {
            Ok(Seen::Changed(doc)) => {
                self.verdicts = Verdicts::from_doc(&doc);
                self.needs_plan = true;
            }
            Ok(Seen::Recovered) => self.needs_plan = true,
            Ok(Seen::Unchanged | Seen::Broken) => {}
            Err(e) => tracing::warn!(phase = PHASE, "{e}"),
        }
        match self.control.poll(&self.events) {
            Ok(Seen::Changed(doc)) => {
                self.requests = doc.requests;
                self.needs_plan = true;
            }
            Ok(Seen::Recovered) => self.needs_plan = true,
            Ok(Seen::Unchanged | Seen::Broken) => {}
            Err(e) => tracing::warn!(phase = PHASE, "{e}"),
        }
    }

    /// Takes every finished attempt the workers reported.
    fn collect_completions(&mut self) {
        while let Some(done) = self.pool.as_ref().and_then(Pool::try_done) {
            self.record_done(done);
        }
    }

    /// What the coordinator needs to know after a pass.
    fn outcome(&self, now: Instant) -> Outcome {
        let mut next: Option<Instant> = None;
        let mut at = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        let flush_pending = self.ledger.is_dirty() && !self.results.is_broken();
        if flush_pending {
            at(Some(self.flusher.due().unwrap_or(now)));
        }
        at(self.flusher.events_due());
        at(self.queue.next_timer());
        if !self.foreign_running.is_empty() {
            at(Some(self.sweep_at));
        }
        at(self.recheck_unknown_at);
        for confirm in [
            self.results.confirm_at(),
            self.decisions.confirm_at(),
            self.patches.confirm_at(),
            self.control.confirm_at(),
        ] {
            at(confirm);
        }
        if self.needs_plan {
            at(Some(now));
        }
        let runnable_now = self.can_start() && !self.queue.is_empty();
        Outcome {
            next_wake: next,
            idle: self.running.is_empty() && !runnable_now && !flush_pending && !self.needs_plan,
        }
    }
}

impl Phase for Executor {
    fn name(&self) -> &'static str {
        PHASE
    }

    fn wakes_on(&self, path: &Path) -> bool {
        [
            "routing_decisions.json",
            "fix_patches.json",
            "control.json",
            "execution_results.json",
        ]
        .iter()
        .any(|f| path == Path::new(f))
    }

    fn start(&mut self, waker: Waker) -> Result<()> {
        self.state.ensure_runtime_dirs()?;
        // Claims of finished tasks stay open until their results are written.
        flush::raise_open_file_limit();
        self.pool = Some(Pool::start(self.config.execution.parallelism(), waker)?);
        self.poll_inputs();
        self.plan();
        self.sweep_interrupted();
        Ok(())
    }

    fn reconcile(&mut self) -> Result<Outcome> {
        self.collect_completions();
        self.poll_inputs();
        let now = Instant::now();
        if self.recheck_unknown_at.is_some_and(|t| now >= t) {
            self.needs_plan = true;
        }
        if self.needs_plan {
            self.plan();
        }
        self.sweep_interrupted();
        self.fire_timers(now);
        self.dispatch();
        let now = Instant::now();
        self.maybe_flush(now);
        self.flush_events(now);
        Ok(self.outcome(Instant::now()))
    }

    fn shutdown(&mut self, grace: Duration) -> Result<()> {
        self.stopping = true;
        self.collect_completions();
        let deadline = Instant::now() + grace;
        self.wait_running(deadline);
        if !self.running.is_empty() {
            for task in self.running.values_mut() {
                task.interrupted = true;
                task.stop.stop();
            }
            let kill_grace = Duration::from_millis(self.config.execution.kill_grace_ms);
            self.wait_running(Instant::now() + kill_grace + Duration::from_secs(5));
        }
        if !self.running.is_empty() {
            tracing::error!(
                phase = PHASE,
                tasks = self.running.len(),
                "tasks did not end after SIGKILL; their results are not recorded"
            );
        }
        self.flush_now();
        self.write_events();
        if let Some(mut pool) = self.pool.take()
            && self.running.is_empty()
        {
            // A worker still waiting on an unkillable process is left behind, not joined.
            pool.stop();
        }
        Ok(())
    }
}

impl Executor {
    /// Records completions as they come until nothing runs or `deadline` passes.
    fn wait_running(&mut self, deadline: Instant) {
        while !self.running.is_empty() {
            let Some(done) = self.pool.as_ref().and_then(|p| p.done_until(deadline)) else {
                return;
            };
            self.record_done(done);
        }
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        // Dropped without a shutdown (a test, a panic): no task may outlive us.
        for task in self.running.values() {
            task.stop.stop();
        }
    }
}

/// `host:pid`.
fn executor_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    format!("{host}:{}", std::process::id())
}
