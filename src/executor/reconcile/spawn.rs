//! Starting attempts: pick ready tasks in order within the global and per-tool limits,
//! build each one's command from the decision's tool (read fresh every attempt), and hand
//! it to the attempt runner — or, for a tool with `backend = "slurm"`, submit it as a
//! cluster job ([`Executor::start_attempt`], the one place an attempt
//! starts). The runner's fence in the task's claim makes each attempt start at most once,
//! whichever executor asks (docs/ATTEMPTS.md); it is recorded `running` when the runner
//! says it started.

use std::time::{Duration, Instant};

use crate::config::ToolBackend;
use crate::executor::reconcile::reports::started_event;
use crate::executor::supervisor::{
    CommandSite, Done, Launch, Prepared, Probe, RunningTask, Snapshot, note_in_log,
};
use crate::executor::{Executor, times};
use crate::lifecycle::{Next, next_step};
use crate::model::{Attempt, Isolation, Metadata, now_rfc3339};
use crate::runner::{AfterAttempt, RunRequest};

impl Executor {
    /// Starts ready tasks until the parallel limit is reached or none is left; then hands
    /// the runner more to queue (see [`Executor::may_queue`], and `QueueDepth` for how many).
    pub(in crate::executor) fn dispatch(&mut self) {
        if !self.can_start() {
            return;
        }
        let limit = self.site.parallelism();
        while self.supervisor.count() < limit + self.schedule.depth.queued(limit)
            && self.can_start()
        {
            let queued = self.supervisor.count() >= limit;
            let Some(key) = self.schedule.pop() else {
                break;
            };
            let t = key.task();
            if t >= self.schedule.graph().len() {
                continue;
            }
            if queued && !self.may_queue(t) {
                self.schedule.put_back(key);
                break;
            }
            let Some((attempt, patch_id)) = self.runnable(t, None) else {
                continue;
            };
            if self.tool_at_limit(t) {
                let tool = self.schedule.graph().decision(t).selected_tool.clone();
                self.schedule.wait_for_tool(&tool, key);
                continue;
            }
            let slots = queued.then_some(limit);
            self.launch(t, (attempt, patch_id), slots, None);
        }
        self.hand_on();
    }

    /// Tops up the chains the runner holds: each attempt of ours whose dependents were not
    /// all handed over when it was (the runner's queue was full then) gets another try.
    /// Without this, the held links of a chain run out after a few, and every further
    /// link waits for a round trip through this thread.
    fn hand_on(&mut self) {
        let pending: Vec<(String, u32)> = self.supervisor.not_handed_on();
        for (id, attempt) in pending {
            if !self.can_start() {
                return;
            }
            let Some(t) = self.schedule.graph().find(&id) else {
                continue;
            };
            if self.hand_over_dependents(t, attempt)
                && let Some(task) = self.supervisor.get_mut(&id)
            {
                task.handed_on = true;
            }
        }
    }

    /// Whether task `t`'s tool runs as many attempts as its `max_parallel` allows.
    fn tool_at_limit(&self, t: usize) -> bool {
        let tool = &self.schedule.graph().decision(t).selected_tool;
        let limit = (self.site.config.tools.get(tool)).and_then(|c| c.max_parallel);
        self.schedule.tool_at_limit(tool, limit)
    }

    /// Whether task `t` may wait in the runner's queue for a slot, started by the runner
    /// the moment another attempt ends, without a round trip through this thread: only an
    /// attempt that is the same whenever it starts. One whose changes are measured (listed
    /// files, a git work tree: the "before" is looked at when it is handed over), one in a
    /// worktree, or a cluster job is handed over only when it can start at once.
    fn may_queue(&mut self, t: usize) -> bool {
        let decision = self.schedule.graph().decision(t);
        let task = &decision.task;
        let Some(tool) = self.site.config.tools.get(&decision.selected_tool) else {
            return false;
        };
        tool.backend == ToolBackend::Local
            && task.files.is_empty()
            && task.isolation.or(tool.isolation) != Some(Isolation::Worktree)
            && !self.supervisor.in_git_work_tree(&self.site.project_root)
    }

    /// The attempt task `t` may start now, if any: its result asks for one, its back-off
    /// has passed, and every dependency succeeded (but `running`, whose attempt now
    /// running it is to follow).
    fn runnable(&self, t: usize, running: Option<&str>) -> Option<(u32, Option<String>)> {
        let id = self.schedule.graph().id(t);
        // Ours, or another process's to account for first.
        if self.supervisor.runs(id) || self.supervisor.foreign.contains(id) {
            return None;
        }
        // The router holds it back: no candidate tool may take it now (docs/ROUTING.md
        // "Waiting"). Its next change of the decision wakes the executor.
        if self.schedule.graph().decision(t).waiting.is_some() {
            return None;
        }
        let entry = self.book.get(id);
        // Its latest attempt failed and the router has not looked at it yet: it may move
        // the retry off the tool that failed (docs/ROUTING.md "Fallback"). Its change of
        // the decision wakes the executor. With no router running, nobody would look.
        let reviewed = self.schedule.graph().decision(t).reviewed_attempt;
        if let (Some(r), Some(e)) = (reviewed, entry)
            && e.status.is_failure()
            && e.attempt > r
            && self.site.router_running()
        {
            return None;
        }
        let Next::Attempt {
            attempt,
            patch_id,
            not_before,
        } = next_step(id, entry, self.inputs.advice())
        else {
            return None;
        };
        if not_before.is_some_and(|at| !times::has_passed(&at)) {
            return None;
        }
        // Fences never go back: a task whose entry a person deleted continues above its
        // fence (the runner would refuse a lower attempt as started).
        let attempt = match entry {
            None => attempt.max(self.supervisor.floor(id)),
            Some(_) => attempt,
        };
        self.schedule
            .deps_succeeded(t, |dep| running == Some(dep) || self.book.succeeded(dep))
            .then_some((attempt, patch_id))
    }

    /// Starts `attempt` of task `t`: builds its command and hands it to the runner; a
    /// command that cannot be built is a failed attempt.
    fn launch(
        &mut self,
        t: usize,
        (attempt, patch_id): (u32, Option<String>),
        slots: Option<usize>,
        after: Option<AfterAttempt>,
    ) {
        let id = self.schedule.graph().id(t).to_string();
        // Its claim stays held until the next write (an unacked attempt, or a claim this
        // process took): the runner would find it busy. Written first.
        if self.supervisor.waits_for_write(&id) {
            self.flush_now();
            if self.supervisor.waits_for_write(&id) {
                let poll = Duration::from_millis(self.site.config.state.poll_interval_ms);
                self.schedule.at(Instant::now() + poll, t);
                return;
            }
        }
        let decision = self.schedule.graph().decision(t);
        let metadata = decision.metadata.clone();
        let site = CommandSite {
            config: &self.site.config,
            project_root: &self.site.project_root,
            state: &self.site.state,
        };
        let prepared = self.supervisor.prepare(&site, decision, attempt);
        // A workdir in a git work tree of its own below the project: measured, so not
        // queued after all (see `may_queue`); looked at again when a slot is free.
        if slots.is_some()
            && let Ok(p) = &prepared
            && !matches!(p.probe, Probe::None)
        {
            self.schedule.at(Instant::now(), t);
            return;
        }
        let record = Attempt {
            attempt,
            tool_id: decision.selected_tool.clone(),
            argv: prepared
                .as_ref()
                .map(|p| p.recorded_argv.clone())
                .unwrap_or_default(),
            worktree: prepared
                .as_ref()
                .ok()
                .and_then(|p| p.worktree.clone().map(Box::new)),
            started_at: now_rfc3339(),
            log_out: format!("logs/{id}/{attempt}.out"),
            log_err: format!("logs/{id}/{attempt}.err"),
            patch_id,
            executor: self.site.executor_id.clone(),
            ..Attempt::default()
        };
        let mut task = RunningTask::new(attempt, record.tool_id.clone());
        task.follows = after.as_ref().map(|a| a.task.clone());
        match prepared {
            Ok(prepared) => {
                let slots = slots.map(|n| u32::try_from(n).unwrap_or(u32::MAX));
                self.start_attempt(t, &id, task, (prepared, slots, after), record, metadata);
            }
            Err(reason) => {
                let log_err = self.site.state.root().join(&record.log_err);
                self.book.start_attempt(&id, record, metadata);
                note_in_log(&log_err, &reason);
                self.finish(Done::not_started(&id, reason), task);
            }
        }
    }

    /// The one place an attempt starts: what it changes is measured from here, and the
    /// runner is asked to run it. It is recorded `running` (and announced) when the runner
    /// says it started.
    fn start_attempt(
        &mut self,
        t: usize,
        id: &str,
        mut task: RunningTask,
        (prepared, slots, after): (Prepared, Option<u32>, Option<AfterAttempt>),
        record: Attempt,
        metadata: Metadata,
    ) {
        let record_attempt = record.attempt;
        let config = &self.site.config;
        // `backend = "slurm"`: submitted as a cluster job instead (docs/SLURM.md).
        let slurm = (config.tools.get(&record.tool_id))
            .filter(|c| c.backend == ToolBackend::Slurm)
            .map(|c| c.slurm.clone().unwrap_or_default());
        if let Some(a) = &after {
            tracing::debug!(task = %id, after = %a.task, "handed to the runner, to follow");
        }
        let root = self.site.state.root();
        let request = RunRequest {
            task: id.to_string(),
            attempt: record.attempt,
            argv: prepared.argv,
            cwd: prepared.cwd,
            env: prepared.env,
            timeout_ms: prepared
                .timeout
                .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
            kill_grace_ms: config.execution.kill_grace_ms,
            out_log: root.join(&record.log_out),
            err_log: root.join(&record.log_err),
            tail_bytes: config.events.stderr_tail_bytes,
            slots,
            after,
        };
        // Before the command can start: `git status` or the listed files' hashes.
        let before = match prepared.probe {
            Probe::None => Snapshot::default(),
            ref probe => probe.snapshot(),
        };
        task.timeout = prepared.timeout;
        task.require_changes = prepared.require_changes;
        task.changes = Some((prepared.probe, before));
        task.launch = Some(Launch {
            event: started_event(&record, &request.cwd),
            record,
            metadata,
        });
        self.schedule.tool_started(&task.tool);
        match slurm {
            // A runner that is gone reports `Gone`: the attempt is looked at then.
            None => {
                self.supervisor.run(request, task);
            }
            Some(options) => {
                if let Err(refused) = self.supervisor.submit(&request, task, &options) {
                    let (task, e) = *refused;
                    self.not_submitted(id, task, &e);
                }
            }
        }
        if self.hand_over_dependents(t, record_attempt)
            && let Some(task) = self.supervisor.get_mut(id)
        {
            task.handed_on = true;
        }
    }

    /// `sbatch` could not be run, or the backend refused the attempt: it never started.
    fn not_submitted(&mut self, id: &str, mut task: RunningTask, e: &crate::Error) {
        self.schedule.tool_ended(&task.tool);
        let reason = format!("cannot start: {e}");
        if let Some(launch) = task.launch.take() {
            let log_err = self.site.state.root().join(&launch.record.log_err);
            self.book.start_attempt(id, launch.record, launch.metadata);
            note_in_log(&log_err, &reason);
        }
        self.finish(Done::not_started(id, reason), task);
    }

    /// While attempt `attempt` of task `t` runs: hands the dependents it is the last unmet
    /// dependency of and that may follow it to the runner, to start the moment it succeeds
    /// (see [`Executor::may_follow`]), no more than can start at once. Each of those hands
    /// over its own next, so the runner holds the next few links of a chain. `false` when
    /// the runner's queue was full before every one was handed over (see
    /// [`Executor::hand_on`]).
    fn hand_over_dependents(&mut self, t: usize, attempt: u32) -> bool {
        let limit = self.site.parallelism();
        let next = self.schedule.next_after(t, limit);
        let id = self.schedule.graph().id(t).to_string();
        if next.is_empty() || !self.may_follow(t) {
            return true;
        }
        for d in next {
            let full = self.supervisor.count() >= limit + self.schedule.depth.queued(limit);
            if full || !self.can_start() {
                return false;
            }
            if !self.may_queue(d) || self.tool_at_limit(d) {
                continue;
            }
            let Some(next_attempt) = self.runnable(d, Some(&id)) else {
                continue;
            };
            let after = AfterAttempt {
                task: id.clone(),
                attempt,
            };
            self.launch(d, next_attempt, Some(limit), Some(after));
        }
        true
    }

    /// Whether the runner can tell by itself that task `t`'s attempt succeeded: it runs
    /// there, and its exit code decides (no acceptance gate, no changes required, nothing
    /// measured; see [`Executor::may_queue`]).
    fn may_follow(&mut self, t: usize) -> bool {
        let decision = self.schedule.graph().decision(t);
        let require_changes = (self.site.config.tools.get(&decision.selected_tool))
            .is_some_and(|tool| tool.require_changes);
        decision.gate.is_none() && !require_changes && self.may_queue(t)
    }
}
