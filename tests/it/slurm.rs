//! The Slurm backend against the REAL local Slurm (`scripts/slurm-local.sh start`): jobs
//! submitted with `sbatch`, run by the `phase __slurm-job` wrapper, tracked, cancelled and
//! adopted after crashes. Without a running Slurm these tests fail under CI=true (saying
//! how to start it) and are skipped otherwise.

mod engine;
mod outcomes;
mod restart;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use phase_coordinator::runner::RunRequest;
use phase_coordinator::slurm::{SlurmBackend, SlurmEvent, SlurmFinished, SlurmOptions};
use phase_coordinator::store::{StateDir, read_cluster_job};

use crate::support::procs::output_within;
use crate::support::wait::Deadline;

/// How long one job may take from submission to its report (the node runs 2 at a time,
/// and other tests share it).
pub(crate) const JOB_LIMIT: Duration = Duration::from_secs(60);
/// Between two passes: about what an executor would do.
const PASS: Duration = Duration::from_millis(100);

/// Whether the local Slurm takes jobs. Missing: under CI=true the test fails saying how
/// to start it; elsewhere it is skipped with the reason on stderr.
#[track_caller]
pub(crate) fn require_slurm() -> bool {
    let state = Command::new("sinfo").args(["-h", "-o", "%T"]).output();
    let up = state.as_ref().is_ok_and(|o| {
        let text = String::from_utf8_lossy(&o.stdout);
        ["idle", "mixed", "allocated", "completing"]
            .iter()
            .any(|s| text.contains(s))
    });
    if up {
        return true;
    }
    let start = "scripts/slurm-local.sh start";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("no Slurm node takes jobs, and CI must run this test: start one with `{start}`");
    }
    eprintln!("skipped: no Slurm node takes jobs (start one with `{start}`)");
    false
}

/// Tests share the one local cluster; a test that restarts its controller has it alone.
static CLUSTER: RwLock<()> = RwLock::new(());

/// The cluster, shared with other tests; `None` (skip) when Slurm is not running.
#[track_caller]
pub(crate) fn shared_cluster() -> Option<RwLockReadGuard<'static, ()>> {
    // Locked first: while another test restarts the controller, Slurm looks down.
    let guard = CLUSTER.read().unwrap_or_else(|e| e.into_inner());
    require_slurm().then_some(guard)
}

/// The cluster, alone; `None` (skip) when Slurm is not running.
#[track_caller]
pub(crate) fn whole_cluster() -> Option<RwLockWriteGuard<'static, ()>> {
    let guard = CLUSTER.write().unwrap_or_else(|e| e.into_inner());
    require_slurm().then_some(guard)
}

/// A project (state directory and workdir) in a temp directory; cancels its jobs on drop.
pub(crate) struct Bench {
    _tmp: Option<tempfile::TempDir>,
    pub root: PathBuf,
    pub state: StateDir,
}

impl Bench {
    /// A fresh project in a temp directory: Slurm's node must see it, and here the node
    /// is this machine (on a real cluster it would be a shared file system).
    pub(crate) fn new() -> Bench {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut bench = Bench::at(tmp.path());
        bench._tmp = Some(tmp);
        bench
    }

    /// The project at `root` (a child process's view of its parent's bench).
    pub(crate) fn at(root: &Path) -> Bench {
        let state = StateDir::new(root.join(".state"));
        state.ensure_layout().expect("state layout");
        std::fs::create_dir_all(root.join("work")).expect("workdir");
        Bench {
            _tmp: None,
            root: root.to_path_buf(),
            state,
        }
    }

    /// A backend on this project, whose jobs run the `phase` under test.
    pub(crate) fn backend(&self) -> SlurmBackend {
        SlurmBackend::new(&self.state, Path::new(env!("CARGO_BIN_EXE_phase"))).expect("backend")
    }

    /// Attempt `attempt` of `task` running `sh -c script` in the workdir.
    pub(crate) fn request(&self, task: &str, attempt: u32, script: &str) -> RunRequest {
        let logs = self.state.root().join("logs").join(task);
        RunRequest {
            task: task.into(),
            attempt,
            argv: vec!["sh".into(), "-c".into(), script.into()],
            cwd: self.root.join("work"),
            env: vec![("PHASE_TEST_TASK".into(), task.into())],
            timeout_ms: None,
            kill_grace_ms: 1000,
            out_log: logs.join(format!("{attempt}.out")),
            err_log: logs.join(format!("{attempt}.err")),
            tail_bytes: 4096,
            slots: None,
            after: None,
        }
    }

    /// A file of the project.
    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// A file's text ("" if missing).
    pub(crate) fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_default()
    }

    /// The Slurm job ids named after `task`'s `attempt` here: how many times it was
    /// submitted, as the cluster saw it.
    pub(crate) fn jobs_named(&self, task: &str, attempt: u32) -> Vec<String> {
        let name = phase_coordinator::slurm::script::job_name(
            &std::path::absolute(self.state.root()).expect("absolute"),
            task,
            attempt,
        );
        let mut cmd = Command::new("squeue");
        cmd.args(["-h", "-t", "all", "-o", "%i", "-n", &name]);
        let out = output_within(&mut cmd, Duration::from_secs(30), "squeue -n");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    /// The recorded job id of an attempt (before it is acked).
    pub(crate) fn recorded_id(&self, task: &str, attempt: u32) -> Option<String> {
        read_cluster_job(&self.state, task, attempt)
            .expect("record")?
            .job_id
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        // A failing test must not leave jobs holding the node's CPUs.
        let Ok(records) = phase_coordinator::store::list_cluster_jobs(&self.state) else {
            return;
        };
        for (task, attempt) in records {
            if let Ok(Some(job)) = read_cluster_job(&self.state, &task, attempt) {
                let _ = Command::new("scancel")
                    .arg(format!("--name={}", job.job_name))
                    .status();
            }
        }
    }
}

/// Drives `backend` pass by pass until every one of `keys` has finished; returns all the
/// events, in order. Fails after `limit` naming what is missing.
pub(crate) fn run_until_finished(
    backend: &mut SlurmBackend,
    keys: &[(&str, u32)],
    limit: Duration,
) -> Vec<SlurmEvent> {
    let deadline = Deadline::new(format!("{keys:?} to finish"), limit);
    let mut events = Vec::new();
    loop {
        events.extend(backend.poll());
        let done = keys
            .iter()
            .all(|(t, a)| finished_in(&events, t, *a).is_some());
        if done {
            return events;
        }
        if deadline.passed() {
            deadline.fail(&format!("events so far: {events:#?}"));
        }
        std::thread::sleep(PASS);
    }
}

/// The report of `task`'s `attempt` among `events`.
pub(crate) fn finished_in<'a>(
    events: &'a [SlurmEvent],
    task: &str,
    attempt: u32,
) -> Option<&'a SlurmFinished> {
    events.iter().find_map(|e| match e {
        SlurmEvent::Finished(f) if f.finished.task == task && f.finished.attempt == attempt => {
            Some(f)
        }
        _ => None,
    })
}

/// Whether `events` report `task`'s `attempt` started.
pub(crate) fn started_in(events: &[SlurmEvent], task: &str, attempt: u32) -> bool {
    events.iter().any(|e| {
        matches!(e, SlurmEvent::Started { task: t, attempt: a, .. } if t == task && *a == attempt)
    })
}

/// Polls until `task`'s `attempt` has started; returns the events seen.
pub(crate) fn run_until_started(
    backend: &mut SlurmBackend,
    task: &str,
    attempt: u32,
) -> Vec<SlurmEvent> {
    let deadline = Deadline::new(format!("{task} attempt {attempt} to start"), JOB_LIMIT);
    let mut events = Vec::new();
    loop {
        events.extend(backend.poll());
        if started_in(&events, task, attempt) {
            return events;
        }
        if deadline.passed() {
            deadline.fail(&format!("events so far: {events:#?}"));
        }
        std::thread::sleep(PASS);
    }
}

/// Options for a job that stays pending for an hour (until cancelled).
pub(crate) fn held_options() -> SlurmOptions {
    SlurmOptions {
        extra_args: vec!["--begin=now+3600".into()],
        ..SlurmOptions::default()
    }
}
