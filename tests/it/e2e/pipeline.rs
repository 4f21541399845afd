//! Router + executor end to end through the real binary: ordering, limits, crashes,
//! process cleanup, separate processes.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::json;

use crate::support::procs::{alive, wait_output};
use crate::support::store::assert_valid_state_files;
use crate::support::{Project, wait_until};

const FAST: &str = r#"
[state]
flush_interval_ms = 20
debounce_ms = 2
poll_interval_ms = 200

[execution]
kill_grace_ms = 300
shutdown_grace_ms = 1000

[execution.backoff]
initial_ms = 10
factor = 2.0
max_ms = 100
"#;

fn with_parallel(n: u32) -> String {
    FAST.replace(
        "[execution]\n",
        &format!("[execution]\nmax_parallel = {n}\n"),
    )
}

/// A script that stamps `start`/`end` lines (with nanoseconds) for its task id.
fn stamp_script(p: &Project) -> String {
    let log = p.root().join("stamps.log");
    p.script(
        "stamp.sh",
        &format!(
            "#!/bin/bash\necho \"start $1 $(date +%s%N)\" >> {log}\nsleep 0.15\necho \"end $1 $(date +%s%N)\" >> {log}\n",
            log = log.display()
        ),
    )
}

/// 20 tasks whose dependencies form diamonds: task i depends on tasks (i-1)/2 and i/3.
fn diamond_deps() -> Vec<(String, Vec<String>)> {
    (0..20)
        .map(|i: usize| {
            let mut deps: Vec<String> = if i == 0 {
                vec![]
            } else {
                vec![format!("t{:02}", (i - 1) / 2), format!("t{:02}", i / 3)]
            };
            deps.retain(|d| *d != format!("t{i:02}"));
            deps.sort();
            deps.dedup();
            (format!("t{i:02}"), deps)
        })
        .collect()
}

#[test]
fn dag_of_20_runs_in_dependency_order_within_the_parallel_limit() {
    let p = Project::with_config(&with_parallel(3));
    let stamp = stamp_script(&p);
    let tasks = diamond_deps();
    for (id, deps) in &tasks {
        p.drop_task(
            id,
            json!({"kind": "shell", "command": [stamp, id], "depends_on": deps}),
        );
    }
    let (code, _out, err) = p.run(&["run", "--once"], Duration::from_secs(60));
    assert_eq!(code, 0, "run --once failed: {err}");

    let log = std::fs::read_to_string(p.root().join("stamps.log")).expect("stamps");
    let mut start: HashMap<String, u128> = HashMap::new();
    let mut end: HashMap<String, u128> = HashMap::new();
    let mut timeline: Vec<(u128, i32)> = Vec::new();
    for line in log.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let t: u128 = parts[2].parse().expect("ns");
        match parts[0] {
            "start" => {
                assert!(
                    start.insert(parts[1].to_string(), t).is_none(),
                    "{} ran twice",
                    parts[1]
                );
                timeline.push((t, 1));
            }
            _ => {
                end.insert(parts[1].to_string(), t);
                timeline.push((t, -1));
            }
        }
    }
    assert_eq!(start.len(), 20, "every task ran once");
    for (id, deps) in &tasks {
        for d in deps {
            assert!(
                start[id] >= end[d],
                "{id} started before its dependency {d} ended"
            );
        }
    }
    // Ends sort before starts at the same instant: a slot freed and refilled.
    timeline.sort_by_key(|(t, delta)| (*t, *delta));
    let mut running = 0;
    let mut peak = 0;
    for (_, delta) in timeline {
        running += delta;
        peak = peak.max(running);
    }
    assert!(peak <= 3, "parallel limit exceeded: {peak} at once");
    assert!(peak >= 2, "tasks never ran in parallel (peak {peak})");
}

#[test]
fn timed_out_task_leaves_no_process_behind() {
    let p = Project::with_config(FAST);
    let pids = p.root().join("pids");
    let script = p.script(
        "sleeper.sh",
        &format!(
            "#!/bin/bash\nsleep 30 &\necho $! >> {pids}\necho $$ >> {pids}\nsleep 30\n",
            pids = pids.display()
        ),
    );
    p.drop_task(
        "slow",
        json!({"kind": "shell", "command": [script], "timeout_seconds": 1, "max_retries": 0}),
    );
    let (code, _, err) = p.run(
        &["run", "router", "executor", "--once"],
        Duration::from_secs(30),
    );
    assert_eq!(code, 1, "a timed-out task is not a success: {err}");
    assert_eq!(p.status_of("slow").as_deref(), Some("timed_out"));
    let recorded: Vec<i32> = std::fs::read_to_string(&pids)
        .expect("pids")
        .lines()
        .map(|l| l.trim().parse().expect("pid"))
        .collect();
    assert_eq!(recorded.len(), 2);
    wait_until(
        "the task's processes to be gone",
        Duration::from_secs(5),
        || recorded.iter().all(|pid| !alive(*pid)),
    );
}

/// The final per-task picture that must not depend on how the phases are deployed.
fn final_state(p: &Project) -> BTreeMap<String, (String, u64, String)> {
    let decisions = p.json("routing_decisions.json");
    let tools: HashMap<String, String> = decisions["decisions"]
        .as_array()
        .expect("decisions")
        .iter()
        .map(|d| {
            (
                d["task_id"].as_str().unwrap_or_default().to_string(),
                d["selected_tool"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    p.json("execution_results.json")["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let id = r["task_id"].as_str().unwrap_or_default().to_string();
            let tool = tools.get(&id).cloned().unwrap_or_default();
            (
                id,
                (
                    r["status"].as_str().unwrap_or_default().to_string(),
                    r["attempt"].as_u64().unwrap_or_default(),
                    tool,
                ),
            )
        })
        .collect()
}

fn pipeline_tasks(p: &Project) {
    let ok = p.script("ok.sh", "#!/bin/bash\necho fine\n");
    p.drop_task("a", json!({"kind": "shell", "command": [ok]}));
    p.drop_task(
        "b",
        json!({"kind": "shell", "command": [ok], "depends_on": ["a"]}),
    );
    p.drop_task(
        "c",
        json!({"kind": "shell", "command": [ok], "depends_on": ["a"]}),
    );
    p.drop_task(
        "d",
        json!({"kind": "shell", "command": [ok], "depends_on": ["b", "c"]}),
    );
    p.drop_task(
        "e",
        json!({"kind": "shell", "command": ["does-not-exist-xyz"], "max_retries": 0}),
    );
    p.drop_task(
        "f",
        json!({"kind": "shell", "command": [ok], "depends_on": ["e"]}),
    );
}

#[test]
fn router_and_executor_as_separate_processes_match_one_process() {
    let one = Project::with_config(FAST);
    pipeline_tasks(&one);
    let (code, _, err) = one.run(
        &["run", "router", "executor", "--once"],
        Duration::from_secs(60),
    );
    assert_eq!(code, 1, "e fails, so not every task succeeded: {err}");

    let two = Project::with_config(FAST);
    pipeline_tasks(&two);
    let router = two.spawn(&["run", "router", "--once"], "router");
    let executor = two.spawn(&["run", "executor", "--once"], "executor");
    let r = wait_output(router, Duration::from_secs(60), "router");
    let e = wait_output(executor, Duration::from_secs(60), "executor");
    assert_eq!(
        r.status.code(),
        Some(1),
        "router: {}",
        two.stderr_of("router")
    );
    assert_eq!(
        e.status.code(),
        Some(1),
        "executor: {}",
        two.stderr_of("executor")
    );

    let a = final_state(&one);
    let b = final_state(&two);
    assert_eq!(a, b, "one process vs two processes");
    assert_eq!(a["d"].0, "succeeded");
    assert_eq!(a["e"].0, "failed");
    assert_valid_state_files(&one.state());
    assert_valid_state_files(&two.state());
}

#[test]
fn kill_9_while_tasks_run_then_restart_loses_nothing() {
    let p = Project::with_config(&with_parallel(3));
    let slow = p.script("slow.sh", "#!/bin/bash\nsleep 0.4\n");
    for i in 0..9 {
        let deps: Vec<String> = if i >= 3 {
            vec![format!("k{}", i - 3)]
        } else {
            vec![]
        };
        p.drop_task(
            &format!("k{i}"),
            json!({"kind": "shell", "command": [slow], "depends_on": deps}),
        );
    }
    let mut engine = p.spawn(&["run"], "engine1");
    wait_until("tasks running", Duration::from_secs(20), || {
        p.json("execution_results.json")["results"]
            .as_array()
            .is_some_and(|r| r.iter().filter(|r| r["status"] == "running").count() >= 2)
    });
    engine.kill().expect("kill -9");
    engine.wait().expect("reap");

    let (code, _, err) = p.run(&["run", "--once"], Duration::from_secs(60));
    assert_eq!(code, 0, "after restart every task succeeds: {err}");
    let results = p.json("execution_results.json");
    let results = results["results"].as_array().expect("results");
    assert_eq!(results.len(), 9, "no task lost");
    let mut interrupted = 0;
    for r in results {
        assert_eq!(r["status"], "succeeded", "{r}");
        let attempts = r["attempts"].as_array().expect("attempts");
        let succeeded = attempts
            .iter()
            .filter(|a| a["status"] == "succeeded")
            .count();
        assert_eq!(succeeded, 1, "exactly one succeeded attempt: {r}");
        interrupted += attempts
            .iter()
            .filter(|a| {
                a["reason"]
                    .as_str()
                    .is_some_and(|s| s.contains("interrupted"))
            })
            .count();
    }
    // The attempts outlived the engine under its attempt runner and were adopted by the
    // next one: none was cut short.
    assert_eq!(
        interrupted, 0,
        "no attempt interrupted by the engine's death"
    );
    assert_valid_state_files(&p.state());
}

#[test]
fn hand_edits_to_results_and_decisions_are_adopted() {
    let p = Project::with_config(FAST);
    let marker = p.root().join("alt-ran");
    let alt = p.script(
        "alt.sh",
        &format!("#!/bin/bash\necho \"$1\" >> {}\n", marker.display()),
    );
    p.set_config(&format!(
        "{FAST}\n[tools.alt]\ncommand = [\"{alt}\", \"{{task_id}}\"]\n"
    ));
    let counter = p.root().join("count");
    let bump = p.script(
        "bump.sh",
        &format!("#!/bin/bash\necho x >> {}\n", counter.display()),
    );
    p.drop_task("a", json!({"kind": "shell", "command": [bump]}));
    let (code, _, err) = p.run(&["run", "--once"], Duration::from_secs(30));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(&counter)
            .expect("count")
            .lines()
            .count(),
        1
    );

    // A person deletes the task's result: it runs again.
    let mut results = p.json("execution_results.json");
    results["results"] = json!([]);
    std::fs::write(
        p.state().join("execution_results.json"),
        serde_json::to_vec_pretty(&results).expect("json"),
    )
    .expect("edit");
    let (code, _, err) = p.run(&["run", "--once"], Duration::from_secs(30));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(&counter)
            .expect("count")
            .lines()
            .count(),
        2
    );

    // A person switches the decision to another tool and clears the result again.
    let mut decisions = p.json("routing_decisions.json");
    decisions["decisions"][0]["selected_tool"] = json!("alt");
    std::fs::write(
        p.state().join("routing_decisions.json"),
        serde_json::to_vec_pretty(&decisions).expect("json"),
    )
    .expect("edit");
    std::fs::write(
        p.state().join("execution_results.json"),
        serde_json::to_vec_pretty(&results).expect("json"),
    )
    .expect("edit");
    let (code, _, err) = p.run(&["run", "--once"], Duration::from_secs(30));
    assert_eq!(code, 0, "{err}");
    assert_eq!(p.result("a").expect("result")["tool_id"], "alt");
    assert_eq!(
        std::fs::read_to_string(&marker).expect("alt ran").trim(),
        "a"
    );
    assert_eq!(
        p.json("routing_decisions.json")["decisions"][0]["selected_tool"],
        "alt",
        "edit kept"
    );
}

#[test]
fn broken_state_file_is_reported_kept_and_adopted_once_fixed() {
    let p = Project::with_config(FAST);
    let ok = p.script("ok.sh", "#!/bin/bash\ntrue\n");
    p.drop_task("first", json!({"kind": "shell", "command": [ok]}));
    let mut engine = p.spawn(&["run"], "engine");
    wait_until("first succeeded", Duration::from_secs(20), || {
        p.status_of("first").as_deref() == Some("succeeded")
    });
    let good = std::fs::read(p.state().join("execution_results.json")).expect("results");
    let broken = b"{\n  \"results\": [\n    {,\n  ]\n}\n";
    std::fs::write(p.state().join("execution_results.json"), broken).expect("break it");
    wait_until("STATE_FILE_INVALID", Duration::from_secs(10), || {
        !p.events_of("STATE_FILE_INVALID").is_empty()
    });
    // The router goes on while the executor waits.
    p.drop_task("second", json!({"kind": "shell", "command": [ok]}));
    wait_until("second routed", Duration::from_secs(10), || {
        p.json("routing_decisions.json")["decisions"]
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d["task_id"] == "second"))
    });
    assert_eq!(
        std::fs::read(p.state().join("execution_results.json")).expect("read"),
        broken.to_vec(),
        "the broken file was not overwritten"
    );
    // A person fixes it: the executor resumes by itself.
    std::fs::write(p.state().join("execution_results.json"), &good).expect("fix it");
    wait_until("second succeeded", Duration::from_secs(20), || {
        p.status_of("second").as_deref() == Some("succeeded")
    });
    assert_eq!(p.status_of("first").as_deref(), Some("succeeded"));
    rustix_kill_term(&engine);
    let out = engine.wait().expect("engine exit");
    assert!(out.success(), "SIGTERM ends the engine cleanly: {out:?}");
    let stderr = p.stderr_of("engine");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("error:") && l.contains("execution_results.json:3:")),
        "an error line names the file and line:\n{stderr}"
    );
    let invalid = &p.events_of("STATE_FILE_INVALID")[0];
    assert!(
        invalid["data"]
            .to_string()
            .contains("execution_results.json"),
        "{invalid}"
    );
}

fn rustix_kill_term(child: &std::process::Child) {
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
}

#[test]
fn a_task_file_written_slowly_in_place_is_routed_once_complete() {
    let p = Project::with_config(FAST);
    let mut engine = p.spawn(&["run", "router", "executor"], "engine");
    let path = p.state().join("inbox").join("slow.json");
    let whole = r#"{"kind": "shell", "command": ["echo", "all three parts"], "description": "written in three steps"}"#;
    let (first, rest) = whole.split_at(30);
    let (second, third) = rest.split_at(30);
    // Three writes 50 ms apart to the file itself, as a careless tool would.
    let mut file = std::fs::File::create(&path).expect("create in place");
    for part in [first, second, third] {
        use std::io::Write;
        file.write_all(part.as_bytes()).expect("write part");
        file.flush().expect("flush");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(file);
    wait_until("the task to run", Duration::from_secs(20), || {
        p.status_of("slow").as_deref() == Some("succeeded")
    });
    engine.kill().expect("kill");
    engine.wait().expect("reap");
    let decisions = p.json("routing_decisions.json");
    let routed: Vec<_> = decisions["decisions"]
        .as_array()
        .expect("decisions")
        .iter()
        .collect();
    assert_eq!(routed.len(), 1);
    assert_eq!(routed[0]["task"]["description"], "written in three steps");
    assert!(
        std::fs::read_dir(p.state().join("rejected"))
            .expect("rejected")
            .next()
            .is_none(),
        "the half-written states were never rejected"
    );
    assert_eq!(p.events_of("TASK_ROUTED").len(), 1);
}

#[test]
fn a_thousand_files_published_at_once_are_each_routed_once() {
    let p = Project::with_config(&with_parallel(2));
    let staging = p.root().join("staging");
    std::fs::create_dir_all(&staging).expect("staging");
    for i in 0..1000 {
        std::fs::write(
            staging.join(format!("n{i:04}.json")),
            r#"{"kind": "shell", "command": ["true"]}"#,
        )
        .expect("task");
    }
    let mut engine = p.spawn(&["run", "router"], "router");
    for i in 0..1000 {
        let name = format!("n{i:04}.json");
        std::fs::rename(staging.join(&name), p.state().join("inbox").join(&name)).expect("publish");
    }
    wait_until("every file routed", Duration::from_secs(60), || {
        std::fs::read_dir(p.state().join("inbox")).is_ok_and(|d| d.count() == 0)
            && p.json("routing_decisions.json")["decisions"]
                .as_array()
                .is_some_and(|d| d.len() == 1000)
    });
    engine.kill().expect("kill");
    engine.wait().expect("reap");
    let decisions = p.json("routing_decisions.json");
    let mut ids: Vec<&str> = decisions["decisions"]
        .as_array()
        .expect("decisions")
        .iter()
        .map(|d| d["task_id"].as_str().unwrap_or_default())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 1000, "each routed exactly once");
    assert_eq!(p.events_of("TASK_ROUTED").len(), 1000);
    assert_eq!(
        std::fs::read_dir(p.state().join("tasks"))
            .expect("tasks")
            .count(),
        1000
    );
}

#[test]
fn polling_mode_runs_the_same_pipeline() {
    let p = Project::with_config(FAST);
    pipeline_tasks(&p);
    let (code, out, err) = p.run(
        &["run", "router", "executor", "--once", "--poll"],
        Duration::from_secs(60),
    );
    assert_eq!(code, 1, "e fails: {err}");
    assert!(out.starts_with("6 tasks: "), "{out}");
    let state = final_state(&p);
    assert_eq!(state["d"].0, "succeeded");
    assert_eq!(state["e"].0, "failed");
    assert!(
        !state.contains_key("f"),
        "f waits on the failed e: {state:?}"
    );
}
