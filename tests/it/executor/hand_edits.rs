//! People editing the state files by hand: the executor adopts valid edits (a deleted
//! entry runs again, a changed tool is used next time), never overwrites an invalid file,
//! and repairs `running` results nobody holds.

use std::time::Duration;

use phase_coordinator::model::{Attempt, ExecutionResults, Status, TaskResult, now_rfc3339};
use phase_coordinator::store::Claim;

use crate::support::executor::{Harness, add_tool, fast_config, stamps, task, with_tool};
use crate::support::tool;

#[test]
fn deleting_an_entry_by_hand_runs_the_task_again() {
    let mut h = Harness::started(fast_config(2));
    let log = h.path("stamps.log");
    let stamp = tool("executor/stamp.sh");
    h.decide(vec![
        task("again", &[&stamp, &log, "again"]),
        task("keep", &[&stamp, &log, "keep"]),
    ]);
    h.settle(Duration::from_secs(10));
    assert_eq!(h.result("again").map(|r| r.status), Some(Status::Succeeded));

    // A person removes the entry with an editor (no lock, no atomic rename).
    let path = h.state.file("execution_results.json");
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    doc["results"]
        .as_array_mut()
        .expect("results")
        .retain(|r| r["task_id"] != "again");
    std::fs::write(&path, serde_json::to_string_pretty(&doc).expect("json")).expect("write");
    h.until(Duration::from_secs(10), "again ran a second time", |_| {
        stamps(&log)
            .get("again")
            .is_some_and(|runs| runs.len() == 2)
    });
    h.settle(Duration::from_secs(10));

    // Attempt numbers never go back (its fence names attempt 1): it runs as attempt 2,
    // with a fresh budget.
    let r = h.result("again").expect("entry is back");
    assert_eq!(
        (r.status, r.attempt, r.attempts.len(), r.budget_from_attempt),
        (Status::Succeeded, 2, 1, 2)
    );
    assert_eq!(
        stamps(&log)["keep"].len(),
        1,
        "the untouched task did not run again"
    );
    assert_eq!(h.result("keep").map(|r| r.status), Some(Status::Succeeded));
}

#[test]
fn a_changed_tool_is_used_by_the_next_attempt() {
    let stamp = tool("executor/stamp.sh");
    let mut config = fast_config(2);
    // The tools stamp into stamps.log in their workdir, the project root.
    add_tool(
        &mut config,
        "one",
        &[&stamp, "stamps.log", "{task_id}-one", "0", "1"],
        None,
    );
    add_tool(
        &mut config,
        "two",
        &[&stamp, "stamps.log", "{task_id}-two"],
        None,
    );
    let mut h = Harness::started(config);
    h.decide(vec![with_tool(task("switch", &[]), "one")]);
    h.settle(Duration::from_secs(10));
    let r = h.result("switch").expect("result");
    assert_eq!((r.status, r.tool_id.as_str()), (Status::Failed, "one"));

    // A person routes it to the other tool; recovery recommends a retry.
    let mut decisions = h.decisions();
    decisions[0].selected_tool = "two".to_string();
    h.decide(decisions);
    h.verdict("switch", 1, true);
    h.until(Duration::from_secs(10), "attempt 2 succeeded", |h| {
        h.result("switch")
            .is_some_and(|r| r.attempt == 2 && r.status == Status::Succeeded)
    });

    let r = h.result("switch").expect("result");
    assert_eq!(r.tool_id, "two");
    assert_eq!(r.attempts[0].tool_id, "one");
    assert_eq!(r.attempts[1].tool_id, "two");
    assert_eq!(r.attempts[1].argv[2], "switch-two");
    let runs = stamps(&h.path("stamps.log"));
    assert!(
        runs.contains_key("switch-one") && runs.contains_key("switch-two"),
        "{runs:?}"
    );
}

#[test]
fn an_invalid_results_file_is_reported_once_left_alone_and_adopted_when_fixed() {
    let mut h = Harness::started(fast_config(2));
    let log = h.path("stamps.log");
    let stamp = tool("executor/stamp.sh");
    h.decide(vec![task("first", &[&stamp, &log, "first"])]);
    h.settle(Duration::from_secs(10));
    let path = h.state.file("execution_results.json");
    let good = std::fs::read_to_string(&path).expect("read");

    let broken = "{\n  \"results\": [\n    {\"task_id\": \"first\",, }\n";
    std::fs::write(&path, broken).expect("break it");
    h.decide(vec![
        task("first", &[&stamp, &log, "first"]),
        task("second", &[&stamp, &log, "second"]),
    ]);
    h.until(Duration::from_secs(10), "STATE_FILE_INVALID", |h| {
        !h.events_of("STATE_FILE_INVALID", None).is_empty()
    });
    for _ in 0..10 {
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    let invalid = h.events_of("STATE_FILE_INVALID", None);
    assert_eq!(invalid.len(), 1, "reported once: {invalid:?}");
    assert_eq!(invalid[0]["data"]["file"], "execution_results.json");
    let message = invalid[0]["data"]["error"].as_str().unwrap_or_default();
    assert!(
        message.contains("execution_results.json:3:"),
        "names file and line: {message}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        broken,
        "not overwritten"
    );
    assert!(
        !stamps(&log).contains_key("second"),
        "nothing new starts meanwhile"
    );

    // Fixed (the person puts the old content back): the executor resumes by itself.
    std::fs::write(&path, &good).expect("fix it");
    h.until(Duration::from_secs(10), "second succeeded", |h| {
        h.result("second")
            .is_some_and(|r| r.status == Status::Succeeded)
    });
    assert_eq!(h.result("first").map(|r| r.status), Some(Status::Succeeded));
    assert_eq!(stamps(&log)["first"].len(), 1, "first did not run again");
    assert_eq!(h.events_of("STATE_FILE_RECOVERED", None).len(), 1);
}

#[test]
fn an_invalid_decisions_file_stops_new_starts_until_fixed() {
    let mut h = Harness::started(fast_config(2));
    h.decide(vec![task("a", &["true"])]);
    h.settle(Duration::from_secs(10));
    let path = h.state.file("routing_decisions.json");
    let good = std::fs::read_to_string(&path).expect("read");
    std::fs::write(&path, "{\"decisions\": [ {\"task_id\": 5} ]}").expect("break");
    h.until(Duration::from_secs(10), "STATE_FILE_INVALID", |h| {
        !h.events_of("STATE_FILE_INVALID", None).is_empty()
    });
    let invalid = &h.events_of("STATE_FILE_INVALID", None)[0];
    assert_eq!(invalid["data"]["file"], "routing_decisions.json");
    std::fs::write(&path, &good).expect("fix");
    h.decide(vec![task("a", &["true"]), task("b", &["true"])]);
    h.until(Duration::from_secs(10), "b succeeded", |h| {
        h.result("b").is_some_and(|r| r.status == Status::Succeeded)
    });
}

fn running_entry(id: &str) -> TaskResult {
    let now = now_rfc3339();
    TaskResult {
        task_id: id.to_string(),
        tool_id: "shell".to_string(),
        attempt: 1,
        status: Status::Running,
        started_at: now.clone(),
        attempts: vec![Attempt {
            attempt: 1,
            tool_id: "shell".to_string(),
            status: Status::Running,
            started_at: now,
            log_out: format!("logs/{id}/1.out"),
            log_err: format!("logs/{id}/1.err"),
            executor: "elsewhere:1".to_string(),
            ..Attempt::default()
        }],
        ..TaskResult::default()
    }
}

#[test]
fn a_running_result_nobody_holds_becomes_interrupted() {
    let h0 = Harness::new(fast_config(2));
    h0.commit(ExecutionResults {
        results: vec![running_entry("orphan"), running_entry("held")],
        ..ExecutionResults::default()
    });
    // "held" is claimed by a live process (here: the test itself).
    let claim = Claim::try_acquire(&h0.state, "held")
        .expect("claim")
        .expect("free");
    let mut h = h0;
    h.start_executor();
    h.until(Duration::from_secs(10), "orphan interrupted", |h| {
        h.result("orphan")
            .is_some_and(|r| r.status == Status::Failed)
    });
    let r = h.result("orphan").expect("orphan");
    assert_eq!(r.reason.as_deref(), Some("interrupted"));
    assert_eq!(r.attempts[0].status, Status::Failed);
    assert_eq!(r.attempts[0].reason.as_deref(), Some("interrupted"));
    assert_eq!(h.result("held").map(|r| r.status), Some(Status::Running));

    // Its holder dies: the next passes notice.
    drop(claim);
    h.until(Duration::from_secs(10), "held interrupted", |h| {
        h.result("held").is_some_and(|r| r.status == Status::Failed)
    });
    let failed = h.events_of("TASK_FAILED", None);
    assert_eq!(failed.len(), 2);
    assert!(failed.iter().all(|e| e["data"]["reason"] == "interrupted"));
}
