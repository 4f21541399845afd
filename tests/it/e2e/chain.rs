//! A dependency chain through the real binary: the runner holds the next links of a chain
//! and starts each the moment the one before succeeds — and it keeps holding them as the
//! chain moves on, so links run even while the engine itself is stopped.

use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process};
use serde_json::json;

use crate::support::executor::stamps;
use crate::support::procs::wait_output;
use crate::support::{Project, tool, wait_until};

const CONFIG: &str = r#"
[state]
flush_interval_ms = 20
debounce_ms = 2
poll_interval_ms = 200

[execution]
max_parallel = 2
"#;

/// Links c0 → … → c7, 0.8 s each. Once c2 runs, the engine hands the runner the links up
/// to c5 (the running one and three more), which it says on stderr at debug level. The
/// engine is then SIGSTOPped: c3, c4 and c5 still run, one after the other,
/// started by the runner alone. (Before the engine topped up the held links as the chain
/// moved on, they ran out after c3, and c5 was handed over only after c3 ended.)
#[test]
fn the_runner_keeps_holding_the_next_links_of_a_chain() {
    let p = Project::with_config(CONFIG);
    let log = p.path("stamps.log").display().to_string();
    let stamp = tool("executor/stamp.sh");
    for i in 0..8 {
        let id = format!("c{i}");
        let mut task = json!({"kind": "shell", "command": [&stamp, &log, &id, "0.8"]});
        if i > 0 {
            task["depends_on"] = json!([format!("c{}", i - 1)]);
        }
        p.drop_task(&id, task);
    }
    let engine = p.spawn(&["-vv", "run", "--once"], "engine");
    let pid = Pid::from_raw(i32::try_from(engine.id()).expect("pid")).expect("pid");
    wait_until("c2 to start", Duration::from_secs(30), || {
        stamps(&log).contains_key("c2")
    });
    wait_until("c5 handed to the runner", Duration::from_secs(10), || {
        let err = p.stderr_of("engine");
        err.lines()
            .any(|l| l.contains("handed to the runner") && l.contains("task=c5"))
    });
    let runs = stamps(&log);
    assert!(
        runs["c2"][0].1.is_none(),
        "c5 was handed over while c2 ran: {runs:?}"
    );
    kill_process(pid, Signal::STOP).expect("SIGSTOP the engine");
    let held = std::panic::catch_unwind(|| {
        wait_until(
            "c5 to end, with the engine stopped",
            Duration::from_secs(20),
            || stamps(&log).get("c5").is_some_and(|r| r[0].1.is_some()),
        );
    });
    kill_process(pid, Signal::CONT).expect("SIGCONT the engine");
    if let Err(panic) = held {
        std::panic::resume_unwind(panic);
    }

    let out = wait_output(engine, Duration::from_secs(60), "the engine");
    assert_eq!(out.status.code(), Some(0), "{}", p.stderr_of("engine"));
    let runs = stamps(&log);
    for i in 0..8 {
        let id = format!("c{i}");
        assert_eq!(runs[&id].len(), 1, "{id} ran once: {runs:?}");
        if i > 0 {
            let before_end = runs[&format!("c{}", i - 1)][0].1.expect("ended");
            assert!(
                before_end <= runs[&id][0].0,
                "{id} started after its dependency ended"
            );
        }
        let r = p.result(&id).expect("result");
        assert_eq!(
            (r["status"].as_str(), r["attempt"].as_u64()),
            (Some("succeeded"), Some(1)),
            "{id}"
        );
    }
}
