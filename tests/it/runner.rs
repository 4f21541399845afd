//! The attempt runner (`phase __runner`) as a real process driven through `RunnerClient`:
//! claims, fences, acks, outcome records, timeouts, cancels, log failures, and what is left
//! after the engine or the runner is SIGKILLed.

mod after;
mod basics;
mod crashes;
mod logs;
mod queue;

use std::path::{Path, PathBuf};
use std::time::Duration;

use phase_coordinator::model::AttemptOutcome;
use phase_coordinator::runner::{
    AttemptFinished, EngineMessage, RunRequest, RunnerClient, RunnerEvent, RunnerMessage,
};
use phase_coordinator::store::{Claim, StateDir, read_outcome};
use rustix::process::{Pid, Signal};

/// How long any one step may take before the test fails.
const STEP: Duration = Duration::from_secs(20);

/// A project with a state directory, and the processes to kill if a test fails midway.
pub(crate) struct Bench {
    _tmp: Option<tempfile::TempDir>,
    pub root: PathBuf,
    pub state: StateDir,
    /// Runners and attempt groups to SIGKILL on drop (a failing test leaves nothing).
    strays: Vec<u32>,
}

impl Bench {
    /// A fresh project in a temp directory.
    pub(crate) fn new() -> Bench {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut bench = Bench::at(tmp.path());
        bench._tmp = Some(tmp);
        bench
    }

    /// The project at `root` (a child process's view of its parent's bench).
    pub(crate) fn at(root: &Path) -> Bench {
        Bench {
            _tmp: None,
            root: root.to_path_buf(),
            state: StateDir::new(root.join(".state")),
            strays: Vec::new(),
        }
    }

    /// Starts a runner on this state directory.
    pub(crate) fn runner(&mut self) -> RunnerClient {
        let phase = Path::new(env!("CARGO_BIN_EXE_phase"));
        let client = RunnerClient::spawn(phase, &self.state, None, |_| {}).expect("runner");
        self.strays.push(client.pid());
        client
    }

    /// Kills `pid`'s process group when the test ends, whatever happens.
    pub(crate) fn reap_group_later(&mut self, pid: u32) {
        self.strays.push(pid);
    }

    /// `sh -c script` as attempt `attempt` of `task`, in the project root.
    pub(crate) fn request(&self, task: &str, attempt: u32, script: &str) -> RunRequest {
        let logs = self.state.task_logs(task);
        RunRequest {
            task: task.into(),
            attempt,
            argv: vec!["sh".into(), "-c".into(), script.into()],
            cwd: self.root.clone(),
            env: Vec::new(),
            timeout_ms: None,
            kill_grace_ms: 200,
            out_log: logs.join(format!("{attempt}.out")),
            err_log: logs.join(format!("{attempt}.err")),
            tail_bytes: 200,
            slots: None,
            after: None,
        }
    }

    /// Whether some process holds `task`'s claim.
    pub(crate) fn held(&self, task: &str) -> bool {
        Claim::is_held(&self.state, task).expect("look at the claim")
    }

    /// The outcome record of `task`'s `attempt`, if written.
    pub(crate) fn outcome(&self, task: &str, attempt: u32) -> Option<AttemptOutcome> {
        read_outcome(&self.state, task, attempt).expect("read the outcome record")
    }

    /// A path in the project.
    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        for pid in self.strays.drain(..) {
            if let Some(pid) = Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process_group(pid, Signal::KILL);
                let _ = rustix::process::kill_process(pid, Signal::KILL);
            }
        }
    }
}

/// A script that waits for the file `name` in its workdir, then prints `done`.
pub(crate) fn gated(name: &str) -> String {
    format!("echo ready; while [ ! -e {name} ]; do sleep 0.01; done; echo done")
}

/// The runner's next message; fails after [`STEP`] or if the runner is gone.
#[track_caller]
pub(crate) fn next(client: &RunnerClient, what: &str) -> RunnerMessage {
    match client.events().recv_timeout(STEP) {
        Ok(RunnerEvent::Message(m)) => m,
        Ok(RunnerEvent::Gone) => panic!("the runner is gone; expected {what}"),
        Err(e) => panic!("no message from the runner within {STEP:?} ({e}); expected {what}"),
    }
}

/// Sends a message.
#[track_caller]
pub(crate) fn send(client: &mut RunnerClient, message: EngineMessage) {
    client.send(&message).expect("send to the runner");
}

/// Runs `req` and expects it to start; returns the command's pid.
#[track_caller]
pub(crate) fn start(client: &mut RunnerClient, req: &RunRequest) -> u32 {
    send(client, EngineMessage::Run(req.clone()));
    match next(client, "started") {
        RunnerMessage::Started {
            task, attempt, pid, ..
        } => {
            assert_eq!((task.as_str(), attempt), (req.task.as_str(), req.attempt));
            pid
        }
        other => panic!(
            "expected started for {}/{}, got {other:?}",
            req.task, req.attempt
        ),
    }
}

/// Expects the next message to be `task`'s `attempt` finishing.
#[track_caller]
pub(crate) fn finished(client: &RunnerClient, task: &str, attempt: u32) -> AttemptFinished {
    match next(client, "finished") {
        RunnerMessage::Finished(f) if f.task == task && f.attempt == attempt => f,
        other => panic!("expected {task}/{attempt} finished, got {other:?}"),
    }
}

/// Sends `ack` for `task`'s `attempt`.
#[track_caller]
pub(crate) fn ack(client: &mut RunnerClient, task: &str, attempt: u32) {
    let (task, attempt) = (task.to_string(), attempt);
    send(client, EngineMessage::Ack { task, attempt });
}

/// Whether `pid` has exited (gone, or a zombie nobody reaped yet).
pub(crate) fn exited(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|s| s.split_whitespace().next());
    !matches!(state, Some(s) if s != "Z")
}

/// Whether any process of group `pgid` is still running (zombies do not count).
pub(crate) fn group_alive(pgid: u32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|e| {
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let mut fields = stat.rsplit(')').next().unwrap_or("").split_whitespace();
        let state = fields.next();
        // After the state: ppid, pgrp.
        let pgrp = fields.nth(1).and_then(|p| p.parse::<u32>().ok());
        pgrp == Some(pgid) && !matches!(state, Some("Z") | None)
    })
}
