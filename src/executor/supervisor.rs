//! The attempts this executor runs, through its attempt runner (`phase __runner`,
//! docs/ATTEMPTS.md), which holds each attempt's claim and fence and survives the engine;
//! what waits for the next results write (acks, outcome records, claims the executor holds
//! itself); and the watch on attempts it does not run — other executors', and those left
//! by an engine that died (pueue's repair after a crash, proven with a lock instead of
//! guessed).

mod acks;
mod attempt;
mod changes;
mod claims;
mod command;
mod foreign;
mod link;
mod slurm_lane;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::Result;
use crate::model::{Attempt, Metadata, RoutingDecision};
use crate::phase::Waker;
use crate::runner::{EngineMessage, RunRequest, RunnerEvent};
use crate::slurm::SlurmOptions;
use crate::store::{CancelReason, Claim, StateDir};

pub(super) use acks::Acks;
pub(super) use attempt::{Done, End, note_in_log};
pub(super) use changes::{Probe, Snapshot};
pub(super) use claims::Claims;
pub(super) use command::{CommandSite, Prepared};
pub(super) use foreign::{ForeignWatch, engine_gone};
use link::RunnerLink;
pub(super) use link::default_program;
pub(super) use slurm_lane::SlurmLane;

/// What an attempt's start is recorded with once its runner says it started.
#[derive(Debug)]
pub(super) struct Launch {
    pub(super) record: Attempt,
    pub(super) metadata: Metadata,
    /// TASK_STARTED's data.
    pub(super) event: serde_json::Value,
}

/// One attempt this process runs (asked its runner to run).
#[derive(Debug)]
pub(super) struct RunningTask {
    pub(super) attempt: u32,
    pub(super) tool: String,
    pub(super) timeout: Option<Duration>,
    /// `cancel` requests that stopped it: it ends `canceled`, and they are recorded as
    /// handled only then (after a crash meanwhile, the next executor carries them out).
    pub(super) cancel_requests: Vec<String>,
    /// Set when shutdown stopped it: it ends `failed` / `interrupted`.
    pub(super) interrupted: bool,
    /// An exit 0 that changed none of its files is a failure (`tools.<name>.require_changes`).
    pub(super) require_changes: bool,
    /// Until the runner says it started: what to record then.
    pub(super) launch: Option<Launch>,
    /// How to find what it changed, and what was there before it started.
    pub(super) changes: Option<(Probe, Snapshot)>,
    /// When the runner was asked to run it.
    pub(super) launched_at: Instant,
    /// The task whose running attempt it was handed over to follow (see
    /// [`RunRequest::after`](crate::runner::RunRequest::after)).
    pub(super) follows: Option<String>,
    /// Its dependents that may follow it were handed to the runner (or none may): see
    /// [`Executor::hand_on`](crate::executor::Executor).
    pub(super) handed_on: bool,
}

impl RunningTask {
    /// Attempt `attempt` of a task, with `tool`; not stopped.
    pub(super) fn new(attempt: u32, tool: String) -> RunningTask {
        RunningTask {
            attempt,
            tool,
            timeout: None,
            cancel_requests: Vec::new(),
            interrupted: false,
            require_changes: false,
            launch: None,
            changes: None,
            launched_at: Instant::now(),
            follows: None,
            handed_on: false,
        }
    }
}

/// The runner, the running attempts, what waits for a write, and the foreign watch.
#[derive(Debug)]
pub(super) struct Supervisor {
    link: Option<RunnerLink>,
    /// Attempts this process runs, by task id.
    running: HashMap<String, RunningTask>,
    /// Claims the executor holds itself until the next write.
    pub(super) claims: Claims,
    /// Attempts to ack and outcome records to remove after the next write.
    pub(super) acks: Acks,
    /// Attempts this process does not run but must account for.
    pub(super) foreign: ForeignWatch,
    /// Task → the lowest attempt it may start as (its fence names the one before): a
    /// task whose results entry a person deleted continues above its fence.
    floors: HashMap<String, u32>,
    /// Workdir → git work tree root (or none), for `files_modified`.
    git_roots: HashMap<PathBuf, Option<PathBuf>>,
    /// Task → the runner's refusals in a row for a passing error (a full disk), and
    /// when it may be tried again.
    unfenced: HashMap<String, (u32, Instant)>,
    /// Attempts of tools with `backend = "slurm"`: cluster jobs (docs/SLURM.md).
    pub(super) slurm: SlurmLane,
}

impl Supervisor {
    pub(super) fn new() -> Supervisor {
        Supervisor {
            link: None,
            running: HashMap::new(),
            claims: Claims::new(),
            acks: Acks::new(),
            foreign: ForeignWatch::default(),
            floors: HashMap::new(),
            git_roots: HashMap::new(),
            unfenced: HashMap::new(),
            slurm: SlurmLane::off(),
        }
    }

    /// Starts the attempt runner (`program __runner`, with `runner_id` in its fences);
    /// its reports wake the phase through `waker`.
    pub(super) fn start(
        &mut self,
        program: PathBuf,
        state: &StateDir,
        runner_id: &str,
        waker: Waker,
    ) -> Result<()> {
        // The same binary is the cluster jobs' wrapper (`phase __slurm-job`); jobs a
        // previous engine submitted are adopted before anything can start.
        self.slurm = SlurmLane::start(state, &program);
        self.link = Some(RunnerLink::start(program, state, runner_id, waker)?);
        Ok(())
    }

    /// Whether a runner is up to take attempts (starting a new one if it died and a try
    /// is due).
    pub(super) fn runner_ready(&mut self, now: Instant) -> bool {
        self.link.as_mut().is_some_and(|l| l.ensure(now))
    }

    /// Whether a runner is up to take attempts.
    pub(super) fn runner_up(&self) -> bool {
        self.link.as_ref().is_some_and(RunnerLink::is_up)
    }

    /// When to try starting a runner again, if it died.
    pub(super) fn runner_retry_at(&self) -> Option<Instant> {
        self.link.as_ref().and_then(RunnerLink::retry_at)
    }

    /// Whether this process runs an attempt of `id`.
    pub(super) fn runs(&self, id: &str) -> bool {
        self.running.contains_key(id)
    }

    /// How many attempts this process runs.
    pub(super) fn count(&self) -> usize {
        self.running.len()
    }

    /// The attempt of `id` this process runs.
    pub(super) fn get_mut(&mut self, id: &str) -> Option<&mut RunningTask> {
        self.running.get_mut(id)
    }

    /// Whether `request_id` stopped the attempt of `task_id` (ours or adopted), which has
    /// not ended yet.
    pub(super) fn is_canceling(&self, task_id: &str, request_id: &str) -> bool {
        self.running
            .get(task_id)
            .is_some_and(|t| t.cancel_requests.iter().any(|r| r == request_id))
            || self.foreign.is_canceling(task_id, request_id)
    }

    /// Hands `request` to the runner; the attempt is ours from now on. `false` if the
    /// runner is gone (its `Gone` report follows, and the attempt is looked at then).
    pub(super) fn run(&mut self, request: RunRequest, task: RunningTask) -> bool {
        let id = request.task.clone();
        self.running.insert(id, task);
        self.send(&[EngineMessage::Run(request)])
    }

    /// Submits `request` as a Slurm job with the tool's `options`; the attempt is ours
    /// from now on, its job id (when `sbatch` returned one) in its start record and
    /// event. No claim is taken: the job's wrapper takes it. Refused: the task back, and
    /// why it cannot start.
    pub(super) fn submit(
        &mut self,
        request: &RunRequest,
        mut task: RunningTask,
        options: &SlurmOptions,
    ) -> std::result::Result<(), Box<(RunningTask, crate::Error)>> {
        match self.slurm.submit(request, options) {
            Ok(job) => {
                if let Some(launch) = task.launch.as_mut() {
                    launch.record.job_id.clone_from(&job.job_id);
                    launch.event["job_id"] = serde_json::json!(job.job_id);
                    launch.event["job_name"] = serde_json::json!(job.job_name);
                }
                self.running.insert(request.task.clone(), task);
                Ok(())
            }
            Err(e) => Err(Box::new((task, e))),
        }
    }

    /// A cluster job a previous engine submitted is ours now (see
    /// [`SlurmLane::take_adopted`]).
    pub(super) fn adopt_cluster_job(&mut self, id: &str, task: RunningTask) {
        self.running.insert(id.to_string(), task);
    }

    /// Asks the runner to end our attempt of `id` (SIGTERM, grace, SIGKILL); a cluster
    /// job is cancelled with `scancel`.
    pub(super) fn cancel(&mut self, id: &str) {
        if self.slurm.owns(id) {
            self.slurm.cancel(id, CancelReason::Canceled);
            return;
        }
        if let Some(attempt) = self.running.get(id).map(|t| t.attempt) {
            let task = id.to_string();
            self.send(&[EngineMessage::Cancel { task, attempt }]);
        }
    }

    /// Asks the runner to end the attempts handed over to follow `id`'s (a cancel of
    /// `id`: they must not start, or go on, as if it had succeeded).
    pub(super) fn cancel_followers(&mut self, id: &str) {
        let followers: Vec<EngineMessage> = (self.running.iter())
            .filter(|(_, t)| t.follows.as_deref() == Some(id))
            .map(|(task, t)| EngineMessage::Cancel {
                task: task.clone(),
                attempt: t.attempt,
            })
            .collect();
        if !followers.is_empty() {
            self.send(&followers);
        }
    }

    /// Our attempts whose dependents were not all handed over yet, as (task, attempt).
    pub(super) fn not_handed_on(&self) -> Vec<(String, u32)> {
        (self.running.iter())
            .filter(|(_, t)| !t.handed_on)
            .map(|(id, t)| (id.clone(), t.attempt))
            .collect()
    }

    /// The attempt of `id` ended (or was refused).
    pub(super) fn remove(&mut self, id: &str) -> Option<RunningTask> {
        self.running.remove(id)
    }

    /// The next report of the runner, if one is waiting; then the cluster's (one
    /// `squeue` for every job, when a poll is due), in the runner's shape.
    pub(super) fn try_report(&mut self) -> Option<RunnerEvent> {
        self.link
            .as_ref()
            .and_then(RunnerLink::try_next)
            .or_else(|| self.slurm.try_next(Instant::now()))
    }

    /// The next report of the runner, waiting for one until `deadline`.
    pub(super) fn report_until(&self, deadline: Instant) -> Option<RunnerEvent> {
        self.link.as_ref().and_then(|l| l.next_until(deadline))
    }

    /// The runner died: every attempt it ran is handed back (to be looked at as a foreign
    /// one), its unacked claims are gone with it, and another runner starts soon.
    pub(super) fn runner_lost(&mut self) -> Vec<(String, RunningTask)> {
        if let Some(link) = self.link.as_mut() {
            link.lost();
        }
        self.acks.forget_unacked();
        // Cluster jobs do not run under the runner: they stay ours.
        let local: Vec<String> = (self.running.keys())
            .filter(|id| !self.slurm.owns(id))
            .cloned()
            .collect();
        local
            .into_iter()
            .filter_map(|id| self.running.remove_entry(&id))
            .collect()
    }

    /// The results are on disk: acks go to the runner (in one write), outcome records
    /// are removed, held claims released.
    pub(super) fn written(&mut self, state: &StateDir) {
        let mut acks = self.acks.written(state);
        // A cluster attempt's ack removes its records (the runner never held it).
        acks.retain(|m| match m {
            EngineMessage::Ack { task, attempt } => !self.slurm.acks_pending(task, *attempt),
            _ => true,
        });
        self.slurm.written();
        self.send(&acks);
        self.claims.release_all();
    }

    /// Whether `id`'s claim stays held until the next write (by the runner, for an
    /// unacked attempt; or by this process): starting it would find it busy.
    pub(super) fn waits_for_write(&self, id: &str) -> bool {
        self.acks.waits_on(id) || self.claims.holds(id)
    }

    /// Tells the runner to start nothing more and end what still runs after `grace`.
    /// Cluster jobs are left running: the next engine adopts them.
    pub(super) fn shut_down_runner(&mut self, grace: Duration) {
        for id in self.slurm.leave_running() {
            self.running.remove(&id);
        }
        if let Some(link) = self.link.as_mut() {
            link.shut_down(grace);
        }
    }

    /// Waits for the runner to exit, at most `limit`.
    pub(super) fn wait_runner_exit(&mut self, limit: Duration) {
        if let Some(link) = self.link.as_mut() {
            link.wait_exit(limit);
        }
    }

    /// The command of `decision`'s attempt `attempt` (an error: why it cannot start).
    pub(super) fn prepare(
        &mut self,
        site: &CommandSite<'_>,
        decision: &RoutingDecision,
        attempt: u32,
    ) -> std::result::Result<Prepared, String> {
        command::prepare(site, decision, attempt, &mut self.git_roots)
    }

    /// Whether `dir` is in a git work tree (looked up once per directory).
    pub(super) fn in_git_work_tree(&mut self, dir: &std::path::Path) -> bool {
        changes::git_root(dir, &mut self.git_roots).is_some()
    }

    /// How long to wait before trying `id` again after another refusal for a passing
    /// error: `poll`, doubling with each refusal in a row, at most 10 s.
    pub(super) fn unfenced_delay(&mut self, id: &str, poll: Duration) -> Duration {
        let now = Instant::now();
        let (n, until) = self.unfenced.entry(id.to_string()).or_insert((0, now));
        *n = n.saturating_add(1);
        let delay = (poll * 2u32.saturating_pow((*n - 1).min(16))).min(Duration::from_secs(10));
        *until = now + delay;
        delay
    }

    /// When `id`, refused for a passing error, may be tried again, if that is after `now`:
    /// planning must not offer it sooner (else a full disk is a busy loop of refusals).
    pub(super) fn held_back(&self, id: &str, now: Instant) -> Option<Instant> {
        self.unfenced
            .get(id)
            .map(|(_, until)| *until)
            .filter(|until| *until > now)
    }

    /// `id` started: its refusals in a row are over.
    pub(super) fn started_fine(&mut self, id: &str) {
        if !self.unfenced.is_empty() {
            self.unfenced.remove(id);
        }
    }

    /// The lowest attempt `id` may start as.
    pub(super) fn floor(&self, id: &str) -> u32 {
        self.floors.get(id).copied().unwrap_or(0)
    }

    /// `id` starts at `attempt` at the lowest (its fence names the one before).
    pub(super) fn raise_floor(&mut self, id: &str, attempt: u32) {
        let floor = self.floors.entry(id.to_string()).or_default();
        *floor = (*floor).max(attempt);
    }

    /// A claim on `id` (see [`Claims::take`]).
    pub(super) fn take_claim(&mut self, state: &StateDir, id: &str) -> Result<Option<Claim>> {
        self.claims.take(state, id)
    }

    /// When to look for `started` reports, which do not wake the phase: every `interval`
    /// after the `run` of an attempt not recorded as started yet.
    pub(super) fn started_check_at(&self, interval: Duration, now: Instant) -> Option<Instant> {
        let interval = interval.max(Duration::from_millis(1));
        self.running
            .values()
            .filter(|t| t.launch.is_some())
            .map(|t| {
                let periods = now.saturating_duration_since(t.launched_at).as_nanos()
                    / interval.as_nanos()
                    + 1;
                t.launched_at + interval * u32::try_from(periods).unwrap_or(u32::MAX)
            })
            .min()
    }

    /// When to look at the cluster jobs next (poll, or a timeout due), if any are live.
    pub(super) fn slurm_wake(&self, now: Instant) -> Option<Instant> {
        self.slurm.next_wake(now)
    }

    /// When the next look at foreign attempts is due, if any are watched.
    pub(super) fn next_sweep(&self) -> Option<Instant> {
        self.foreign.next_sweep()
    }

    fn send(&mut self, messages: &[EngineMessage]) -> bool {
        self.link.as_mut().is_some_and(|l| l.send(messages))
    }
}
