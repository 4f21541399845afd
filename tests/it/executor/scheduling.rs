//! Executor scheduling: dependency order, the global and per-tool parallel limits,
//! priority order, and two executors sharing one state directory.

use std::time::Duration;

use phase_coordinator::model::{RequestAction, Status};

use crate::support::executor::{
    Harness, add_tool, fast_config, max_concurrency, stamps, task, with_deps, with_tool,
};
use crate::support::tool;

/// 20 tasks in diamonds: task i depends on (i-1)/2 and i/3 (when different from i).
fn diamond_deps(i: usize) -> Vec<String> {
    let mut deps: Vec<usize> = if i == 0 {
        vec![]
    } else {
        vec![(i - 1) / 2, i / 3]
    };
    deps.retain(|&d| d != i);
    deps.sort();
    deps.dedup();
    deps.into_iter().map(|d| format!("d{d:02}")).collect()
}

#[test]
fn a_dag_runs_in_dependency_order_within_the_parallel_limit() {
    let mut h = Harness::started(fast_config(3));
    let log = h.path("stamps.log");
    let stamp = tool("executor/stamp.sh");
    let decisions = (0..20)
        .map(|i| {
            let id = format!("d{i:02}");
            let deps = diamond_deps(i);
            let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
            with_deps(task(&id, &[&stamp, &log, &id, "0.05"]), &deps)
        })
        .collect();
    h.decide(decisions);
    h.settle(Duration::from_secs(20));

    let runs = stamps(&log);
    assert_eq!(runs.len(), 20, "every task ran: {runs:?}");
    for i in 0..20 {
        let id = format!("d{i:02}");
        assert_eq!(runs[&id].len(), 1, "{id} ran once");
        let (start, _) = runs[&id][0];
        for dep in diamond_deps(i) {
            let dep_end = runs[&dep][0].1.expect("dep finished");
            assert!(
                dep_end <= start,
                "{id} started before its dependency {dep} ended"
            );
        }
        let r = h.result(&id).expect("result");
        assert_eq!((r.status, r.attempt), (Status::Succeeded, 1), "{id}");
    }
    let max = max_concurrency(runs.values().flatten());
    assert!(max <= 3, "at most 3 at once, saw {max}");
    assert!(max >= 2, "the limit allows parallel runs, saw only {max}");
}

#[test]
fn a_tool_limit_is_respected_alongside_the_global_one() {
    let stamp = tool("executor/stamp.sh");
    let mut config = fast_config(4);
    add_tool(&mut config, "solo", &["{command}"], Some(1));
    let mut h = Harness::started(config);
    let log = h.path("stamps.log");
    let mut decisions = Vec::new();
    for i in 0..4 {
        let id = format!("solo{i}");
        decisions.push(with_tool(task(&id, &[&stamp, &log, &id, "0.08"]), "solo"));
        let id = format!("free{i}");
        decisions.push(task(&id, &[&stamp, &log, &id, "0.08"]));
    }
    h.decide(decisions);
    h.settle(Duration::from_secs(20));

    let runs = stamps(&log);
    assert_eq!(runs.len(), 8);
    let solo = runs
        .iter()
        .filter(|(k, _)| k.starts_with("solo"))
        .flat_map(|(_, v)| v);
    assert_eq!(
        max_concurrency(solo),
        1,
        "the solo tool runs one task at a time"
    );
    let all = max_concurrency(runs.values().flatten());
    assert!(
        (2..=4).contains(&all),
        "others fill the free slots, within 4: {all}"
    );
}

#[test]
fn higher_priority_runs_first_then_submission_order() {
    let stamp = tool("executor/stamp.sh");
    let mut h = Harness::started(fast_config(1));
    let log = h.path("stamps.log");
    let mut decisions = Vec::new();
    for (id, priority) in [("p0a", 0), ("p5", 5), ("p0b", 0), ("p9", 9)] {
        let mut d = task(id, &[&stamp, &log, id]);
        d.task.priority = priority;
        decisions.push(d);
    }
    h.decide(decisions);
    h.settle(Duration::from_secs(20));
    let runs = stamps(&log);
    let mut order: Vec<(u128, &str)> = runs.iter().map(|(k, v)| (v[0].0, k.as_str())).collect();
    order.sort();
    let ids: Vec<&str> = order.into_iter().map(|(_, id)| id).collect();
    assert_eq!(ids, ["p9", "p5", "p0a", "p0b"]);
}

#[test]
fn two_executors_on_one_state_dir_run_each_attempt_once() {
    let stamp = tool("executor/stamp.sh");
    let mut h = Harness::new(fast_config(2));
    h.start_executor();
    h.start_executor();
    let log = h.path("stamps.log");
    let decisions = (0..30)
        .map(|i| {
            let id = format!("t{i:02}");
            let deps = if i >= 10 {
                vec![format!("t{:02}", i - 10)]
            } else {
                vec![]
            };
            let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
            with_deps(task(&id, &[&stamp, &log, &id, "0.01"]), &deps)
        })
        .collect();
    h.decide(decisions);
    h.until(Duration::from_secs(20), "all 30 succeeded", |h| {
        (0..30).all(|i| {
            h.result(&format!("t{i:02}"))
                .is_some_and(|r| r.status == Status::Succeeded)
        })
    });
    h.settle(Duration::from_secs(10));
    let started = h.events_of("TASK_STARTED", None);
    assert_eq!(started.len(), 30, "30 attempts started in all");
    for run in ["test-0", "test-1"] {
        assert!(
            started.iter().any(|e| e["run_id"] == run),
            "executor {run} ran some tasks"
        );
    }
    let runs = stamps(&log);
    for i in 0..30 {
        let id = format!("t{i:02}");
        assert_eq!(runs[&id].len(), 1, "{id} ran exactly once: {:?}", runs[&id]);
        let r = h.result(&id).expect("result");
        assert_eq!((r.attempt, r.attempts.len()), (1, 1), "{id}: {r:?}");
    }
}

#[test]
fn a_chain_runs_link_by_link_and_a_canceled_link_stops_the_ones_after_it() {
    let mut h = Harness::started(fast_config(2));
    let log = h.path("stamps.log");
    let stamp = tool("executor/stamp.sh");
    // c0 → … → c5, each handed over to the runner while the one before runs; then y0,
    // held until a file appears, with y1 → y2 after it.
    let mut decisions: Vec<_> = (0..6usize)
        .map(|i| {
            let id = format!("c{i}");
            let before = format!("c{}", i.saturating_sub(1));
            let deps: Vec<&str> = if i == 0 { vec![] } else { vec![&before] };
            with_deps(task(&id, &[&stamp, &log, &id, "0.02"]), &deps)
        })
        .collect();
    let go = h.path("go-y0");
    let wait = format!("while [ ! -e {go} ]; do sleep 0.01; done");
    decisions.push(task("y0", &["sh", "-c", &wait]));
    decisions.push(with_deps(task("y1", &[&stamp, &log, "y1", "0"]), &["y0"]));
    decisions.push(with_deps(task("y2", &[&stamp, &log, "y2", "0"]), &["y1"]));
    h.decide(decisions);
    h.until(Duration::from_secs(20), "the chain done, y0 running", |h| {
        h.result("c5")
            .is_some_and(|r| r.status == Status::Succeeded)
            && h.result("y0").is_some_and(|r| r.status == Status::Running)
    });
    let runs = stamps(&log);
    for i in 0..6 {
        let id = format!("c{i}");
        assert_eq!(runs[&id].len(), 1, "{id} ran once: {runs:?}");
        if i > 0 {
            let before = &runs[&format!("c{}", i - 1)][0];
            let dep_end = before.1.expect("finished");
            assert!(
                dep_end <= runs[&id][0].0,
                "{id} started before c{} ended",
                i - 1
            );
        }
        let r = h.result(&id).expect("result");
        assert_eq!((r.status, r.attempt), (Status::Succeeded, 1), "{id}");
    }
    // Canceled while y1 waits in the runner to follow it: y1 and y2 never run, even
    // though y0's command then exits 0.
    h.request(RequestAction::Cancel, "y0");
    h.until(Duration::from_secs(10), "y0 canceled", |h| {
        h.result("y0").is_some_and(|r| r.status == Status::Canceled)
    });
    std::fs::write(&go, "").expect("write the go file");
    h.settle(Duration::from_secs(10));
    let runs = stamps(&log);
    for id in ["y1", "y2"] {
        assert!(!runs.contains_key(id), "{id} never ran: {runs:?}");
        assert!(
            h.result(id).is_none_or(|r| r.status != Status::Succeeded),
            "{id} did not succeed"
        );
    }
}
