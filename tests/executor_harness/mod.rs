//! In-process test support for the executor: a project in a temp dir, executors over its
//! state dir, decisions and other inputs written through the store, and a reconcile loop
//! that polls for a condition with a deadline (waiting on the phase's wake channel).
#![allow(dead_code)]

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
use phase_coordinator::store::{LockWait, StateDir, StateFile};
use serde_json::Value;

/// A fake tool script in `tests/tools/executor/`.
pub fn tool(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/tools/executor")
        .join(name)
        .display()
        .to_string()
}

/// A configuration for fast tests: short intervals, a few ms of back-off.
pub fn fast_config(max_parallel: u32) -> Config {
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
pub fn add_tool(config: &mut Config, name: &str, command: &[&str], max_parallel: Option<u32>) {
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
pub fn task(id: &str, command: &[&str]) -> RoutingDecision {
    RoutingDecision {
        task_id: id.to_string(),
        task_kind: "shell".to_string(),
        selected_tool: "shell".to_string(),
        strategy: "fixed".to_string(),
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
pub fn with_deps(mut d: RoutingDecision, deps: &[&str]) -> RoutingDecision {
    d.task.depends_on = deps.iter().map(|s| s.to_string()).collect();
    d
}

/// `task` routed to `tool`.
pub fn with_tool(mut d: RoutingDecision, tool: &str) -> RoutingDecision {
    d.selected_tool = tool.to_string();
    d
}

/// A project with a state dir and any number of executors on it.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub state: StateDir,
    pub config: Arc<Config>,
    pub execs: Vec<Executor>,
    wakes: Receiver<Wake>,
    waker: Sender<Wake>,
    seq: u64,
}

impl Harness {
    /// A project; no executor yet.
    pub fn new(config: Config) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::new(dir.path().join(".state"));
        state.ensure_layout().expect("layout");
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
    pub fn started(config: Config) -> Harness {
        let mut h = Harness::new(config);
        h.start_executor();
        h
    }

    /// Starts one more executor on the state dir.
    pub fn start_executor(&mut self) {
        let events = EventLog::new(&self.state, &format!("test-{}", self.execs.len()));
        let mut exec = Executor::new(self.state.clone(), self.config.clone(), events);
        exec.start(self.waker.clone()).expect("executor starts");
        self.execs.push(exec);
    }

    /// The project root (task workdirs are relative to it).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A path in the project root.
    pub fn path(&self, name: &str) -> String {
        self.root().join(name).display().to_string()
    }

    /// Replaces `routing_decisions.json` with `decisions` (submission order as given).
    pub fn decide(&mut self, mut decisions: Vec<RoutingDecision>) {
        for d in &mut decisions {
            self.seq += 1;
            if d.submission_seq == 0 {
                d.submission_seq = self.seq;
            }
        }
        self.commit(RoutingDecisions {
            decisions,
            ..RoutingDecisions::default()
        });
    }

    /// The decisions as the file has them now.
    pub fn decisions(&self) -> Vec<RoutingDecision> {
        self.read::<RoutingDecisions>().decisions
    }

    /// Writes `doc` as a cooperating tool would: under the lock, atomically.
    pub fn commit<T: StateDoc>(&self, mut doc: T) {
        let mut file = StateFile::<T>::new(&self.state);
        let locked = file.lock(LockWait::Forever).expect("lock").expect("locked");
        locked.commit(&mut doc, "test").expect("commit");
    }

    /// Reads a state file (it must be valid).
    pub fn read<T: StateDoc>(&self) -> T {
        StateFile::<T>::new(&self.state)
            .read()
            .expect("valid state file")
    }

    /// Recovery's verdict on (task, attempt).
    pub fn verdict(&self, task: &str, attempt: u32, retry: bool) {
        let mut doc = self.read::<FixPatches>();
        doc.retries.push(RetryRecommendation {
            task_id: task.to_string(),
            attempt,
            retry_recommended: retry,
            ladder_step: if retry { "retry" } else { "quarantine" }.to_string(),
            reason: "test".to_string(),
            decided_at: now_rfc3339(),
            ..RetryRecommendation::default()
        });
        self.commit(doc);
    }

    /// A `phase cancel` / `phase retry` request; returns its id.
    pub fn request(&self, action: RequestAction, task: &str) -> String {
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
    pub fn result(&self, task: &str) -> Option<TaskResult> {
        let doc = StateFile::<ExecutionResults>::new(&self.state)
            .read()
            .ok()?;
        doc.results.into_iter().find(|r| r.task_id == task)
    }

    /// Every event in the log.
    pub fn events(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.state.file("events.jsonl")).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Events of type `kind` (for `task`, when given).
    pub fn events_of(&self, kind: &str, task: Option<&str>) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["type"] == kind)
            .filter(|e| task.is_none_or(|t| e["task_id"] == t))
            .collect()
    }

    /// One reconcile pass of every executor; the earliest wake-up any asked for.
    pub fn step(&mut self) -> (bool, Option<Instant>) {
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
    /// and polling the files every 20 ms. Panics with `what` after `limit`.
    pub fn until(&mut self, limit: Duration, what: &str, mut done: impl FnMut(&Harness) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            let (_, next) = self.step();
            if done(self) {
                return;
            }
            let now = Instant::now();
            assert!(
                now < deadline,
                "timed out after {limit:?} waiting for: {what}"
            );
            let wait_until = next
                .unwrap_or(now + Duration::from_millis(20))
                .min(now + Duration::from_millis(20))
                .max(now + Duration::from_millis(1))
                .min(deadline);
            let _ = self.wakes.recv_deadline(wait_until);
            while self.wakes.try_recv().is_ok() {}
        }
    }

    /// Reconciles until every executor is idle (nothing running, nothing runnable,
    /// nothing to write).
    pub fn settle(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let (idle, next) = self.step();
            if idle {
                return;
            }
            let now = Instant::now();
            assert!(now < deadline, "executors not idle after {limit:?}");
            let wait_until = next.unwrap_or(now + Duration::from_millis(20)).clamp(
                now + Duration::from_millis(1),
                now + Duration::from_millis(20),
            );
            let _ = self.wakes.recv_deadline(wait_until.min(deadline));
            while self.wakes.try_recv().is_ok() {}
        }
    }

    /// Reconciles until a fake tool has written a pid to `path`; returns it.
    pub fn wait_pid(&mut self, path: &str) -> i32 {
        let file = PathBuf::from(path);
        self.until(Duration::from_secs(10), "a pid file", |_| file.exists());
        read_pid(&file, Duration::from_secs(5))
    }

    /// Shuts every executor down.
    pub fn shutdown(&mut self, grace: Duration) {
        for exec in &mut self.execs {
            exec.shutdown(grace).expect("shutdown");
        }
    }
}

/// `start`/`end` stamps written by `stamp.sh`, by task id: (start ns, end ns), in order.
pub fn stamps(path: &str) -> HashMap<String, Vec<(u128, Option<u128>)>> {
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
pub fn max_concurrency<'a>(runs: impl IntoIterator<Item = &'a (u128, Option<u128>)>) -> usize {
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

/// Whether process `pid` is gone (or a zombie nobody has reaped yet).
pub fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
    }
}

/// Reads a pid written by a fake tool, waiting for it.
pub fn read_pid(path: &Path, limit: Duration) -> i32 {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "no pid in {}", path.display());
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until `pred` holds (a process to disappear), with a deadline.
pub fn eventually(limit: Duration, what: &str, pred: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !pred() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A path as a `PathBuf`.
pub fn pb(s: &str) -> PathBuf {
    PathBuf::from(s)
}
