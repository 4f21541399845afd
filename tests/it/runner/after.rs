//! Runs that follow another attempt (`after`): held without their claim until it ends,
//! started the moment it succeeds, refused as `unmet` when it does not (and so is every
//! run held for them); a cancel withdraws a held run.

use phase_coordinator::runner::{
    AfterAttempt, EngineMessage, Refusal, RunRequest, RunnerClient, RunnerMessage,
};
use phase_coordinator::store::Fence;

use super::{Bench, STEP, ack, finished, gated, next, send, start};
use crate::support::procs;

/// `req` to start once attempt 1 of `task` succeeded.
fn after(mut req: RunRequest, task: &str) -> RunRequest {
    req.slots = Some(2);
    req.after = Some(AfterAttempt {
        task: task.into(),
        attempt: 1,
    });
    req
}

/// Expects `task` refused for `why`.
#[track_caller]
fn refused(client: &RunnerClient, task: &str, why: Refusal) -> String {
    match next(client, &format!("{task} refused")) {
        RunnerMessage::Fenced {
            task: t,
            why: w,
            message,
            ..
        } if t == task && w == why => message,
        other => panic!("expected {task} refused as {why:?}, got {other:?}"),
    }
}

/// Asserts `task` never ran and nothing of it was written.
#[track_caller]
fn never_ran(b: &Bench, task: &str) {
    assert!(!b.path(&format!("ran-{task}")).exists(), "{task} never ran");
    assert!(!b.held(task), "{task} has no claim");
    assert!(
        Fence::read(&b.state, task).unwrap().is_none(),
        "{task} has no fence"
    );
}

#[test]
fn a_run_after_another_starts_when_it_succeeds_and_is_refused_when_it_does_not() {
    if procs::role().is_some() {
        return;
    }
    let mut b = Bench::new();
    let mut runner = b.runner();
    let a = start(&mut runner, &b.request("a", 1, &gated("go-a")));
    let failing = "echo ready; while [ ! -e go-f ]; do sleep 0.01; done; exit 3";
    let f = start(&mut runner, &b.request("f", 1, failing));
    b.reap_group_later(a);
    b.reap_group_later(f);
    for (task, follows) in [("b", "a"), ("g", "f"), ("h", "g")] {
        let req = after(b.request(task, 1, &format!("touch ran-{task}")), follows);
        send(&mut runner, EngineMessage::Run(req));
    }
    // One nobody here runs: refused at once, and the runner answers in order, so b, g
    // and h were taken in before it.
    send(
        &mut runner,
        EngineMessage::Run(after(b.request("x", 1, "touch ran-x"), "elsewhere")),
    );
    let message = refused(&runner, "x", Refusal::Unmet);
    assert!(message.contains("not run by this runner"), "{message}");
    for task in ["b", "g", "h", "x"] {
        never_ran(&b, task);
    }
    // a succeeds: b starts after it ended, and runs.
    procs::touch(&b.path("go-a"));
    assert_eq!(finished(&runner, "a", 1).exit_code, Some(0), "a finished");
    match next(&runner, "b started") {
        RunnerMessage::Started { task, .. } => assert_eq!(task, "b"),
        other => panic!("expected b started, got {other:?}"),
    }
    assert_eq!(finished(&runner, "b", 1).exit_code, Some(0), "b finished");
    assert!(b.path("ran-b").exists(), "b ran");
    // f fails: g is refused, and h, held for g, with it.
    procs::touch(&b.path("go-f"));
    assert_eq!(finished(&runner, "f", 1).exit_code, Some(3), "f finished");
    let message = refused(&runner, "g", Refusal::Unmet);
    assert!(message.contains("f attempt 1 did not succeed"), "{message}");
    refused(&runner, "h", Refusal::Unmet);
    for task in ["a", "b", "f"] {
        ack(&mut runner, task, 1);
    }
    send(&mut runner, EngineMessage::Shutdown { grace_ms: 0 });
    assert!(runner.wait_exit(STEP).is_some_and(|s| s.success()));
    for task in ["g", "h"] {
        never_ran(&b, task);
    }
}

#[test]
fn a_cancel_withdraws_a_held_run_and_refuses_the_runs_held_for_it() {
    if procs::role().is_some() {
        return;
    }
    let mut b = Bench::new();
    let mut runner = b.runner();
    let a = start(&mut runner, &b.request("a", 1, "sleep 30"));
    b.reap_group_later(a);
    for (task, follows) in [("b", "a"), ("c", "b")] {
        let req = after(b.request(task, 1, &format!("touch ran-{task}")), follows);
        send(&mut runner, EngineMessage::Run(req));
    }
    let (task, attempt) = ("b".to_string(), 1);
    send(&mut runner, EngineMessage::Cancel { task, attempt });
    refused(&runner, "b", Refusal::Withdrawn);
    let message = refused(&runner, "c", Refusal::Unmet);
    assert!(message.contains("b attempt 1 did not succeed"), "{message}");
    // A held run is still there for a shutdown to refuse.
    let req = after(b.request("d", 1, "touch ran-d"), "a");
    send(&mut runner, EngineMessage::Run(req));
    send(&mut runner, EngineMessage::Shutdown { grace_ms: 0 });
    refused(&runner, "d", Refusal::ShuttingDown);
    assert!(finished(&runner, "a", 1).interrupted, "a interrupted");
    ack(&mut runner, "a", 1);
    assert!(runner.wait_exit(STEP).is_some_and(|s| s.success()));
    for task in ["b", "c", "d"] {
        never_ran(&b, task);
    }
}

#[test]
fn a_run_after_a_queued_one_waits_for_it_to_start_and_succeed() {
    if procs::role().is_some() {
        return;
    }
    let mut b = Bench::new();
    let mut runner = b.runner();
    let mut one_slot = b.request("a", 1, &gated("go-a"));
    one_slot.slots = Some(1);
    let a = start(&mut runner, &one_slot);
    b.reap_group_later(a);
    let mut q = b.request("q", 1, "touch ran-q");
    q.slots = Some(1);
    send(&mut runner, EngineMessage::Run(q));
    let mut follower = after(b.request("f", 1, "touch ran-f"), "q");
    follower.slots = Some(1);
    send(&mut runner, EngineMessage::Run(follower));
    // Asked again while it waits: refused as queued, so the runner holds it.
    send(
        &mut runner,
        EngineMessage::Run(after(b.request("f", 2, "true"), "q")),
    );
    let message = refused(&runner, "f", Refusal::Busy);
    assert!(message.contains("queued"), "{message}");
    never_ran(&b, "f");
    procs::touch(&b.path("go-a"));
    let mut order = Vec::new();
    while order.len() < 5 {
        match next(&runner, "a, q and f to run") {
            RunnerMessage::Started { task, .. } => order.push(format!("start {task}")),
            RunnerMessage::Finished(done) => {
                assert_eq!(done.exit_code, Some(0), "{done:?}");
                order.push(format!("end {}", done.task));
            }
            other => panic!("expected starts and ends, got {other:?}"),
        }
    }
    assert_eq!(order, ["end a", "start q", "end q", "start f", "end f"]);
    assert!(b.path("ran-f").exists(), "f ran");
    for task in ["a", "q", "f"] {
        ack(&mut runner, task, 1);
    }
    send(&mut runner, EngineMessage::Shutdown { grace_ms: 0 });
    assert!(runner.wait_exit(STEP).is_some_and(|s| s.success()));
}
