//! In-process recovery harness: a project in a temp dir, routing decisions and execution
//! results written through the store (as the router and executor would), the phase driven
//! until idle with a deadline.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;
use phase_coordinator::config::Config;
use phase_coordinator::events::EventLog;
use phase_coordinator::model::{
    Attempt, ErrorAnalyses, ErrorAnalysis, ExecutionResults, FixPatches, RetryRecommendation,
    RoutingDecision, RoutingDecisions, Status, TaskResult, TaskSpec, now_rfc3339,
};
use phase_coordinator::phase::{Phase, Wake};
use phase_coordinator::recovery::Recovery;
use phase_coordinator::store::StateDir;
use serde_json::Value;

use super::store::{self, update};
use super::tool;
use super::wait::Deadline;

/// How long a drive may take before the test fails.
pub(crate) const DEADLINE: Duration = Duration::from_secs(20);

/// `[tools.shell]` plus whatever the test adds; the config checks need the default tool.
pub(crate) fn config_with(extra: &str) -> String {
    format!("[tools.shell]\ncommand = [\"{{command}}\"]\n\n{extra}")
}

/// A lint detector (lint.sh + strip.sh) for tasks of kind `lint`, and agents.
pub(crate) fn lint_and_agents(ladder: &str, max_failures: u32) -> String {
    config_with(&format!(
        r#"
[execution]
max_retries = 9

[recovery]
max_failures = {max_failures}
ladder = {ladder}
fix_timeout_seconds = 20

[recovery.detectors.ws]
command = ["sh", "{lint}", "{{files}}"]
fixer = ["sh", "{strip}", "{{files}}"]
kinds = ["lint"]

[tools.agent1]
command = ["sh", "{agent}", "agent1", "{{prompt_file}}", "{{files}}"]

[tools.agent2]
command = ["sh", "{agent}", "agent2", "{{prompt_file}}", "{{files}}"]

[tools.noop]
command = ["sh", "{noop}"]
"#,
        lint = tool("recovery/lint.sh"),
        strip = tool("recovery/strip.sh"),
        agent = tool("recovery/agent.sh"),
        noop = tool("recovery/noop.sh"),
    ))
}

/// How an attempt failed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Failure {
    /// The attempt's status (`failed` if not given).
    pub status: Option<Status>,
    /// Its exit code.
    pub exit_code: Option<i32>,
    /// The signal that ended it.
    pub signal: Option<i32>,
    /// Why it ended, as the executor words it.
    pub reason: String,
    /// What it wrote to stderr.
    pub stderr: String,
}

impl Failure {
    /// `exit code N` with this stderr.
    pub(crate) fn exit(code: i32, stderr: &str) -> Failure {
        Failure {
            exit_code: Some(code),
            reason: format!("exit code {code}"),
            stderr: stderr.to_string(),
            ..Failure::default()
        }
    }
}

/// A project with a state directory and a config.
pub(crate) struct Harness {
    /// The project root (owned: removed on drop).
    pub dir: tempfile::TempDir,
    /// The state directory.
    pub state: StateDir,
    /// The parsed configuration.
    pub config: Arc<Config>,
    /// The event log the phases write.
    pub events: EventLog,
}

impl Harness {
    /// A project configured by `toml` (checked like the real config file).
    pub(crate) fn new(toml: &str) -> Harness {
        let (dir, state) = store::temp_state();
        let config = Config::parse(Path::new("coordinator.toml"), toml).expect("config is valid");
        let events = EventLog::new(&state, "test-run");
        Harness {
            dir,
            state,
            config: Arc::new(config),
            events,
        }
    }

    /// The project root (task workdirs are relative to it).
    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a project file.
    pub(crate) fn write(&self, rel: &str, text: &str) {
        let path = self.root().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write project file");
    }

    /// A project file's text.
    pub(crate) fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root().join(rel)).expect("read project file")
    }

    /// A new recovery phase, started, with the receiver of its wake-ups.
    pub(crate) fn recovery(&self) -> (Recovery, Receiver<Wake>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut rec = Recovery::new(
            self.state.clone(),
            Arc::clone(&self.config),
            self.events.clone(),
        );
        rec.start(tx).expect("start");
        (rec, rx)
    }

    /// Routes a task as the router would: a decision holding its spec.
    pub(crate) fn submit(&self, spec: Value) {
        let task: TaskSpec = serde_json::from_value(spec).expect("task spec");
        let id = task.id().to_string();
        let decision = RoutingDecision {
            task_id: id.clone(),
            task_kind: task.kind.clone(),
            selected_tool: "shell".to_string(),
            strategy: "fixed".into(),
            candidates: vec!["shell".to_string()].into(),
            reason: "routing.default_tool".to_string(),
            decided_at: now_rfc3339(),
            task,
            ..RoutingDecision::default()
        };
        update::<RoutingDecisions>(&self.state, |doc| doc.decisions.push(decision));
    }

    /// Records the next attempt of `task` as failed, as the executor would (with its stderr
    /// log); returns the attempt number.
    pub(crate) fn fail(&self, task: &str, f: Failure) -> u32 {
        let status = f.status.unwrap_or(Status::Failed);
        let mut number = 0;
        let logs = self.state.task_logs(task);
        std::fs::create_dir_all(&logs).expect("logs dir");
        update::<ExecutionResults>(&self.state, |doc| {
            let entry = match doc.results.iter().position(|r| r.task_id == task) {
                Some(i) => &mut doc.results[i],
                None => {
                    doc.results.push(TaskResult {
                        task_id: task.to_string(),
                        ..TaskResult::default()
                    });
                    doc.results.last_mut().expect("just pushed")
                }
            };
            number = entry.attempt + 1;
            std::fs::write(logs.join(format!("{number}.err")), &f.stderr).expect("err log");
            std::fs::write(logs.join(format!("{number}.out")), "").expect("out log");
            let attempt = Attempt {
                attempt: number,
                tool_id: "shell".to_string(),
                status,
                exit_code: f.exit_code,
                signal: f.signal,
                reason: Some(f.reason.clone()),
                argv: vec!["make".to_string()],
                started_at: now_rfc3339(),
                finished_at: Some(now_rfc3339()),
                log_out: format!("logs/{task}/{number}.out"),
                log_err: format!("logs/{task}/{number}.err"),
                stderr_tail: f.stderr.clone(),
                ..Attempt::default()
            };
            entry.attempt = number;
            entry.tool_id = "shell".to_string();
            entry.status = status;
            entry.exit_code = f.exit_code;
            entry.reason = Some(f.reason.clone());
            entry.started_at = attempt.started_at.clone();
            entry.finished_at = attempt.finished_at.clone();
            entry.attempts.push(attempt);
        });
        number
    }

    /// What `phase retry` does to a result: the budget (and the ladder) restart.
    pub(crate) fn reset_budget(&self, task: &str) {
        update::<ExecutionResults>(&self.state, |doc| {
            for r in doc.results.iter_mut().filter(|r| r.task_id == task) {
                r.budget_from_attempt = r.attempt + 1;
            }
        });
    }

    /// Every analysis recovery wrote.
    pub(crate) fn analyses(&self) -> Vec<ErrorAnalysis> {
        store::read::<ErrorAnalyses>(&self.state).analyses
    }

    /// The analysis of (task, attempt); fails the test if there is none.
    pub(crate) fn analysis(&self, task: &str, attempt: u32) -> ErrorAnalysis {
        self.analyses()
            .into_iter()
            .find(|a| a.task_id == task && a.attempt == attempt)
            .unwrap_or_else(|| panic!("no analysis of {task} attempt {attempt}"))
    }

    /// `fix_patches.json`.
    pub(crate) fn patches(&self) -> FixPatches {
        store::read::<FixPatches>(&self.state)
    }

    /// The verdict on (task, attempt); fails the test if there is none.
    pub(crate) fn retry(&self, task: &str, attempt: u32) -> RetryRecommendation {
        self.patches()
            .retries
            .into_iter()
            .find(|r| r.task_id == task && r.attempt == attempt)
            .unwrap_or_else(|| panic!("no retries entry for {task} attempt {attempt}"))
    }

    /// Every event; each line must be JSON.
    pub(crate) fn events(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.state.file("events.jsonl")).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).expect("event line is JSON"))
            .collect()
    }

    /// Events of `kind` (for `task`, when given).
    pub(crate) fn events_of(&self, kind: &str, task: Option<&str>) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["type"] == kind && task.is_none_or(|t| e["task_id"] == t))
            .collect()
    }

    /// The escalation report of `task`, if written.
    pub(crate) fn escalation(&self, task: &str) -> Option<String> {
        std::fs::read_to_string(self.state.escalations().join(format!("{task}.md"))).ok()
    }

    /// Where recovery writes the prompt of (task, attempt) for a ladder tier.
    pub(crate) fn prompt_file(&self, task: &str, attempt: u32, tier: &str) -> PathBuf {
        self.state
            .task_logs(task)
            .join(format!("{attempt}.{tier}.prompt.md"))
    }
}

/// Reconciles until the phase is idle, waiting on its wake-ups in between; fails the test
/// after [`DEADLINE`].
pub(crate) fn drive(rec: &mut Recovery, wakes: &Receiver<Wake>) {
    let deadline = Deadline::new("recovery to become idle", DEADLINE);
    loop {
        let outcome = rec.reconcile().expect("reconcile");
        if outcome.idle {
            return;
        }
        deadline.check();
        // Only a wake-up or the phase's own timer: polling would add passes it never asked for.
        let until = outcome
            .next_wake
            .map_or(deadline.at(), |t| t.min(deadline.at()));
        let _ = wakes.recv_deadline(until);
    }
}
