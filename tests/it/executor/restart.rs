//! A restarted executor picks up where the files say: finished tasks stay finished, a
//! scheduled retry keeps its `retry_at`, queued work runs.

use std::time::Duration;

use phase_coordinator::model::Status;

use crate::support::executor::{Harness, fast_config, stamps, task, with_deps};
use crate::support::tool;

#[test]
fn a_restart_keeps_finished_work_and_the_retry_schedule() {
    let mut config = fast_config(1);
    config.execution.backoff.initial_ms = 400;
    config.execution.backoff.max_ms = 400;
    let mut h = Harness::started(config);
    let log = h.path("stamps.log");
    let stamp = tool("executor/stamp.sh");
    let counter = h.path("flaky.count");
    h.decide(vec![
        task("done", &[&stamp, &log, "done"]),
        task("flaky", &[&tool("executor/flaky.sh"), &counter, "1"]),
        with_deps(task("after", &[&stamp, &log, "after"]), &["flaky"]),
    ]);
    h.settle(Duration::from_secs(10));
    h.verdict("flaky", 1, true);
    h.until(Duration::from_secs(10), "retry_at written", |h| {
        h.result("flaky").is_some_and(|r| r.retry_at.is_some())
    });
    let retry_at = h
        .result("flaky")
        .and_then(|r| r.retry_at)
        .expect("retry_at");
    h.shutdown(Duration::from_secs(1));
    h.execs.clear();

    h.start_executor();
    h.until(Duration::from_secs(10), "after succeeded", |h| {
        h.result("after")
            .is_some_and(|r| r.status == Status::Succeeded)
    });
    let flaky = h.result("flaky").expect("flaky");
    assert_eq!((flaky.status, flaky.attempt), (Status::Succeeded, 2));
    assert!(
        flaky.attempts[1].started_at >= retry_at,
        "attempt 2 at {} honoured retry_at {retry_at} across the restart",
        flaky.attempts[1].started_at
    );
    assert_eq!(h.events_of("TASK_RETRY_SCHEDULED", Some("flaky")).len(), 1);
    assert_eq!(
        stamps(&log)["done"].len(),
        1,
        "a finished task is not run again"
    );
}
