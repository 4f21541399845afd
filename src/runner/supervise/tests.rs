//! The attempt state machine with real processes, driven by a small loop of its own (the
//! runner's loop, minus the engine).

use std::path::Path;
use std::time::{Duration, Instant};

use super::*;
use crate::store::{Fence, FencedClaim, StateDir};

/// One attempt in a temp state directory, driven to its end.
struct Drive {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    state: StateDir,
}

impl Drive {
    fn new() -> Drive {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        Drive {
            state: StateDir::new(root.join("st")),
            root,
            _dir: dir,
        }
    }

    fn request(&self, script: &str) -> RunRequest {
        RunRequest {
            task: "t".into(),
            attempt: 1,
            argv: vec!["sh".into(), "-c".into(), script.into()],
            cwd: self.root.clone(),
            env: vec![("GREETING".into(), "hi".into())],
            timeout_ms: None,
            kill_grace_ms: 200,
            out_log: self.state.task_logs("t").join("1.out"),
            err_log: self.state.task_logs("t").join("1.err"),
            tail_bytes: 100,
            slots: None,
            after: None,
        }
    }

    /// Runs `req`; once it has printed to stdout, ends it for `stop` (if any). Fails after
    /// 10 s.
    fn run(&self, req: &RunRequest, mut stop: Option<StopCause>) -> AttemptFinished {
        let claim = FencedClaim::try_take(&self.state, &req.task)
            .unwrap()
            .expect("free");
        let fence = Fence {
            schema_version: 1,
            task: req.task.clone(),
            attempt: req.attempt,
            runner: "test".into(),
            pid: None,
            pgid: None,
            started_at: crate::model::now_rfc3339(),
            deadline: None,
        };
        claim.set_fence(&fence).unwrap();
        let mut poller = Poller::new().expect("epoll");
        let mut a = Attempt::spawn(1, req, claim, fence, (&poller, None));
        if let Some(pid) = a.pid() {
            let written = Fence::read(&self.state, &req.task).unwrap().expect("fence");
            assert_eq!((written.pid, written.pgid), (Some(pid), Some(pid)));
        }
        let give_up = Instant::now() + Duration::from_secs(10);
        let (mut kill_at, mut drain_at) = (None, None);
        let mut buf = vec![0; 4096];
        while a.finished().is_none() {
            let now = Instant::now();
            assert!(now < give_up, "the attempt did not end: {:?}", a.stage);
            if let Some(cause) = stop.filter(|_| req.out_log.exists()) {
                kill_at = a.stop(cause);
                stop = None;
            }
            if kill_at.is_some_and(|at| at <= now) {
                a.kill();
                kill_at = None;
            }
            if drain_at.is_some_and(|at| at <= now) {
                a.drain_expired(&poller);
            }
            let soon = stop.map(|_| now + Duration::from_millis(5));
            let next = [soon, kill_at, drain_at, Some(give_up)];
            for source in poller.wait(next.into_iter().flatten().min()).expect("wait") {
                match source {
                    Source::Attempt(_, Stream::Exit) => drain_at = a.on_exit(&poller).or(drain_at),
                    Source::Attempt(_, s) => a.on_output(s, &poller, &mut buf),
                    _ => {}
                }
            }
        }
        a.take_report().expect("ended")
    }
}

fn alive(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // A zombie (state Z) has exited; only its parent has not reaped it yet.
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|s| s.split_whitespace().next());
    matches!(state, Some(s) if s != "Z")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn output_goes_to_the_logs_and_the_exit_code_is_reported() {
    let d = Drive::new();
    let req = d.request("echo $GREETING; printf 'é%.0s' $(seq 80) >&2; exit 3");
    let f = d.run(&req, None);
    assert_eq!((f.exit_code, f.signal, f.timed_out), (Some(3), None, false));
    assert_eq!((f.out_bytes, f.err_bytes), (3, 160));
    assert_eq!(read(&req.out_log), "hi\n");
    assert_eq!(f.stderr_tail, "é".repeat(50));
    assert_eq!(f.log_error, None);
    assert!(f.pid.is_some() && f.not_started_reason.is_none());
}

#[test]
fn a_silent_attempt_makes_no_log_files() {
    let d = Drive::new();
    let f = d.run(&d.request("true"), None);
    assert_eq!(f.exit_code, Some(0));
    assert!(!d.state.task_logs("t").exists());
}

#[test]
fn a_stop_ignoring_sigterm_is_killed_after_the_grace() {
    let d = Drive::new();
    let req = d.request("trap '' TERM; echo ready; sleep 30");
    let began = Instant::now();
    let f = d.run(&req, Some(StopCause::Timeout));
    assert_eq!((f.signal, f.timed_out, f.canceled), (Some(9), true, false));
    assert!(
        began.elapsed() >= Duration::from_millis(200),
        "{:?}",
        began.elapsed()
    );
    let f = d.run(&d.request("echo ready; sleep 30"), Some(StopCause::Cancel));
    assert_eq!((f.signal, f.timed_out, f.canceled), (Some(15), false, true));
}

#[test]
fn what_the_command_leaves_in_its_group_is_killed_when_it_exits() {
    let d = Drive::new();
    // The background sleeper keeps stdout open: only the group kill ends the drain early.
    let req = d.request("sleep 30 & echo $! > sleeper.pid");
    let began = Instant::now();
    let f = d.run(&req, None);
    assert_eq!(f.exit_code, Some(0));
    assert!(
        began.elapsed() < super::DRAIN_LIMIT,
        "{:?}",
        began.elapsed()
    );
    let sleeper: i32 = read(&d.root.join("sleeper.pid")).trim().parse().unwrap();
    let gone = Instant::now() + Duration::from_secs(5);
    while alive(sleeper) {
        assert!(
            Instant::now() < gone,
            "the sleeper {sleeper} survived its attempt"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_command_that_cannot_start_ends_at_once_and_says_why_in_its_log() {
    let d = Drive::new();
    let mut req = d.request("true");
    req.argv = vec!["no-such-program-phase-test".into()];
    let f = d.run(&req, None);
    let reason = f.not_started_reason.clone().expect("not started");
    assert!(
        reason.starts_with("cannot start \"no-such-program-phase-test\""),
        "{reason}"
    );
    assert_eq!((f.pid, f.exit_code), (None, None));
    assert_eq!(read(&req.err_log), format!("phase: {reason}\n"));
    assert_eq!(f.stderr_tail, format!("phase: {reason}\n"));
    assert_eq!(
        f.err_bytes, 0,
        "the runner's note is not the command's output"
    );

    let mut req = d.request("true");
    req.task = "u".into();
    req.cwd = d.root.join("missing");
    let f = d.run(&req, None);
    let reason = f.not_started_reason.expect("not started");
    assert!(reason.starts_with("cannot start: the workdir "), "{reason}");
    assert!(reason.ends_with("missing is not a directory"), "{reason}");
}
