//! The executor's side of the retry loop: recovery's verdicts (retry after a back-off, or
//! quarantine), `dep_failed` (dead dependency, cycle, unknown dependency), and
//! `phase retry` reviving a quarantined task and its dependents.

use std::time::Duration;

use phase_coordinator::model::{RequestAction, Status};

use crate::support::executor::{Harness, fast_config, task, with_deps};
use crate::support::tool;

fn ms(ts: &str) -> i64 {
    ts.parse::<jiff::Timestamp>()
        .expect("timestamp")
        .as_millisecond()
}

#[test]
fn a_recommended_retry_runs_the_next_attempt_after_the_back_off() {
    let mut h = Harness::started(fast_config(2));
    let counter = h.path("flaky.count");
    h.decide(vec![task(
        "flaky",
        &[&tool("executor/flaky.sh"), &counter, "1"],
    )]);
    h.settle(Duration::from_secs(10));
    let r = h.result("flaky").expect("result");
    assert_eq!((r.status, r.attempt), (Status::Failed, 1));
    assert!(r.attempts[0].stderr_tail.contains("run 1 fails"), "{r:?}");
    assert!(r.retry_at.is_none(), "no verdict yet");

    h.verdict("flaky", 1, true);
    h.until(Duration::from_secs(10), "attempt 2 succeeded", |h| {
        h.result("flaky")
            .is_some_and(|r| r.attempt == 2 && r.status == Status::Succeeded)
    });
    let r = h.result("flaky").expect("result");
    let first = &r.attempts[0];
    let retry_at = r.attempts[1].started_at.clone();
    let scheduled = &h.events_of("TASK_RETRY_SCHEDULED", Some("flaky"))[0];
    let planned = scheduled["data"]["retry_at"]
        .as_str()
        .expect("retry_at")
        .to_string();
    assert_eq!(
        scheduled["data"]["delay_ms"], 30,
        "first retry: initial back-off"
    );
    assert_eq!(
        ms(&planned) - ms(first.finished_at.as_deref().expect("finished")),
        30,
        "retry_at = finished_at + back-off"
    );
    assert!(
        ms(&retry_at) >= ms(&planned),
        "attempt 2 waited for retry_at"
    );
    assert_eq!(scheduled["attempt"], 1);
    assert!(r.retry_at.is_none(), "cleared once the attempt started");
}

#[test]
fn a_verdict_against_retry_quarantines_and_dependents_become_dep_failed() {
    let mut h = Harness::started(fast_config(2));
    h.decide(vec![
        task("bad", &["false"]),
        with_deps(task("child", &["true"]), &["bad"]),
        with_deps(task("grandchild", &["true"]), &["child"]),
        task("other", &["true"]),
    ]);
    h.settle(Duration::from_secs(10));
    assert_eq!(h.result("bad").map(|r| r.status), Some(Status::Failed));
    assert!(
        h.result("child").is_none(),
        "blocked while bad may still be retried"
    );

    h.verdict("bad", 1, false);
    h.until(Duration::from_secs(10), "grandchild dep_failed", |h| {
        h.result("grandchild")
            .is_some_and(|r| r.status == Status::DepFailed)
    });
    assert_eq!(h.result("bad").map(|r| r.status), Some(Status::Quarantined));
    let child = h.result("child").expect("child");
    assert_eq!((child.status, child.attempt), (Status::DepFailed, 0));
    assert_eq!(
        child.reason.as_deref(),
        Some("dependency \"bad\" is quarantined")
    );
    let grandchild = h.result("grandchild").expect("grandchild");
    assert_eq!(
        grandchild.reason.as_deref(),
        Some("dependency \"child\" is dep_failed")
    );
    assert_eq!(h.events_of("TASK_DEP_FAILED", None).len(), 2);
    assert_eq!(h.result("other").map(|r| r.status), Some(Status::Succeeded));
}

#[test]
fn a_retry_request_revives_a_quarantined_task_and_its_dependents() {
    let mut h = Harness::started(fast_config(2));
    let counter = h.path("flaky.count");
    h.decide(vec![
        task("root", &[&tool("executor/flaky.sh"), &counter, "1"]),
        with_deps(task("leaf", &["true"]), &["root"]),
    ]);
    h.settle(Duration::from_secs(10));
    h.verdict("root", 1, false);
    h.until(Duration::from_secs(10), "leaf dep_failed", |h| {
        h.result("leaf")
            .is_some_and(|r| r.status == Status::DepFailed)
    });

    let request = h.request(RequestAction::Retry, "root");
    h.until(Duration::from_secs(10), "leaf succeeded", |h| {
        h.result("leaf")
            .is_some_and(|r| r.status == Status::Succeeded)
    });
    let root = h.result("root").expect("root");
    assert_eq!((root.status, root.attempt), (Status::Succeeded, 2));
    assert_eq!(root.budget_from_attempt, 2);
    assert_eq!(root.handled_requests, vec![request]);
    let leaf = h.result("leaf").expect("leaf");
    assert_eq!(
        (leaf.attempt, leaf.attempts.len()),
        (1, 1),
        "a fresh first attempt"
    );
}

#[test]
fn a_dependency_cycle_is_reported_with_its_path() {
    let mut h = Harness::started(fast_config(2));
    h.decide(vec![
        with_deps(task("x", &["true"]), &["z"]),
        with_deps(task("y", &["true"]), &["x"]),
        with_deps(task("z", &["true"]), &["y"]),
        with_deps(task("w", &["true"]), &["y"]),
        task("free", &["true"]),
    ]);
    h.settle(Duration::from_secs(10));
    for id in ["x", "y", "z"] {
        let r = h.result(id).expect("result");
        assert_eq!(r.status, Status::DepFailed, "{id}");
        assert_eq!(
            r.reason.as_deref(),
            Some("dependency cycle: x -> z -> y -> x"),
            "{id}"
        );
    }
    let w = h.result("w").expect("w");
    assert_eq!(
        w.reason.as_deref(),
        Some("dependency \"y\" is in a cycle: x -> z -> y -> x")
    );
    assert_eq!(h.result("free").map(|r| r.status), Some(Status::Succeeded));

    // A person breaks the cycle: the marks are lifted and everything runs.
    let mut decisions = h.decisions();
    decisions[0].task.depends_on.clear();
    h.decide(decisions);
    h.until(Duration::from_secs(10), "w succeeded", |h| {
        h.result("w").is_some_and(|r| r.status == Status::Succeeded)
    });
}

#[test]
fn an_unknown_dependency_fails_only_once_the_inbox_is_empty() {
    let mut h = Harness::started(fast_config(2));
    let pending = h.state.inbox().join("ghost.json");
    std::fs::write(&pending, "{\"kind\": \"shell\"}").expect("inbox file");
    h.decide(vec![with_deps(task("waits", &["true"]), &["ghost"])]);
    h.settle(Duration::from_secs(10));
    assert!(
        h.result("waits").is_none(),
        "blocked while the inbox may still route ghost"
    );

    // The router rejects the file instead of routing it.
    std::fs::rename(&pending, h.state.rejected().join("ghost.json")).expect("reject");
    h.until(Duration::from_secs(10), "waits dep_failed", |h| {
        h.result("waits")
            .is_some_and(|r| r.status == Status::DepFailed)
    });
    let reason = h.result("waits").and_then(|r| r.reason).unwrap_or_default();
    assert!(
        reason.starts_with("dependency \"ghost\" is unknown"),
        "{reason}"
    );

    // It shows up after all: the mark is lifted and the task runs.
    h.decide(vec![
        with_deps(task("waits", &["true"]), &["ghost"]),
        task("ghost", &["true"]),
    ]);
    h.until(Duration::from_secs(10), "waits succeeded", |h| {
        h.result("waits")
            .is_some_and(|r| r.status == Status::Succeeded)
    });
}

#[test]
fn a_canceled_dependency_fails_its_dependents() {
    let mut h = Harness::started(fast_config(2));
    h.decide(vec![
        task("gate", &["sleep", "5"]),
        with_deps(task("after", &["true"]), &["gate"]),
    ]);
    h.until(Duration::from_secs(10), "gate running", |h| {
        h.result("gate")
            .is_some_and(|r| r.status == Status::Running)
    });
    h.request(RequestAction::Cancel, "gate");
    h.settle(Duration::from_secs(10));
    assert_eq!(h.result("gate").map(|r| r.status), Some(Status::Canceled));
    let after = h.result("after").expect("after");
    assert_eq!(after.status, Status::DepFailed);
    assert_eq!(
        after.reason.as_deref(),
        Some("dependency \"gate\" is canceled")
    );
}
