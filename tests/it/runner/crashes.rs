//! What is left when a side dies: the engine gone (its pipe closed, or its process
//! SIGKILLed) leaves the attempt running to an outcome record written before the claim is
//! released; a SIGKILLed runner leaves a free claim, a fence, and no record.

use std::time::Duration;

use phase_coordinator::runner::RunnerEvent;
use phase_coordinator::store::Fence;

use super::{Bench, STEP, exited, finished, gated, group_alive, start};
use crate::support::{procs, wait_until};
use crate::test_path;

const ENGINE: &str = "runner-engine";

/// Child: an engine that starts attempt 1 of `t` (waiting for `go`), says the runner's
/// and the command's pids in `engine-ready`, and waits to be killed.
#[test]
fn engine_child() {
    if !procs::is_role(ENGINE) {
        return;
    }
    let dir = procs::child_dir();
    let mut b = Bench::at(&dir);
    let mut runner = b.runner();
    let pid = start(&mut runner, &b.request("t", 1, &gated("go")));
    let staging = dir.join(".engine-ready");
    std::fs::write(&staging, format!("{} {pid}", runner.pid())).expect("write pids");
    std::fs::rename(&staging, dir.join("engine-ready")).expect("publish pids");
    // Killed while waiting; if not, the bench's drop ends the runner.
    procs::wait_for_file(&dir.join("never"), Duration::from_secs(120));
}

#[test]
fn a_sigkilled_engine_leaves_the_attempt_running_to_its_outcome_record() {
    if procs::role().is_some() {
        return;
    }
    let mut b = Bench::new();
    let mut engine = procs::Worker::spawn(test_path!(engine_child), ENGINE, &b.root, &[]);
    engine.wait_for_marker(&b.path("engine-ready"), "the engine to start an attempt");
    let pids = std::fs::read_to_string(b.path("engine-ready")).unwrap();
    let (runner, pid) = pids.split_once(' ').expect("two pids");
    let (runner, pid): (u32, u32) = (runner.parse().unwrap(), pid.parse().unwrap());
    b.reap_group_later(runner);
    b.reap_group_later(pid);
    engine.kill9();
    // The attempt outlives its engine, its claim held, until it ends by itself.
    assert!(b.held("t") && group_alive(pid) && !exited(runner));
    assert_eq!(b.outcome("t", 1), None);
    procs::touch(&b.path("go"));
    let record = wait_until("the outcome record", STEP, || b.outcome("t", 1));
    assert_eq!(
        (record.exit_code, record.signal, record.timed_out),
        (Some(0), None, false)
    );
    assert_eq!((record.pid, record.out_bytes), (Some(pid), 11));
    assert!(
        record.runner.starts_with(&format!("runner-{runner}@")),
        "{}",
        record.runner
    );
    wait_until("the claim to be released", STEP, || !b.held("t"));
    wait_until("the runner to exit", STEP, || exited(runner));
}

#[test]
fn an_engine_closing_its_pipe_gets_records_for_running_and_unacked_attempts() {
    if procs::role().is_some() {
        return;
    }
    let mut b = Bench::new();
    let mut runner = b.runner();
    start(&mut runner, &b.request("done", 1, "echo finished-before"));
    let f = finished(&runner, "done", 1);
    let pid = start(&mut runner, &b.request("t", 3, &gated("go")));
    b.reap_group_later(pid);
    runner.detach();
    // The finished attempt the engine never acked is recorded at once.
    let record = wait_until("the unacked attempt's record", STEP, || {
        b.outcome("done", 1)
    });
    assert_eq!(record.started_at, f.started_at);
    assert_eq!((record.exit_code, record.out_bytes), (Some(0), 16));
    wait_until("its claim to be free", STEP, || !b.held("done"));
    assert!(b.held("t"), "the running attempt keeps its claim");
    procs::touch(&b.path("go"));
    let record = wait_until("the running attempt's record", STEP, || b.outcome("t", 3));
    assert_eq!(record.exit_code, Some(0));
    assert!(runner.wait_exit(STEP).is_some_and(|s| s.success()));
    assert!(!b.held("t"));
}

#[test]
fn the_timeout_is_enforced_with_no_engine() {
    if procs::role().is_some() {
        return;
    }
    let mut b = Bench::new();
    let mut runner = b.runner();
    let mut req = b.request("t", 1, "trap '' TERM; echo ready; sleep 30");
    req.timeout_ms = Some(300);
    let pid = start(&mut runner, &req);
    b.reap_group_later(pid);
    let fence = Fence::read(&b.state, "t").unwrap().expect("fence");
    assert!(
        fence
            .deadline
            .as_ref()
            .is_some_and(|d| *d > fence.started_at),
        "{fence:?}"
    );
    runner.detach();
    let record = wait_until("the timed-out attempt's record", STEP, || b.outcome("t", 1));
    // SIGTERM is ignored: SIGKILL after the grace.
    assert_eq!((record.timed_out, record.signal), (true, Some(9)));
    assert!(record.duration_ms >= 500, "{record:?}");
    assert!(!group_alive(pid));
    assert!(runner.wait_exit(STEP).is_some());
    assert!(!b.held("t"));
}

#[test]
fn a_sigkilled_runner_frees_the_claim_and_writes_no_outcome() {
    if procs::role().is_some() {
        return;
    }
    let mut b = Bench::new();
    let mut runner = b.runner();
    let pid = start(&mut runner, &b.request("t", 1, "sleep 30"));
    b.reap_group_later(pid);
    let runner_pid = rustix::process::Pid::from_raw(runner.pid() as i32).expect("pid");
    rustix::process::kill_process(runner_pid, rustix::process::Signal::KILL).expect("kill");
    assert_eq!(
        runner.events().recv_timeout(STEP).expect("an event"),
        RunnerEvent::Gone
    );
    wait_until("the claim to be free", STEP, || !b.held("t"));
    assert_eq!(b.outcome("t", 1), None);
    // What the engine finds: a fence naming the attempt and its group, which it must end
    // (it was orphaned with the runner) before recording the attempt as interrupted.
    let fence = Fence::read(&b.state, "t").unwrap().expect("fence");
    assert_eq!((fence.attempt, fence.pgid), (1, Some(pid)));
    assert!(group_alive(pid));
    let pgid = rustix::process::Pid::from_raw(pid as i32).expect("pgid");
    rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL).expect("kill");
    wait_until("the orphaned group to end", STEP, || !group_alive(pid));
}

#[test]
fn an_outcome_record_that_cannot_be_written_keeps_the_claim_until_it_can() {
    if procs::role().is_some() {
        return;
    }
    let mut b = Bench::new();
    let mut runner = b.runner();
    // A file where the directory should be: every write of a record fails.
    let blocker = b.state.root().join("attempts");
    std::fs::create_dir_all(b.state.root()).unwrap();
    std::fs::write(&blocker, "").unwrap();
    start(&mut runner, &b.request("t", 1, "true"));
    finished(&runner, "t", 1);
    runner.detach();
    assert!(
        runner.wait_exit(Duration::from_millis(300)).is_none(),
        "it must not give up"
    );
    assert!(b.held("t"), "no record yet: the claim stays held");
    std::fs::remove_file(&blocker).unwrap();
    let record = wait_until("the record, once it can be written", STEP, || {
        b.outcome("t", 1)
    });
    assert_eq!(record.exit_code, Some(0));
    assert!(runner.wait_exit(STEP).is_some_and(|s| s.success()));
    assert!(!b.held("t"));
}
