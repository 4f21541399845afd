//! Cluster jobs a previous engine submitted (docs/SLURM.md, "Restart"): the Slurm lane
//! adopted them at start from their submission records; here each becomes one of our
//! running attempts — before anything can be dispatched, so none is submitted again. A job
//! whose result the results file has already (the engine died between its write and the
//! ack) only has its records removed.

use std::time::Duration;

use crate::executor::Executor;
use crate::executor::reconcile::reports::started_event;
use crate::executor::supervisor::{Launch, RunningTask};
use crate::lifecycle::Stage;
use crate::model::{Attempt, Status, now_rfc3339};
use crate::slurm::JobRef;

impl Executor {
    /// Hands the adopted cluster jobs to the supervisor as running attempts (once), and
    /// keeps the lane's poll interval that of the configuration.
    pub(in crate::executor) fn adopt_cluster_jobs(&mut self) {
        let poll = Duration::from_millis(self.site.config.state.poll_interval_ms);
        self.supervisor.slurm.set_poll_interval(poll);
        for job in self.supervisor.slurm.take_adopted() {
            self.adopt_cluster_job(&job);
        }
    }

    fn adopt_cluster_job(&mut self, job: &JobRef) {
        let id = job.task.as_str();
        let entry = self.book.get(id);
        let known = entry.map_or(0, |r| r.attempt);
        let ended = entry.is_some_and(|r| {
            (r.attempts.iter()).any(|a| a.attempt == job.attempt && a.status != Status::Running)
        });
        if ended || known > job.attempt || self.supervisor.runs(id) {
            // Recorded already, or a later attempt is: nothing of this one is left to do.
            self.supervisor.slurm.release(id, job.attempt);
            return;
        }
        let decision = (self.schedule.graph().find(id)).map(|t| self.schedule.graph().decision(t));
        let tool = decision
            .map(|d| d.selected_tool.clone())
            .or_else(|| entry.map(|r| r.tool_id.clone()))
            .unwrap_or_default();
        let mut task = RunningTask::new(job.attempt, tool.clone());
        // Only for the reason's words: the wrapper's fence carries the deadline the
        // backend enforces.
        let seconds = decision
            .and_then(|d| d.task.timeout_seconds)
            .or_else(|| self.site.config.tools.get(&tool)?.timeout_seconds)
            .unwrap_or(self.site.config.execution.timeout_seconds);
        task.timeout = (seconds > 0).then(|| Duration::from_secs(seconds));
        let shown_running = known == job.attempt && self.book.stage(id) == Stage::Running;
        if !shown_running {
            // Queued when the engine died (or started, not yet written): recorded
            // `running` once the cluster says it runs.
            let record = Attempt {
                attempt: job.attempt,
                tool_id: tool,
                started_at: now_rfc3339(),
                log_out: format!("logs/{id}/{}.out", job.attempt),
                log_err: format!("logs/{id}/{}.err", job.attempt),
                executor: self.site.executor_id.clone(),
                job_id: job.job_id.clone(),
                ..Attempt::default()
            };
            let workdir = decision
                .and_then(|d| d.task.workdir.as_deref())
                .map_or_else(
                    || self.site.project_root.clone(),
                    |w| self.site.project_root.join(w),
                );
            let mut event = started_event(&record, &workdir);
            event["job_id"] = serde_json::json!(job.job_id);
            event["job_name"] = serde_json::json!(job.job_name);
            event["adopted"] = serde_json::json!(true);
            task.launch = Some(Launch {
                record,
                metadata: decision.map(|d| d.metadata.clone()).unwrap_or_default(),
                event,
            });
        }
        self.schedule.tool_started(&task.tool);
        self.supervisor.adopt_cluster_job(id, task);
    }
}
