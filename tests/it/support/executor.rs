//! In-process executor harness: a project in a temp dir, executors over its state dir,
//! decisions and other inputs written through the store, and a reconcile loop that waits
//! for a condition with a deadline (pausing on the phase's wake channel).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use phase_coordinator::config::{Config, ToolConfig};
use phase_coordinator::events::EventLog;
use phase_coordinator::executor::Executor;
use phase_coordinator::model::{
    Control, ExecutionResults, FixPatches, Request, RequestAction, RetryRecommendation,
    RoutingDecision, RoutingDecisions, StateDoc, TaskResult, TaskSpec, now_rfc3339,
};
use phase_coordinator::phase::{Outcome, Phase, Wake};
use phase_coordinator::store::StateDir;
use serde_json::Value;

use super::store;
use super::wait::{Deadline, wait_until};

/// A configuration for fast tests: short intervals, a few ms of back-off.
pub(crate) fn fast_config(max_parallel: u32) -> Config {
    let mut c = Config::default();
    c.execution.max_parallel = Some(max_parallel);
    c.execution.kill_grace_ms = 200;
    c.execution.backoff.initial_ms = 30;
    c.execution.backoff.factor = 2.0;
    c.execution.backoff.max_ms = 100;
    c.state.flush_interval_ms = 10;
    c.state.poll_interval_ms = 100;
    c.state.lock_timeout_ms = 2000;
    c
}

/// Adds a tool whose command is `command`.
pub(crate) fn add_tool(
    config: &mut Config,
    name: &str,
    command: &[&str],
    max_parallel: Option<u32>,
) {
    config.tools.insert(
        name.to_string(),
        ToolConfig {
            command: command.iter().map(|s| s.to_string()).collect(),
            max_parallel,
            ..ToolConfig::default()
        },
    );
}

/// A decision for task `id` running `command` with the default `shell` tool.
pub(crate) fn task(id: &str, command: &[&str]) -> RoutingDecision {
    RoutingDecision {
        task_id: id.to_string(),
        task_kind: "shell".to_string(),
        selected_tool: "shell".to_string(),
        strategy: "fixed".into(),
        task: TaskSpec {
            id: Some(id.to_string()),
            kind: "shell".to_string(),
            command: command.iter().map(|s| s.to_string()).collect(),
            ..TaskSpec::default()
        },
        ..RoutingDecision::default()
    }
}

/// `task` with dependencies.
pub(crate) fn with_deps(mut d: RoutingDecision, deps: &[&str]) -> RoutingDecision {
    d.task.depends_on = deps.iter().map(|s| s.to_string()).collect();
    d
}

/// `task` routed to `tool`.
pub(crate) fn with_tool(mut d: RoutingDecision, tool: &str) -> RoutingDecision {
    d.selected_tool = tool.to_string();
    d
}

/// A project with a state dir and any number of executors on it.
pub(crate) struct Harness {
    /// The project root (owned: removed on drop).
    pub dir: tempfile::TempDir,
    /// The state directory.
    pub state: StateDir,
    /// The configuration every executor gets.
    pub config: Arc<Config>,
    /// The started executors.
    pub execs: Vec<Executor>,
    wakes: Receiver<Wake>,
    waker: Sender<Wake>,
    seq: u64,
}

impl Harness {
    /// A project; no executor yet.
    pub(crate) fn new(config: Config) -> Harness {
        let (dir, state) = store::temp_state();
        let (waker, wakes) = crossbeam_channel::unbounded();
        Harness {
            dir,
            state,
            config: Arc::new(config),
            execs: Vec::new(),
            wakes,
            waker,
            seq: 0,
        }
    }

    /// A project with one started executor.
    pub(crate) fn started(config: Config) -> Harness {
        let mut h = Harness::new(config);
        h.start_executor();
        h
    }

    /// Starts one more executor on the state dir.
    pub(crate) fn start_executor(&mut self) {
        let events = EventLog::new(&self.state, &format!("test-{}", self.execs.len()));
        // Attempts run through `phase __runner`: this test binary is not `phase`.
        let mut exec = Executor::new(self.state.clone(), self.config.clone(), events)
            .with_runner_program(PathBuf::from(env!("CARGO_BIN_EXE_phase")));
        exec.start(self.waker.clone()).expect("executor starts");
        self.execs.push(exec);
    }

    /// The project root (task workdirs are relative to it).
    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A path in the project root.
    pub(crate) fn path(&self, name: &str) -> String {
        self.root().join(name).display().to_string()
    }

    /// Replaces `routing_decisions.json` with `decisions` (submission order as given).
    pub(crate) fn decide(&mut self, mut decisions: Vec<RoutingDecision>) {
        for d in &mut decisions {
            self.seq += 1;
            if d.submission_seq == 0 {
                d.submission_seq = self.seq;
            }
            // As the router does: env values live in tasks/<id>.json only, where the
            // executor reads them; the decision keeps the names.
            if !d.task.env.is_empty() {
                let tasks = self.state.tasks();
                std::fs::create_dir_all(&tasks).expect("mkdir tasks");
                let spec = serde_json::to_vec_pretty(&d.task).expect("json");
                std::fs::write(tasks.join(format!("{}.json", d.task_id)), spec).expect("task");
                d.task = d.task.redacted();
            }
        }
        self.commit(RoutingDecisions {
            decisions,
            ..RoutingDecisions::default()
        });
    }

    /// The decisions as the file has them now.
    pub(crate) fn decisions(&self) -> Vec<RoutingDecision> {
        self.read::<RoutingDecisions>().decisions
    }

    /// Writes `doc` as a cooperating tool would: under the lock, atomically.
    pub(crate) fn commit<T: StateDoc>(&self, doc: T) {
        store::replace(&self.state, doc);
    }

    /// Reads a state file (it must be valid).
    pub(crate) fn read<T: StateDoc>(&self) -> T {
        store::read(&self.state)
    }

    /// Recovery's verdict on (task, attempt).
    pub(crate) fn verdict(&self, task: &str, attempt: u32, retry: bool) {
        let mut doc = self.read::<FixPatches>();
        doc.retries.push(RetryRecommendation {
            task_id: task.to_string(),
            attempt,
            retry_recommended: retry,
            ladder_step: if retry { "retry" } else { "quarantine" }.into(),
            reason: "test".to_string(),
            decided_at: now_rfc3339(),
            ..RetryRecommendation::default()
        });
        self.commit(doc);
    }

    /// A `phase cancel` / `phase retry` request; returns its id.
    pub(crate) fn request(&self, action: RequestAction, task: &str) -> String {
        let mut doc = self.read::<Control>();
        let id = format!("req-{}-{}", doc.requests.len() + 1, task);
        doc.requests.push(Request {
            request_id: id.clone(),
            action,
            task_id: task.to_string(),
            requested_at: now_rfc3339(),
        });
        self.commit(doc);
        id
    }

    /// The result entry of `task` as the file has it now.
    pub(crate) fn result(&self, task: &str) -> Option<TaskResult> {
        let doc = store::try_read::<ExecutionResults>(&self.state)?;
        doc.results.into_iter().find(|r| r.task_id == task)
    }

    /// Every event in the log.
    pub(crate) fn events(&self) -> Vec<Value> {
        store::events(self.state.root())
    }

    /// Events of type `kind` (for `task`, when given).
    pub(crate) fn events_of(&self, kind: &str, task: Option<&str>) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["type"] == kind)
            .filter(|e| task.is_none_or(|t| e["task_id"] == t))
            .collect()
    }

    /// One reconcile pass of every executor: whether all are idle, and the earliest
    /// wake-up any asked for.
    pub(crate) fn step(&mut self) -> (bool, Option<Instant>) {
        let mut idle = true;
        let mut next: Option<Instant> = None;
        for exec in &mut self.execs {
            let Outcome { next_wake, idle: i } = exec.reconcile().expect("reconcile");
            idle &= i;
            if let Some(t) = next_wake {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        (idle, next)
    }

    /// Reconciles until `done` holds, waiting on wake-ups (a worker, a timer) in between
    /// and looking at the files at least every [`POLL`](super::wait::POLL). Fails naming
    /// `what` after `limit`.
    pub(crate) fn until(
        &mut self,
        limit: Duration,
        what: &str,
        mut done: impl FnMut(&Harness) -> bool,
    ) {
        self.reconcile_until(Deadline::new(what, limit), |h, _| done(h));
    }

    /// Reconciles until every executor is idle (nothing running, nothing runnable,
    /// nothing to write).
    pub(crate) fn settle(&mut self, limit: Duration) {
        self.reconcile_until(
            Deadline::new("the executors to be idle", limit),
            |_, idle| idle,
        );
    }

    fn reconcile_until(
        &mut self,
        deadline: Deadline,
        mut done: impl FnMut(&Harness, bool) -> bool,
    ) {
        loop {
            let (idle, next) = self.step();
            if done(self, idle) {
                return;
            }
            deadline.check();
            let look = deadline.next_look();
            let wake_at = next.map_or(look, |n| n.min(look));
            let _ = self
                .wakes
                .recv_deadline(wake_at.max(Instant::now() + Duration::from_millis(1)));
            while self.wakes.try_recv().is_ok() {}
        }
    }

    /// Reconciles until a fake tool has written a pid to `path`; returns it.
    pub(crate) fn wait_pid(&mut self, path: &str) -> i32 {
        let file = PathBuf::from(path);
        self.until(Duration::from_secs(10), "a pid file", |_| file.exists());
        read_pid(&file, Duration::from_secs(5))
    }

    /// Shuts every executor down.
    pub(crate) fn shutdown(&mut self, grace: Duration) {
        for exec in &mut self.execs {
            exec.shutdown(grace).expect("shutdown");
        }
    }
}

/// `start`/`end` stamps written by `stamp.sh`, by task id: (start ns, end ns), in order.
pub(crate) fn stamps(path: &str) -> HashMap<String, Vec<(u128, Option<u128>)>> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut by_task: HashMap<String, Vec<(u128, Option<u128>)>> = HashMap::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [kind, id, ns] = parts[..] else {
            panic!("bad stamp line {line:?}");
        };
        let ns: u128 = ns.parse().expect("ns");
        let runs = by_task.entry(id.to_string()).or_default();
        match kind {
            "start" => runs.push((ns, None)),
            "end" => {
                let run = runs
                    .iter_mut()
                    .rev()
                    .find(|r| r.1.is_none())
                    .expect("end after start");
                run.1 = Some(ns);
            }
            other => panic!("bad stamp kind {other:?}"),
        }
    }
    by_task
}

/// The largest number of runs in progress at once.
pub(crate) fn max_concurrency<'a>(
    runs: impl IntoIterator<Item = &'a (u128, Option<u128>)>,
) -> usize {
    let mut edges: Vec<(u128, i32)> = Vec::new();
    for (start, end) in runs {
        edges.push((*start, 1));
        edges.push((end.expect("finished"), -1));
    }
    // Ends before starts at the same instant.
    edges.sort();
    let (mut now, mut max) = (0i32, 0i32);
    for (_, delta) in edges {
        now += delta;
        max = max.max(now);
    }
    max as usize
}

/// Reads a pid written by a fake tool, waiting for it.
fn read_pid(path: &Path, limit: Duration) -> i32 {
    wait_until(format!("a pid in {}", path.display()), limit, || {
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    })
}
