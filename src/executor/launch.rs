//! Starting attempts: pick ready tasks in order within the global and per-tool limits,
//! claim each, check the file once more, build its command from the decision's tool (read
//! fresh every attempt), record it `running` and hand it to a worker.

use std::time::{Duration, Instant};

use serde_json::json;

use super::attempt::{self, Begun, Done, End, Job, note_in_log};
use super::changes::Probe;
use super::readiness::{Step, next_step};
use super::{Executor, PHASE, RunningTask, times};
use crate::model::{Attempt, EventType, Metadata, Status, TaskResult, now_rfc3339};
use crate::process::{Sink, Spec, StopHandle};
use crate::store::Claim;
use crate::template::{self, Vars};

/// A command ready to run, before it has a claim and a record.
struct Prepared {
    argv: Vec<String>,
    spec: Spec,
    probe: Probe,
    timeout: Option<Duration>,
}

impl Executor {
    /// Starts ready tasks until the parallel limit is reached or none is left.
    pub(super) fn dispatch(&mut self) {
        if !self.can_start() {
            return;
        }
        let limit = self.config.execution.parallelism();
        while self.running.len() < limit && self.can_start() {
            let Some(key) = self.queue.pop() else {
                break;
            };
            let t = key.task();
            if t >= self.graph.len() {
                continue;
            }
            let Some((attempt, patch_id)) = self.runnable(t) else {
                continue;
            };
            let tool = &self.graph.decision(t).selected_tool;
            let tool_limit = self.config.tools.get(tool).and_then(|c| c.max_parallel);
            if let Some(max) = tool_limit
                && self.per_tool.get(tool).copied().unwrap_or(0) >= max.max(1) as usize
            {
                let tool = tool.clone();
                self.queue.wait_for_tool(&tool, key);
                continue;
            }
            self.launch(t, attempt, patch_id);
        }
    }

    /// The attempt task `t` may start now, if any: its result asks for one, its back-off
    /// has passed, and every dependency succeeded.
    fn runnable(&self, t: usize) -> Option<(u32, Option<String>)> {
        let id = self.graph.id(t);
        if self.running.contains_key(id) {
            return None;
        }
        let verdicts = (!self.patches.is_broken()).then_some(&self.verdicts);
        let Step::Attempt {
            attempt,
            patch_id,
            not_before,
        } = next_step(id, self.ledger.get(id), verdicts)
        else {
            return None;
        };
        if not_before.is_some_and(|at| !times::has_passed(&at)) {
            return None;
        }
        let deps_ok = self.graph.unknown_deps(t).is_empty()
            && self
                .graph
                .deps(t)
                .iter()
                .all(|&d| self.succeeded(self.graph.id(d)));
        deps_ok.then_some((attempt, patch_id))
    }

    fn launch(&mut self, t: usize, attempt: u32, patch_id: Option<String>) {
        let id = self.graph.id(t).to_string();
        let recheck = Instant::now() + Duration::from_millis(self.config.state.poll_interval_ms);
        let claim = match self.take_claim(&id) {
            Ok(Some(claim)) => claim,
            // Another executor runs it. Look again later: it may die before writing.
            Ok(None) => return self.queue.at(recheck, t),
            Err(e) => {
                tracing::warn!(phase = PHASE, task = %id, "{e}");
                return self.queue.at(recheck, t);
            }
        };
        // Two executors must never run the same attempt: another one may have run it
        // and released the claim since this process last read the file.
        if self.refresh_results()
            && (!self.can_start() || self.runnable(t) != Some((attempt, patch_id.clone())))
        {
            self.flusher.hold(&id, claim);
            return;
        }
        let decision = self.graph.decision(t);
        let tool = decision.selected_tool.clone();
        let metadata = decision.metadata.clone();
        let prepared = self.prepare(t, attempt);
        let log_out = format!("logs/{id}/{attempt}.out");
        let log_err = format!("logs/{id}/{attempt}.err");
        let argv = prepared
            .as_ref()
            .map(|p| p.argv.clone())
            .unwrap_or_default();
        let record = Attempt {
            attempt,
            tool_id: tool.clone(),
            status: Status::Running,
            argv: argv.clone(),
            started_at: now_rfc3339(),
            log_out: log_out.clone(),
            log_err: log_err.clone(),
            patch_id: patch_id.clone(),
            executor: self.executor_id.clone(),
            ..Attempt::default()
        };
        let stop = StopHandle::new();
        let mut task = RunningTask {
            attempt,
            tool: tool.clone(),
            timeout: None,
            claim,
            stop: stop.clone(),
            cancel_requests: Vec::new(),
            interrupted: false,
        };
        let prepared = match prepared {
            Ok(p) => p,
            Err(reason) => {
                self.record_running(&id, record, metadata);
                note_in_log(&self.state.root().join(&log_err), &reason);
                return self.finish(not_started(&id, attempt, reason), task);
            }
        };
        task.timeout = prepared.timeout;
        let workdir = prepared.spec.cwd.display().to_string();
        let mut job = Job {
            task_id: id.clone(),
            attempt,
            out_log: self.state.root().join(&log_out),
            err_log: self.state.root().join(&log_err),
            tail_bytes: self.config.events.stderr_tail_bytes,
            spec: prepared.spec,
            probe: prepared.probe,
            stop,
            begun: None,
        };
        // The only attempt running (as in a dependency chain, where every start is on
        // the critical path): spawn it here rather than wake a worker first. A worker
        // still waits for it. Not when `files_modified` needs a snapshot first (it may
        // run `git status`), nor with other attempts running (the workers then spawn in
        // parallel, off this thread).
        if self.running.is_empty() && self.pool.is_some() && matches!(job.probe, Probe::None) {
            job.begun = Some(attempt::begin(&job));
        }
        // Handed over before the bookkeeping below, which the worker does not need. The
        // attempt's ending is recorded by this thread too, so it cannot overtake its start.
        let submitted = match &self.pool {
            Some(pool) => pool.submit(job),
            None => Err(Box::new(job)),
        };
        self.record_running(&id, record, metadata);
        if let Err(job) = submitted {
            return self.not_submitted(*job, task);
        }
        self.events.emit(
            EventType::TaskStarted,
            PHASE,
            Some(&id),
            Some(attempt),
            json!({
                "tool": tool,
                "argv": argv,
                "workdir": workdir,
                "log_out": log_out,
                "log_err": log_err,
                "patch_id": patch_id,
            }),
        );
        *self.per_tool.entry(tool).or_insert(0) += 1;
        self.running.insert(id, task);
        self.prepare_claims_after(t);
    }

    /// The pool is gone (an internal error): a process already spawned is stopped and
    /// waited for here, and the attempt is recorded either way.
    fn not_submitted(&mut self, job: Job, task: RunningTask) {
        let done = if job.begun.as_ref().is_some_and(Begun::spawned) {
            job.stop.stop();
            attempt::run(job)
        } else {
            let reason = match self.pool {
                Some(_) => "internal error: the executor's workers are gone",
                None => "internal error: the executor was not started",
            };
            not_started(&job.task_id, job.attempt, reason.to_string())
        };
        self.finish(done, task);
    }

    /// Creates the claim files of the dependents that task `t` is the last unmet
    /// dependency of, while `t` runs: creating a file is the slowest step of starting an
    /// attempt (much slower on ext4 soon after many deletions), and in a chain the next
    /// start is on the critical path. The claim is taken and dropped at once, so it is
    /// held only while its attempt runs, as before.
    fn prepare_claims_after(&mut self, t: usize) {
        if self.unmet.len() != self.graph.len() {
            return;
        }
        // `unmet` counts `t` itself while it runs: 1 means nothing else is missing. No
        // more than can start at once: a wide fan-out would hold this thread up.
        let limit = self.config.execution.parallelism();
        let next = self
            .graph
            .dependents(t)
            .iter()
            .filter(|&&d| self.unmet[d] == 1);
        for &d in next.take(limit) {
            let id = self.graph.id(d);
            if let Err(e) = Claim::try_acquire(&self.state, id) {
                tracing::debug!(phase = PHASE, task = %id, "{e}");
            }
        }
    }

    /// Records `record` as the task's latest attempt, `running`.
    fn record_running(&mut self, id: &str, record: Attempt, metadata: Metadata) {
        let carried = self.orphan_requests.remove(id).unwrap_or_default();
        let r = self.ledger.upsert(id, || TaskResult {
            task_id: id.to_string(),
            // A rerun after a person deleted the entry: a fresh budget and ladder.
            budget_from_attempt: if record.attempt > 1 {
                record.attempt
            } else {
                0
            },
            ..TaskResult::default()
        });
        r.tool_id = record.tool_id.clone();
        r.attempt = record.attempt;
        r.status = Status::Running;
        r.exit_code = None;
        r.duration_ms = 0;
        r.output_patch_id = record.patch_id.clone();
        r.files_modified.clear();
        r.reason = None;
        r.started_at = record.started_at.clone();
        r.finished_at = None;
        r.retry_at = None;
        r.metadata = metadata;
        r.handled_requests.extend(carried);
        r.attempts.retain(|a| a.attempt != record.attempt);
        // Most tasks run once: no room for four attempts in each of 10,000 entries.
        r.attempts.reserve_exact(1);
        r.attempts.push(record);
    }

    /// The command of task `t`'s next attempt, from its decision's tool as the files say
    /// now. An error is the reason of a failed attempt.
    fn prepare(&mut self, t: usize, attempt: u32) -> Result<Prepared, String> {
        let decision = self.graph.decision(t);
        let task = &decision.task;
        let tool_name = &decision.selected_tool;
        let tool = self.config.tools.get(tool_name).ok_or_else(|| {
            format!(
                "cannot start: tool {tool_name:?} is not configured (no [tools.{tool_name}] in the configuration)"
            )
        })?;
        let cwd = match &task.workdir {
            Some(w) => self.project_root.join(w),
            None => self.project_root.clone(),
        };
        let workdir = cwd.to_string_lossy().into_owned();
        let vars = Vars {
            command: &task.command,
            description: &task.description,
            files: &task.files,
            task_id: &decision.task_id,
            attempt,
            workdir: &workdir,
            prompt_file: None,
        };
        let argv = template::expand(&tool.command, &vars).map_err(|e| {
            format!("cannot start: the command of tool {tool_name:?} does not expand: {e}")
        })?;
        let env: Vec<(String, String)> = tool
            .env
            .iter()
            .chain(task.env.iter())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let seconds = task
            .timeout_seconds
            .or(tool.timeout_seconds)
            .unwrap_or(self.config.execution.timeout_seconds);
        let timeout = (seconds > 0).then(|| Duration::from_secs(seconds));
        let spec = Spec {
            argv: argv.clone(),
            cwd: cwd.clone(),
            env,
            // Copied into the logs by the worker, which creates a file on first output.
            stdout: Sink::Pipe,
            stderr: Sink::Pipe,
            timeout,
            kill_grace: Duration::from_millis(self.config.execution.kill_grace_ms),
        };
        let probe = Probe::choose(&task.files, &cwd, self.state.root(), &mut self.git_roots);
        Ok(Prepared {
            argv,
            spec,
            probe,
            timeout,
        })
    }
}

/// The ending of an attempt that never ran.
fn not_started(task_id: &str, attempt: u32, reason: String) -> Done {
    let now = now_rfc3339();
    Done {
        task_id: task_id.to_string(),
        attempt,
        started_at: now.clone(),
        finished_at: now,
        duration_ms: 0,
        end: End::NotStarted(reason),
        stderr_tail: String::new(),
        files_modified: Vec::new(),
    }
}
