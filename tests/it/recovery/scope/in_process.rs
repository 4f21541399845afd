//! Scope, retry policy and reports in-process: states set up exactly (an interrupted
//! attempt, an attempt's own `files_modified`, another task running, a later success).

use std::time::Duration;

use phase_coordinator::model::{Classification, ExecutionResults, Status, now_rfc3339};
use phase_coordinator::phase::Phase;
use phase_coordinator::store::Claim;
use serde_json::json;

use crate::support::recovery::{Failure, Harness, config_with, drive, lint_and_agents};
use crate::support::store::update;
use crate::support::wait_until;

#[test]
fn interrupted_attempts_never_count_against_the_budget() {
    let h = Harness::new(&config_with("[recovery]\nmax_failures = 2\n"));
    h.submit(json!({ "id": "t", "kind": "shell", "command": ["make"] }));
    let (mut rec, wakes) = h.recovery();
    let interrupted = || Failure {
        reason: "interrupted".to_string(),
        ..Failure::default()
    };
    let steps: Vec<String> = [
        Failure::exit(1, "boom\n"),
        interrupted(),
        interrupted(),
        Failure::exit(1, "boom\n"),
    ]
    .into_iter()
    .map(|f| {
        let n = h.fail("t", f);
        drive(&mut rec, &wakes);
        h.retry("t", n).ladder_step.to_string()
    })
    .collect();
    assert_eq!(steps, ["retry", "retry", "retry", "quarantine"]);
}

#[test]
fn an_attempt_that_changed_too_many_files_is_escalated() {
    let h = Harness::new(&config_with("[recovery]\nmax_files_changed = 2\n"));
    h.submit(json!({ "id": "t", "kind": "shell", "command": ["make"] }));
    let n = h.fail("t", Failure::exit(1, "boom\n"));
    update::<ExecutionResults>(&h.state, |doc| {
        let files = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        doc.results[0].files_modified = files.clone();
        if let Some(a) = doc.results[0].attempts.last_mut() {
            a.files_modified = files;
        }
    });
    let (mut rec, wakes) = h.recovery();
    drive(&mut rec, &wakes);
    let a = h.analysis("t", n);
    assert_eq!(
        (a.classification, a.error_type.as_str()),
        (Classification::NeedsHuman, "scope_escalation")
    );
    assert!(!h.retry("t", n).retry_recommended);
    let events = h.events_of("SCOPE_ESCALATION", Some("t"));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["data"]["source"], "attempt");
    assert_eq!(events[0]["data"]["count"], 3);
}

#[test]
fn a_fix_waits_while_another_task_that_may_touch_its_files_is_running() {
    let h = Harness::new(&lint_and_agents(r#"["mechanical_fix"]"#, 3));
    h.write("a.txt", "a  \n");
    h.submit(json!({ "id": "busy", "kind": "shell", "command": ["make"] }));
    h.submit(json!({ "id": "fixme", "kind": "lint", "files": ["a.txt"] }));
    h.submit(json!({ "id": "later", "kind": "shell", "command": ["make"] }));
    // `busy` names no files: its running attempt may change any file, a.txt included. It
    // runs as the executor runs a task: its result says so and its claim is held.
    let claim = Claim::try_acquire(&h.state, "busy")
        .expect("claim")
        .expect("free");
    update::<ExecutionResults>(&h.state, |doc| {
        doc.results.push(phase_coordinator::model::TaskResult {
            task_id: "busy".to_string(),
            attempt: 1,
            status: Status::Running,
            started_at: now_rfc3339(),
            ..Default::default()
        })
    });
    h.fail("fixme", Failure::exit(1, "lint\n"));
    h.fail(
        "later",
        Failure {
            status: Some(Status::TimedOut),
            reason: "timed out".to_string(),
            ..Failure::default()
        },
    );
    let (mut rec, wakes) = h.recovery();
    // Jobs run in order: once `later` has its verdict, `fixme`'s step has been tried.
    wait_until("later's verdict", Duration::from_secs(20), || {
        let _ = rec.reconcile().expect("reconcile");
        let _ = wakes.recv_timeout(Duration::from_millis(20));
        h.patches().retries.iter().any(|r| r.task_id == "later")
    });
    assert_eq!(h.analysis("fixme", 1).ladder_step, "mechanical_fix");
    assert!(
        !h.patches().retries.iter().any(|r| r.task_id == "fixme"),
        "no verdict while busy runs"
    );
    assert_eq!(h.read("a.txt"), "a  \n", "not fixed while busy runs");

    update::<ExecutionResults>(&h.state, |doc| {
        doc.results[0].status = Status::Succeeded;
        doc.results[0].finished_at = Some(now_rfc3339());
    });
    drop(claim);
    drive(&mut rec, &wakes);
    assert!(h.retry("fixme", 1).retry_recommended);
    assert_eq!(h.read("a.txt"), "a\n");
}

#[test]
fn a_quarantined_task_that_succeeds_later_has_its_report_marked_resolved() {
    let h = Harness::new(&lint_and_agents(r#"["mechanical_fix"]"#, 1));
    h.submit(json!({ "id": "t", "kind": "shell", "command": ["make"] }));
    h.submit(json!({ "id": "next", "kind": "shell", "command": ["make"], "depends_on": ["t"] }));
    let n = h.fail("t", Failure::exit(1, "boom\n"));
    std::fs::write(
        h.state.task_logs("t").join(format!("{n}.out")),
        "collected 3 items\nFAILED test_x - assert 2 == 3\n",
    )
    .expect("stdout log");
    let (mut rec, wakes) = h.recovery();
    drive(&mut rec, &wakes);
    let report = h.escalation("t").expect("report");
    assert!(report.starts_with("# Task `t` quarantined"), "{report}");
    assert!(report.contains("FAILED test_x - assert 2 == 3"), "{report}");
    assert!(
        report.contains("wait on this one and cannot run until it succeeds: next"),
        "{report}"
    );
    assert!(
        report.contains(&format!("phase logs t --attempt {n} --stderr --state-dir ")),
        "{report}"
    );

    // `phase retry`, then a successful attempt.
    update::<ExecutionResults>(&h.state, |doc| {
        let r = &mut doc.results[0];
        r.budget_from_attempt = n + 1;
        r.attempt = n + 1;
        r.status = Status::Succeeded;
        r.finished_at = Some(now_rfc3339());
    });
    drive(&mut rec, &wakes);
    let resolved = h.escalation("t").expect("report kept");
    assert!(
        resolved.starts_with(&format!(
            "> **Resolved:** the task succeeded at attempt {}",
            n + 1
        )),
        "{resolved}"
    );
    assert!(
        resolved.ends_with(&report),
        "the report is kept below the note"
    );
}

#[test]
fn an_agent_prompt_carries_stdout_the_blocked_dependents_and_commands() {
    let h = Harness::new(&lint_and_agents(r#"["agent1"]"#, 3));
    h.write("a.txt", "a\n");
    h.submit(json!({ "id": "t", "kind": "build", "files": ["a.txt"] }));
    h.submit(json!({ "id": "next", "kind": "shell", "command": ["make"], "depends_on": ["t"] }));
    let n = h.fail("t", Failure::exit(1, "1 failed\n"));
    std::fs::write(
        h.state.task_logs("t").join(format!("{n}.out")),
        "test_sum: assert 2 == 3\n",
    )
    .expect("stdout log");
    let (mut rec, wakes) = h.recovery();
    drive(&mut rec, &wakes);
    assert!(h.retry("t", n).retry_recommended);
    let prompt = std::fs::read_to_string(h.prompt_file("t", n, "agent1")).expect("prompt");
    let state = std::path::absolute(h.state.root()).expect("absolute");
    for needle in [
        "## Last error (end of stderr)\n\n```text\n1 failed\n```".to_string(),
        "## Last output (end of stdout)\n\n```text\ntest_sum: assert 2 == 3\n```".to_string(),
        "## Waiting on this task\n\nnext".to_string(),
        format!(
            "phase logs t --attempt {n} --stderr --state-dir {}",
            state.display()
        ),
    ] {
        assert!(prompt.contains(&needle), "{needle:?} missing:\n{prompt}");
    }
}

#[test]
fn a_workdir_detector_counts_only_the_task_s_files_and_those_its_output_names() {
    // The linter always looks at both files; each task may only be blamed for its own.
    let config = config_with(&format!(
        r#"
[recovery.detectors.ws]
command = ["sh", "{lint}", "a.txt", "b.txt"]
fixer = ["sh", "{strip}", "{{files}}"]
scope = "workdir"
"#,
        lint = crate::support::tool("recovery/lint.sh"),
        strip = crate::support::tool("recovery/strip.sh"),
    ));
    let setup = |spec: serde_json::Value, stderr: &str| {
        let h = Harness::new(&config);
        h.write("a.txt", "a  \n");
        h.write("b.txt", "b  \n");
        h.submit(spec);
        let n = h.fail("t", Failure::exit(1, stderr));
        let (mut rec, wakes) = h.recovery();
        drive(&mut rec, &wakes);
        (h, n)
    };
    // A task naming a.txt: b.txt's issue is not its own.
    let (h, n) = setup(
        json!({ "id": "t", "kind": "lint", "files": ["a.txt"] }),
        "boom\n",
    );
    let files: Vec<Option<String>> = h
        .analysis("t", n)
        .issues
        .iter()
        .filter(|i| i.detector == "ws")
        .map(|i| i.file.clone())
        .collect();
    assert_eq!(files, [Some("a.txt".to_string())]);
    assert_eq!(
        (h.read("a.txt"), h.read("b.txt")),
        ("a\n".into(), "b  \n".into())
    );
    let patches = h.patches().patches;
    assert_eq!(patches.len(), 1);
    assert!(
        patches[0].validated,
        "b.txt's issue does not spoil the validation"
    );

    // A task naming no files, whose output names b.txt: that one is its own.
    let (h, n) = setup(
        json!({ "id": "t", "kind": "lint", "command": ["make"] }),
        "b.txt:1: bad line\n",
    );
    assert_eq!(h.analysis("t", n).ladder_step, "mechanical_fix");
    assert_eq!(
        (h.read("a.txt"), h.read("b.txt")),
        ("a  \n".into(), "b\n".into())
    );
    assert!(h.retry("t", n).retry_recommended);
}
