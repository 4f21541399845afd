//! The runner with its engine attached: run → started → finished → ack, the fence, cancel,
//! shutdown, SIGTERM, commands that cannot start, and a burst of short attempts.

use std::time::{Duration, Instant};

use phase_coordinator::runner::{EngineMessage, Refusal, RunnerClient, RunnerMessage};
use phase_coordinator::store::Fence;

use super::{Bench, STEP, ack, finished, gated, group_alive, next, send, start};
use crate::support::{procs, wait_until};

#[test]
fn run_started_finished_then_ack_releases_the_claim() {
    if procs::role().is_some() {
        return;
    }
    let mut b = Bench::new();
    let mut runner = b.runner();
    let req = b.request("t", 1, "echo out; echo err >&2; exit 3");
    let pid = start(&mut runner, &req);
    let f = finished(&runner, "t", 1);
    assert_eq!((f.exit_code, f.signal, f.timed_out), (Some(3), None, false));
    assert_eq!((f.out_bytes, f.err_bytes, f.pid), (4, 4, Some(pid)));
    assert_eq!(f.stderr_tail, "err\n");
    assert_eq!(std::fs::read_to_string(&req.out_log).unwrap(), "out\n");
    // Held until the engine says the outcome is recorded.
    assert!(b.held("t"));
    let fence = Fence::read(&b.state, "t").unwrap().expect("fence");
    assert_eq!(
        (fence.attempt, fence.pid, fence.pgid),
        (1, Some(pid), Some(pid))
    );
    assert_eq!(fence.runner, runner.runner_id());
    ack(&mut runner, "t", 1);
    wait_until("the claim to be released after the ack", STEP, || {
        !b.held("t")
    });

    // A silent attempt makes no log files; no attempt of the happy path writes a record.
    start(&mut runner, &b.request("quiet", 1, "true"));
    assert_eq!(finished(&runner, "quiet", 1).exit_code, Some(0));
    ack(&mut runner, "quiet", 1);
    assert!(!b.state.task_logs("quiet").exists());
    send(&mut runner, EngineMessage::Shutdown { grace_ms: 0 });
    assert!(runner.wait_exit(STEP).is_some_and(|s| s.success()));
    assert!(!b.state.root().join("attempts").exists());
}

#[test]
fn the_fence_refuses_a_started_attempt_also_from_a_second_runner() {
    if procs::role().is_some() {
        return;
    }
    let mut b = Bench::new();
    let (mut one, mut two) = (b.runner(), b.runner());
    let pid = start(&mut one, &b.request("t", 1, &gated("go")));
    b.reap_group_later(pid);
    assert_eq!(refusal(&b, &mut two, "t", 1), (Refusal::Busy, Some(1)));
    assert_eq!(refusal(&b, &mut one, "t", 1), (Refusal::Busy, Some(1)));
    procs::touch(&b.path("go"));
    assert_eq!(finished(&one, "t", 1).exit_code, Some(0));
    // Finished but not acked: still held.
    assert_eq!(refusal(&b, &mut two, "t", 2), (Refusal::Busy, Some(1)));
    ack(&mut one, "t", 1);
    wait_until("the claim to be free", STEP, || !b.held("t"));
    assert_eq!(refusal(&b, &mut two, "t", 1), (Refusal::Started, Some(1)));
    assert_eq!(refusal(&b, &mut one, "t", 1), (Refusal::Started, Some(1)));
    start(&mut two, &b.request("t", 2, "true"));
    assert_eq!(finished(&two, "t", 2).exit_code, Some(0));
    ack(&mut two, "t", 2);
    wait_until("the claim to be free", STEP, || !b.held("t"));
    assert_eq!(refusal(&b, &mut one, "t", 2), (Refusal::Started, Some(2)));
    assert_eq!(
        Fence::read(&b.state, "t").unwrap().map(|f| f.attempt),
        Some(2)
    );
}

/// Asks `client` to run `task`'s `attempt` and expects a refusal: why, and the attempt the
/// fence names.
fn refusal(
    b: &Bench,
    client: &mut RunnerClient,
    task: &str,
    attempt: u32,
) -> (Refusal, Option<u32>) {
    send(client, EngineMessage::Run(b.request(task, attempt, "true")));
    match next(client, "fenced") {
        RunnerMessage::Fenced { why, recorded, .. } => (why, recorded),
        other => panic!("expected fenced, got {other:?}"),
    }
}

#[test]
fn cancel_ends_the_whole_group_and_reports_the_signal() {
    if procs::role().is_some() {
        return;
    }
    let mut b = Bench::new();
    let mut runner = b.runner();
    let pid = start(
        &mut runner,
        &b.request("t", 1, "sleep 30 & echo ready; wait"),
    );
    b.reap_group_later(pid);
    wait_until("the attempt's output", STEP, || {
        b.state.task_logs("t").join("1.out").exists()
    });
    let (task, attempt) = ("t".to_string(), 1);
    send(&mut runner, EngineMessage::Cancel { task, attempt });
    let f = finished(&runner, "t", 1);
    assert_eq!((f.signal, f.canceled, f.timed_out), (Some(15), true, false));
    assert!(
        !group_alive(pid),
        "the background sleeper outlived the cancel"
    );
    ack(&mut runner, "t", 1);
    wait_until("the claim to be free", STEP, || !b.held("t"));
}

#[test]
fn a_shutdown_stops_what_runs_as_interrupted_and_refuses_new_runs() {
    if procs::role().is_some() {
        return;
    }
    let mut b = Bench::new();
    let mut runner = b.runner();
    let pid = start(&mut runner, &b.request("t", 1, "sleep 30"));
    b.reap_group_later(pid);
    let asked = Instant::now();
    send(&mut runner, EngineMessage::Shutdown { grace_ms: 300 });
    send(&mut runner, EngineMessage::Run(b.request("u", 1, "true")));
    match next(&runner, "fenced") {
        RunnerMessage::Fenced { why, .. } => assert_eq!(why, Refusal::ShuttingDown),
        other => panic!("expected fenced, got {other:?}"),
    }
    let f = finished(&runner, "t", 1);
    assert!(
        asked.elapsed() >= Duration::from_millis(300),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(
        (f.signal, f.interrupted, f.canceled),
        (Some(15), true, false)
    );
    assert!(!b.held("u"), "a refused run takes no claim");
    ack(&mut runner, "t", 1);
    assert!(runner.wait_exit(STEP).is_some_and(|s| s.success()));
    assert!(!b.held("t"));
}

#[test]
fn sigterm_to_the_runner_stops_its_attempts_as_interrupted() {
    if procs::role().is_some() {
        return;
    }
    let mut b = Bench::new();
    let mut runner = b.runner();
    let pid = start(&mut runner, &b.request("t", 1, "sleep 30"));
    b.reap_group_later(pid);
    let runner_pid = rustix::process::Pid::from_raw(runner.pid() as i32).expect("pid");
    rustix::process::kill_process(runner_pid, rustix::process::Signal::TERM).expect("kill");
    let f = finished(&runner, "t", 1);
    assert_eq!((f.signal, f.interrupted), (Some(15), true));
    ack(&mut runner, "t", 1);
    assert!(runner.wait_exit(STEP).is_some_and(|s| s.success()));
}

#[test]
fn a_command_that_cannot_start_finishes_without_starting() {
    if procs::role().is_some() {
        return;
    }
    let mut b = Bench::new();
    let mut runner = b.runner();
    let mut req = b.request("t", 1, "true");
    req.argv = vec!["no-such-program-phase-test".into()];
    send(&mut runner, EngineMessage::Run(req.clone()));
    let f = finished(&runner, "t", 1);
    let reason = f.not_started_reason.expect("not started");
    assert!(
        reason.starts_with("cannot start \"no-such-program-phase-test\""),
        "{reason}"
    );
    let log = std::fs::read_to_string(&req.err_log).unwrap();
    assert_eq!(log, format!("phase: {reason}\n"));
    // The attempt number is used: the fence names it, so it is never tried again.
    assert_eq!(
        Fence::read(&b.state, "t").unwrap().map(|f| f.attempt),
        Some(1)
    );
    ack(&mut runner, "t", 1);
    wait_until("the claim to be free", STEP, || !b.held("t"));
}

#[test]
fn a_burst_of_short_attempts_runs_without_a_thread_each() {
    if procs::role().is_some() {
        return;
    }
    const N: u32 = 300;
    let mut b = Bench::new();
    let mut runner = b.runner();
    let began = Instant::now();
    for i in 0..N {
        send(
            &mut runner,
            EngineMessage::Run(b.request(&format!("t{i}"), 1, "exit 0")),
        );
    }
    let (mut started, mut done) = (0, 0);
    while done < N {
        match next(&runner, "started or finished") {
            RunnerMessage::Started { .. } => started += 1,
            RunnerMessage::Finished(f) => {
                assert_eq!(f.exit_code, Some(0), "{f:?}");
                ack(&mut runner, &f.task, f.attempt);
                done += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(started, N);
    eprintln!("{N} attempts through the runner in {:?}", began.elapsed());
    let threads = std::fs::read_dir(format!("/proc/{}/task", runner.pid()))
        .unwrap()
        .count();
    assert_eq!(
        threads, 2,
        "the runner runs on its loop's thread and the spawning thread, whatever the number of attempts"
    );
    send(&mut runner, EngineMessage::Shutdown { grace_ms: 0 });
    assert!(runner.wait_exit(STEP).is_some_and(|s| s.success()));
    assert!((0..N).all(|i| !b.held(&format!("t{i}"))));
}
