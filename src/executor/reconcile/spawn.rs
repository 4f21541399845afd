//! Starting attempts: pick ready tasks in order within the global and per-tool limits,
//! claim each, check the results file once more, build its command from the decision's
//! tool (read fresh every attempt), record it `running` and hand it to a worker.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::executor::supervisor::{
    Begun, Claims, CommandSite, Done, End, Job, Probe, RunningTask, begin, note_in_log, run,
};
use crate::executor::{Executor, PHASE, times};
use crate::lifecycle::{Next, next_step};
use crate::model::{Attempt, EventType, now_rfc3339};
use crate::process::StopHandle;

impl Executor {
    /// Starts ready tasks until the parallel limit is reached or none is left.
    pub(in crate::executor) fn dispatch(&mut self) {
        if !self.can_start() {
            return;
        }
        let limit = self.site.parallelism();
        while self.supervisor.count() < limit && self.can_start() {
            let Some(key) = self.schedule.pop() else {
                break;
            };
            let t = key.task();
            if t >= self.schedule.graph().len() {
                continue;
            }
            let Some((attempt, patch_id)) = self.runnable(t) else {
                continue;
            };
            let tool = &self.schedule.graph().decision(t).selected_tool;
            let tool_limit = self
                .site
                .config
                .tools
                .get(tool)
                .and_then(|c| c.max_parallel);
            if self.schedule.tool_at_limit(tool, tool_limit) {
                let tool = tool.clone();
                self.schedule.wait_for_tool(&tool, key);
                continue;
            }
            self.launch(t, attempt, patch_id);
        }
    }

    /// The attempt task `t` may start now, if any: its result asks for one, its back-off
    /// has passed, and every dependency succeeded.
    fn runnable(&self, t: usize) -> Option<(u32, Option<String>)> {
        let id = self.schedule.graph().id(t);
        if self.supervisor.runs(id) {
            return None;
        }
        let Next::Attempt {
            attempt,
            patch_id,
            not_before,
        } = next_step(id, self.book.get(id), self.inputs.advice())
        else {
            return None;
        };
        if not_before.is_some_and(|at| !times::has_passed(&at)) {
            return None;
        }
        self.schedule
            .deps_succeeded(t, |dep| self.book.succeeded(dep))
            .then_some((attempt, patch_id))
    }

    fn launch(&mut self, t: usize, attempt: u32, patch_id: Option<String>) {
        let id = self.schedule.graph().id(t).to_string();
        let poll = Duration::from_millis(self.site.config.state.poll_interval_ms);
        let recheck = Instant::now() + poll;
        let claim = match self.supervisor.take_claim(&self.site.state, &id) {
            Ok(Some(claim)) => claim,
            // Another executor runs it. Look again later: it may die before writing.
            Ok(None) => return self.schedule.at(recheck, t),
            Err(e) => {
                tracing::warn!(phase = PHASE, task = %id, "{e}");
                return self.schedule.at(recheck, t);
            }
        };
        // Two executors must never run the same attempt: another one may have run it
        // and released the claim since this process last read the file.
        if self.refresh_results()
            && (!self.can_start() || self.runnable(t) != Some((attempt, patch_id.clone())))
        {
            return self.supervisor.claims.hold(&id, claim);
        }
        let decision = self.schedule.graph().decision(t);
        let tool = decision.selected_tool.clone();
        let metadata = decision.metadata.clone();
        let site = CommandSite {
            config: &self.site.config,
            project_root: &self.site.project_root,
            state: &self.site.state,
        };
        let prepared = self.supervisor.prepare(&site, decision, attempt);
        let log_out = format!("logs/{id}/{attempt}.out");
        let log_err = format!("logs/{id}/{attempt}.err");
        let argv = prepared
            .as_ref()
            .map(|p| p.argv.clone())
            .unwrap_or_default();
        let record = Attempt {
            attempt,
            tool_id: tool.clone(),
            argv: argv.clone(),
            started_at: now_rfc3339(),
            log_out: log_out.clone(),
            log_err: log_err.clone(),
            patch_id: patch_id.clone(),
            executor: self.site.executor_id.clone(),
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
            require_changes: false,
        };
        let prepared = match prepared {
            Ok(p) => p,
            Err(reason) => {
                self.book.start_attempt(&id, record, metadata);
                note_in_log(&self.site.state.root().join(&log_err), &reason);
                return self.finish(not_started(&id, attempt, reason), task);
            }
        };
        task.timeout = prepared.timeout;
        task.require_changes = prepared.require_changes;
        let workdir = prepared.spec.cwd.display().to_string();
        let mut job = Job {
            task_id: id.clone(),
            attempt,
            out_log: self.site.state.root().join(&log_out),
            err_log: self.site.state.root().join(&log_err),
            tail_bytes: self.site.config.events.stderr_tail_bytes,
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
        if self.supervisor.count() == 0
            && self.supervisor.has_workers()
            && matches!(job.probe, Probe::None)
        {
            job.begun = Some(begin(&job));
        }
        // Handed over before the bookkeeping below, which the worker does not need. The
        // attempt's ending is recorded by this thread too, so it cannot overtake its start.
        let submitted = self.supervisor.submit(job);
        self.book.start_attempt(&id, record, metadata);
        if let Err(job) = submitted {
            return self.not_submitted(*job, task);
        }
        self.site.events.emit(
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
        self.schedule.tool_started(&tool);
        self.supervisor.add(id, task);
        self.prepare_claims_after(t);
    }

    /// The workers are gone (an internal error): a process already spawned is stopped
    /// and waited for here, and the attempt is recorded either way.
    fn not_submitted(&mut self, job: Job, task: RunningTask) {
        let done = if job.begun.as_ref().is_some_and(Begun::spawned) {
            job.stop.stop();
            run(job)
        } else {
            let reason = if self.supervisor.has_workers() {
                "internal error: the executor's workers are gone"
            } else {
                "internal error: the executor was not started"
            };
            not_started(&job.task_id, job.attempt, reason.to_string())
        };
        self.finish(done, task);
    }

    /// Creates the claim files of the dependents that task `t` is the last unmet
    /// dependency of, while `t` runs (see [`Claims::prepare`]); no more than can start at
    /// once: a wide fan-out would hold this thread up.
    fn prepare_claims_after(&mut self, t: usize) {
        let next = self.schedule.next_after(t, self.site.parallelism());
        let graph = self.schedule.graph();
        Claims::prepare(&self.site.state, next.iter().map(|&d| graph.id(d)));
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
