//! Starting attempts: pick ready tasks in order within the global and per-tool limits,
//! claim each, check the results file once more, build its command from the decision's
//! tool (read fresh every attempt), record it `running` and hand it to a worker.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::executor::supervisor::{
    Begun, Claims, CommandSite, Done, End, Job, Prepared, Probe, RunningTask, begin, note_in_log,
    run,
};
use crate::executor::{Executor, PHASE, times};
use crate::lifecycle::{Next, next_step};
use crate::model::{Attempt, EventType, Metadata, now_rfc3339};
use crate::store::Claim;

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
        // The router holds it back: no candidate tool may take it now (docs/ROUTING.md
        // "Waiting"). Its next change of the decision wakes the executor.
        if self.schedule.graph().decision(t).waiting.is_some() {
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

    /// Starts `attempt` of task `t`: claims it, builds its command and hands it to a
    /// worker; a command that cannot be built is a failed attempt.
    fn launch(&mut self, t: usize, attempt: u32, patch_id: Option<String>) {
        let id = self.schedule.graph().id(t).to_string();
        let Some(claim) = self.claim_to_start(t, &id, attempt, &patch_id) else {
            return;
        };
        let decision = self.schedule.graph().decision(t);
        let metadata = decision.metadata.clone();
        let site = CommandSite {
            config: &self.site.config,
            project_root: &self.site.project_root,
            state: &self.site.state,
        };
        let prepared = self.supervisor.prepare(&site, decision, attempt);
        let record = Attempt {
            attempt,
            tool_id: decision.selected_tool.clone(),
            argv: prepared
                .as_ref()
                .map(|p| p.argv.clone())
                .unwrap_or_default(),
            started_at: now_rfc3339(),
            log_out: format!("logs/{id}/{attempt}.out"),
            log_err: format!("logs/{id}/{attempt}.err"),
            patch_id,
            executor: self.site.executor_id.clone(),
            ..Attempt::default()
        };
        let task = RunningTask::new(attempt, record.tool_id.clone(), claim);
        match prepared {
            Ok(prepared) => self.hand_over(t, id, task, prepared, record, metadata),
            Err(reason) => {
                let log_err = self.site.state.root().join(&record.log_err);
                self.book.start_attempt(&id, record, metadata);
                note_in_log(&log_err, &reason);
                self.finish(not_started(&id, attempt, reason), task);
            }
        }
    }

    /// The claim on task `t` for `attempt`, unless another executor holds it (the task
    /// is looked at again later) or has started or finished that attempt meanwhile.
    fn claim_to_start(
        &mut self,
        t: usize,
        id: &str,
        attempt: u32,
        patch_id: &Option<String>,
    ) -> Option<Claim> {
        let poll = Duration::from_millis(self.site.config.state.poll_interval_ms);
        let claim = match self.supervisor.take_claim(&self.site.state, id) {
            Ok(Some(claim)) => claim,
            // Another executor runs it. Look again later: it may die before writing.
            Ok(None) => {
                self.schedule.at(Instant::now() + poll, t);
                return None;
            }
            Err(e) => {
                tracing::warn!(phase = PHASE, task = %id, "{e}");
                self.schedule.at(Instant::now() + poll, t);
                return None;
            }
        };
        // Two executors must never run the same attempt: another one may have run it
        // and released the claim since this process last read the file.
        if self.refresh_results()
            && (!self.can_start() || self.runnable(t) != Some((attempt, patch_id.clone())))
        {
            self.supervisor.claims.hold(id, claim);
            return None;
        }
        Some(claim)
    }

    /// Hands the prepared attempt to a worker, records it `running` and announces it.
    fn hand_over(
        &mut self,
        t: usize,
        id: String,
        mut task: RunningTask,
        prepared: Prepared,
        record: Attempt,
        metadata: Metadata,
    ) {
        task.timeout = prepared.timeout;
        task.require_changes = prepared.require_changes;
        let root = self.site.state.root();
        let mut job = Job {
            task_id: id.clone(),
            attempt: record.attempt,
            out_log: root.join(&record.log_out),
            err_log: root.join(&record.log_err),
            tail_bytes: self.site.config.events.stderr_tail_bytes,
            spec: prepared.spec,
            probe: prepared.probe,
            stop: task.stop.clone(),
            begun: None,
        };
        let started = json!({
            "tool": record.tool_id,
            "argv": record.argv,
            "workdir": job.spec.cwd.display().to_string(),
            "log_out": record.log_out,
            "log_err": record.log_err,
            "patch_id": record.patch_id,
        });
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
        let attempt = record.attempt;
        self.book.start_attempt(&id, record, metadata);
        if let Err(job) = submitted {
            return self.not_submitted(*job, task);
        }
        self.site.events.emit(
            EventType::TaskStarted,
            PHASE,
            Some(&id),
            Some(attempt),
            started,
        );
        self.schedule.tool_started(&task.tool);
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
