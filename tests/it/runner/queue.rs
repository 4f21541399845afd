//! The runner's queue: runs asked for beyond `slots` wait, in order, and start the moment
//! a slot frees; nothing of a queued run is written until it starts; a cancel or a
//! shutdown withdraws it without starting it.

use phase_coordinator::runner::{EngineMessage, Refusal, RunRequest, RunnerClient, RunnerMessage};
use phase_coordinator::store::Fence;

use super::{Bench, STEP, ack, gated, next, send, start};
use crate::support::procs;

/// `req` limited to `slots` running attempts.
fn slotted(mut req: RunRequest, slots: u32) -> RunRequest {
    req.slots = Some(slots);
    req
}

/// Asks for `task` again while it waits: the refusal proves the runner has read every
/// message before it (it answers in order), and says it is queued.
#[track_caller]
fn assert_queued(b: &Bench, client: &mut RunnerClient, task: &str) {
    send(
        client,
        EngineMessage::Run(slotted(b.request(task, 9, "true"), 2)),
    );
    match next(client, "fenced") {
        RunnerMessage::Fenced { why, message, .. } => {
            assert_eq!(why, Refusal::Busy);
            assert!(message.contains("queued"), "{message}");
        }
        other => panic!("expected {task} refused as queued, got {other:?}"),
    }
    assert!(!b.held(task), "{task} waits without its claim");
    assert!(
        Fence::read(&b.state, task).unwrap().is_none(),
        "{task} has no fence yet"
    );
}

/// Reads messages until `task` starts; returns the tasks that started before it.
#[track_caller]
fn started_next(client: &RunnerClient, task: &str) -> Vec<String> {
    let mut others = Vec::new();
    loop {
        match next(client, &format!("{task} started")) {
            RunnerMessage::Started { task: t, .. } if t == task => return others,
            RunnerMessage::Started { task: t, .. } => others.push(t),
            RunnerMessage::Finished(_) => {}
            other => panic!("expected {task} to start, got {other:?}"),
        }
    }
}

#[test]
fn runs_beyond_the_slots_wait_in_order_and_start_as_slots_free() {
    if procs::role().is_some() {
        return;
    }
    let mut b = Bench::new();
    let mut runner = b.runner();
    let a = start(&mut runner, &slotted(b.request("a", 1, &gated("go-a")), 2));
    let bb = start(&mut runner, &slotted(b.request("b", 1, &gated("go-b")), 2));
    b.reap_group_later(a);
    b.reap_group_later(bb);
    for task in ["c", "d"] {
        send(
            &mut runner,
            EngineMessage::Run(slotted(b.request(task, 1, "true"), 2)),
        );
    }
    assert_queued(&b, &mut runner, "c");
    assert_queued(&b, &mut runner, "d");
    // One slot frees: the first in the queue starts, then the next behind it.
    procs::touch(&b.path("go-a"));
    assert!(started_next(&runner, "c").is_empty(), "c starts first");
    assert!(started_next(&runner, "d").is_empty(), "then d");
    let fence = Fence::read(&b.state, "d")
        .unwrap()
        .expect("d's fence once it started");
    assert_eq!(fence.attempt, 1);
    procs::touch(&b.path("go-b"));
    while !matches!(next(&runner, "b finished"), RunnerMessage::Finished(f) if f.task == "b") {}
    for task in ["a", "b", "c", "d"] {
        ack(&mut runner, task, 1);
    }
    send(&mut runner, EngineMessage::Shutdown { grace_ms: 0 });
    assert!(runner.wait_exit(STEP).is_some_and(|s| s.success()));
}

#[test]
fn a_cancel_or_a_shutdown_withdraws_a_queued_run_without_starting_it() {
    if procs::role().is_some() {
        return;
    }
    let mut b = Bench::new();
    let mut runner = b.runner();
    let a = start(&mut runner, &slotted(b.request("a", 1, "sleep 30"), 1));
    b.reap_group_later(a);
    send(
        &mut runner,
        EngineMessage::Run(slotted(b.request("q", 1, "touch ran-q"), 1)),
    );
    send(
        &mut runner,
        EngineMessage::Run(slotted(b.request("r", 1, "touch ran-r"), 1)),
    );
    let (task, attempt) = ("q".to_string(), 1);
    send(&mut runner, EngineMessage::Cancel { task, attempt });
    match next(&runner, "q withdrawn") {
        RunnerMessage::Fenced { task, why, .. } => {
            assert_eq!((task.as_str(), why), ("q", Refusal::Withdrawn));
        }
        other => panic!("expected q withdrawn, got {other:?}"),
    }
    send(&mut runner, EngineMessage::Shutdown { grace_ms: 0 });
    match next(&runner, "r refused") {
        RunnerMessage::Fenced { task, why, .. } => {
            assert_eq!((task.as_str(), why), ("r", Refusal::ShuttingDown));
        }
        other => panic!("expected r refused, got {other:?}"),
    }
    match next(&runner, "a interrupted") {
        RunnerMessage::Finished(f) => assert_eq!((f.task.as_str(), f.interrupted), ("a", true)),
        other => panic!("expected a finished, got {other:?}"),
    }
    ack(&mut runner, "a", 1);
    assert!(runner.wait_exit(STEP).is_some_and(|s| s.success()));
    for task in ["q", "r"] {
        assert!(!b.path(&format!("ran-{task}")).exists(), "{task} never ran");
        assert!(
            Fence::read(&b.state, task).unwrap().is_none(),
            "{task} has no fence"
        );
    }
}
