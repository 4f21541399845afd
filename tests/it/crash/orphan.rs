//! One long task, its engine SIGKILLed mid-task and a new engine started at once: the
//! command runs once, under the dead engine's runner, and the new engine adopts it and
//! records attempt 1 from its outcome — never a second copy.

use std::time::Duration;

use super::{Audit, TOOL, live_runners, reap_runners, task_json, task_script};
use crate::support::procs::wait_output;
use crate::support::{Project, wait_until};

const CONFIG: &str = r#"
[state]
flush_interval_ms = 20
debounce_ms = 2
poll_interval_ms = 100

[execution]
kill_grace_ms = 300
"#;

#[test]
fn a_task_outlives_its_engine_and_is_adopted_by_the_next() {
    let p = Project::with_config(&format!("{CONFIG}{TOOL}"));
    let (script, effects) = task_script(&p);
    p.drop_task(
        "long",
        task_json(&script, &effects, "long", 1500, false, &[]),
    );
    let mut first = p.spawn(&["run"], "first");
    let old_pid = first.id();
    wait_until("long to run", Duration::from_secs(30), || {
        p.status_of("long").as_deref() == Some("running")
    });
    first.kill().expect("SIGKILL the engine");
    first.wait().expect("reap it");
    assert_eq!(live_runners(&p), 1, "its runner lives on");

    let second = p.spawn(&["run", "--once"], "second");
    let out = wait_output(second, Duration::from_secs(60), "the second engine");
    assert_eq!(out.status.code(), Some(0), "{}", p.stderr_of("second"));

    let audit = Audit::of(&p, &effects, &["long".to_string()]);
    audit.assert_clean();
    assert_eq!(audit.runs, 1, "the command ran once");
    let r = p.result("long").expect("result");
    assert_eq!(
        (r["status"].as_str(), r["attempt"].as_u64()),
        (Some("succeeded"), Some(1))
    );
    let attempts = r["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 1, "{r:#}");
    assert!(
        attempts[0]["executor"]
            .as_str()
            .is_some_and(|e| e.ends_with(&format!(":{old_pid}"))),
        "ran by the first engine's runner, adopted by the second: {r:#}"
    );
    assert!(
        !p.state().join("attempts/long/1.json").exists(),
        "the outcome record is removed once recorded"
    );
    wait_until("the runners to exit", Duration::from_secs(10), || {
        live_runners(&p) == 0
    });
    reap_runners(&p);
}

const ONE_FAILURE: &str = r#"
[recovery]
max_failures = 1
"#;

/// The runner SIGKILLed under its live engine: the engine sees it gone, kills what is left
/// of the attempt's group, records the attempt `interrupted` — which uses no retry budget
/// (here a budget of one failure) — starts a new runner, and the task runs again.
#[test]
fn a_dead_runner_leaves_an_interrupted_attempt_that_uses_no_budget() {
    let p = Project::with_config(&format!("{CONFIG}{ONE_FAILURE}{TOOL}"));
    let (script, effects) = task_script(&p);
    p.drop_task(
        "long",
        task_json(&script, &effects, "long", 1500, false, &[]),
    );
    let engine = p.spawn(&["run", "--once"], "engine");
    wait_until("long to run", Duration::from_secs(30), || {
        p.status_of("long").as_deref() == Some("running")
    });
    let runners = super::runner_pids(&p);
    assert_eq!(runners.len(), 1, "one runner");
    let pid = rustix::process::Pid::from_raw(runners[0]).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).expect("SIGKILL the runner");

    let out = wait_output(engine, Duration::from_secs(60), "the engine");
    assert_eq!(out.status.code(), Some(0), "{}", p.stderr_of("engine"));
    let r = p.result("long").expect("result");
    let attempts = r["attempts"].as_array().expect("attempts");
    let shape: Vec<(u64, &str, &str)> = attempts
        .iter()
        .map(|a| {
            (
                a["attempt"].as_u64().unwrap_or(0),
                a["status"].as_str().unwrap_or(""),
                a["reason"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![(1, "failed", "interrupted"), (2, "succeeded", "")],
        "{r:#}"
    );
    // The first command was killed with its runner's group before it wrote its line.
    let audit = Audit::of(&p, &effects, &["long".to_string()]);
    audit.assert_clean();
    assert_eq!(audit.runs, 1);
    wait_until("the runners to exit", Duration::from_secs(10), || {
        live_runners(&p) == 0
    });
    reap_runners(&p);
}
