//! Executor and real processes: timeouts kill the whole group, a missing binary or an
//! unknown tool is a failed attempt (never a crash), cancel kills a running group,
//! shutdown interrupts, logs and stderr tails are recorded.

use std::time::Duration;

use phase_coordinator::model::{RequestAction, Status};

use crate::support::executor::{Harness, fast_config, task, with_tool};
use crate::support::procs::alive;
use crate::support::{tool, wait_until};

#[test]
fn a_timed_out_task_leaves_no_process_behind() {
    let mut h = Harness::started(fast_config(2));
    let pidfile = h.path("grandchild.pid");
    let mut d = task("hang", &[&tool("executor/stubborn.sh"), &pidfile]);
    d.task.timeout_seconds = Some(1);
    h.decide(vec![d]);
    let grandchild = h.wait_pid(&pidfile);
    assert!(alive(grandchild), "the grandchild runs while the task does");
    h.settle(Duration::from_secs(10));

    let r = h.result("hang").expect("result");
    assert_eq!(r.status, Status::TimedOut);
    assert_eq!(r.reason.as_deref(), Some("timed out after 1s"));
    let a = &r.attempts[0];
    assert_eq!(
        a.signal,
        Some(9),
        "TERM is ignored, so KILL ended it: {a:?}"
    );
    assert!(a.stderr_tail.contains("waiting forever"), "{a:?}");
    wait_until("the grandchild is gone", Duration::from_secs(5), || {
        !alive(grandchild)
    });
    let failed = h.events_of("TASK_FAILED", Some("hang"));
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["data"]["timed_out"], true);
}

#[test]
fn a_missing_binary_is_a_failed_attempt_and_the_engine_carries_on() {
    let mut h = Harness::started(fast_config(2));
    h.decide(vec![
        task("missing", &["/nonexistent/no-such-tool", "x"]),
        task("fine", &["true"]),
    ]);
    h.settle(Duration::from_secs(10));

    let r = h.result("missing").expect("result");
    assert_eq!(r.status, Status::Failed);
    let reason = r.reason.clone().unwrap_or_default();
    assert!(reason.starts_with("cannot start"), "{reason}");
    assert!(reason.contains("no-such-tool"), "{reason}");
    assert!(r.attempts[0].stderr_tail.contains("cannot start"), "{r:?}");
    let err_log = h.state.root().join(&r.attempts[0].log_err);
    assert!(
        std::fs::read_to_string(err_log)
            .expect("log")
            .contains("cannot start")
    );
    assert_eq!(h.result("fine").map(|r| r.status), Some(Status::Succeeded));
}

#[test]
fn an_unknown_tool_or_workdir_is_a_failed_attempt_with_a_clear_reason() {
    let mut h = Harness::started(fast_config(2));
    let mut elsewhere = task("elsewhere", &["true"]);
    elsewhere.task.workdir = Some("no/such/dir".to_string());
    h.decide(vec![
        with_tool(task("ghost", &["true"]), "nonesuch"),
        elsewhere,
    ]);
    h.settle(Duration::from_secs(10));

    let r = h.result("ghost").expect("result");
    assert_eq!(r.status, Status::Failed);
    let reason = r.reason.unwrap_or_default();
    assert!(
        reason.contains("\"nonesuch\" is not configured"),
        "{reason}"
    );
    let r = h.result("elsewhere").expect("result");
    let reason = r.reason.unwrap_or_default();
    assert!(reason.starts_with("cannot start: the workdir"), "{reason}");
}

#[test]
fn output_goes_to_per_attempt_logs_in_the_task_workdir() {
    let mut h = Harness::started(fast_config(2));
    std::fs::create_dir_all(h.root().join("sub")).expect("mkdir");
    let mut d = task(
        "logged",
        &[
            "bash",
            "-c",
            "pwd; echo \"$GREETING\"; echo oops >&2; exit 4",
        ],
    );
    d.task.workdir = Some("sub".to_string());
    d.task
        .env
        .insert("GREETING".to_string(), "hello".to_string());
    h.decide(vec![d]);
    h.settle(Duration::from_secs(10));

    let r = h.result("logged").expect("result");
    assert_eq!((r.status, r.exit_code), (Status::Failed, Some(4)));
    assert_eq!(r.reason.as_deref(), Some("exit code 4"));
    let a = &r.attempts[0];
    assert_eq!(a.log_out, "logs/logged/1.out");
    assert_eq!(a.stderr_tail, "oops\n");
    let out = std::fs::read_to_string(h.state.root().join(&a.log_out)).expect("out");
    let sub = std::fs::canonicalize(h.root().join("sub")).expect("canonical");
    assert_eq!(out, format!("{}\nhello\n", sub.display()));
    let failed = &h.events_of("TASK_FAILED", Some("logged"))[0];
    assert_eq!(failed["data"]["exit_code"], 4);
    assert_eq!(failed["data"]["stderr_tail"], "oops\n");
}

#[test]
fn cancel_kills_a_running_group_and_ends_canceled() {
    let mut h = Harness::started(fast_config(2));
    let pidfile = h.path("grandchild.pid");
    h.decide(vec![
        task("victim", &[&tool("executor/stubborn.sh"), &pidfile]),
        task("later", &["true"]),
    ]);
    let grandchild = h.wait_pid(&pidfile);
    h.until(Duration::from_secs(5), "victim recorded running", |h| {
        h.result("victim")
            .is_some_and(|r| r.status == Status::Running)
    });
    let request = h.request(RequestAction::Cancel, "victim");
    h.settle(Duration::from_secs(10));

    let r = h.result("victim").expect("result");
    assert_eq!(r.status, Status::Canceled);
    assert_eq!(r.handled_requests, vec![request.clone()]);
    wait_until("the grandchild is gone", Duration::from_secs(5), || {
        !alive(grandchild)
    });
    let canceled = h.events_of("TASK_CANCELED", Some("victim"));
    assert_eq!(canceled.len(), 1);
    assert_eq!(canceled[0]["data"]["request_id"], request.as_str());
    // Handled once: more passes change nothing.
    h.settle(Duration::from_secs(5));
    assert_eq!(h.events_of("TASK_CANCELED", Some("victim")).len(), 1);
}

#[test]
fn cancel_before_start_and_after_success() {
    let mut h = Harness::started(fast_config(1));
    let pidfile = h.path("grandchild.pid");
    h.decide(vec![task("ok", &["true"])]);
    h.settle(Duration::from_secs(10));
    // "blocker" holds the only slot, so "queued" has not started when canceled.
    h.decide(vec![
        task("ok", &["true"]),
        task("blocker", &[&tool("executor/stubborn.sh"), &pidfile]),
        task("queued", &["true"]),
    ]);
    h.wait_pid(&pidfile);
    h.request(RequestAction::Cancel, "ok");
    h.request(RequestAction::Cancel, "queued");
    h.request(RequestAction::Cancel, "blocker");
    h.settle(Duration::from_secs(10));

    let ok = h.result("ok").expect("ok");
    assert_eq!(
        ok.status,
        Status::Succeeded,
        "a succeeded task is left alone"
    );
    assert_eq!(ok.handled_requests.len(), 1);
    let queued = h.result("queued").expect("queued");
    assert_eq!((queued.status, queued.attempt), (Status::Canceled, 0));
    assert!(queued.attempts.is_empty(), "it never ran");
    assert_eq!(
        h.result("blocker").map(|r| r.status),
        Some(Status::Canceled)
    );
}

#[test]
fn shutdown_kills_what_outlives_the_grace_and_records_it_interrupted() {
    let mut h = Harness::started(fast_config(2));
    let pidfile = h.path("grandchild.pid");
    h.decide(vec![task(
        "long",
        &[&tool("executor/stubborn.sh"), &pidfile],
    )]);
    let grandchild = h.wait_pid(&pidfile);
    h.until(Duration::from_secs(5), "long is running", |h| {
        h.result("long")
            .is_some_and(|r| r.status == Status::Running)
    });
    h.shutdown(Duration::from_millis(100));

    let r = h.result("long").expect("result");
    assert_eq!(r.status, Status::Failed);
    assert_eq!(r.reason.as_deref(), Some("interrupted"));
    assert_eq!(r.attempts[0].status, Status::Failed);
    assert!(!alive(grandchild), "the group was killed");
}

#[test]
fn logs_are_created_on_first_output_and_hold_all_of_it() {
    let mut h = Harness::started(fast_config(2));
    h.decide(vec![
        task("silent", &["true"]),
        task(
            "chatty",
            &[
                "bash",
                "-c",
                "head -c 1000000 /dev/zero | tr '\\0' x; echo; echo done >&2",
            ],
        ),
    ]);
    h.settle(Duration::from_secs(10));

    let silent = h.result("silent").expect("silent");
    assert_eq!(silent.status, Status::Succeeded);
    assert!(
        !h.state.task_logs("silent").exists(),
        "no output, no log files"
    );
    let chatty = h.result("chatty").expect("chatty");
    assert_eq!(chatty.status, Status::Succeeded);
    let out = std::fs::read(h.state.root().join(&chatty.attempts[0].log_out)).expect("out");
    assert_eq!(
        out.len(),
        1_000_001,
        "all of stdout, beyond any pipe buffer"
    );
    assert_eq!(chatty.attempts[0].stderr_tail, "done\n");
}
