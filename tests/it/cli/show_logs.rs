//! `phase show` (one task, everything about it) and `phase logs` (attempts, fix steps and
//! gate steps, `--list`, `--follow`, and the errors for unknown tasks, attempts and
//! steps), through the real binary.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;

use crate::support::procs::wait_output;
use crate::support::{Project, wait_until};

const FAST: &str = "[state]\nflush_interval_ms = 20\ndebounce_ms = 2\npoll_interval_ms = 200\n";

/// A project whose state directory is a copy of a fixture run (tests/fixtures/<name>).
fn fixture_project(name: &str) -> Project {
    let p = Project::empty();
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    for entry in walkdir::WalkDir::new(&from) {
        let entry = entry.expect("fixture readable");
        let rel = entry.path().strip_prefix(&from).expect("below");
        let to = p.state().join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&to).expect("mkdir");
        } else {
            std::fs::copy(entry.path(), &to).expect("copy");
        }
    }
    p
}

#[test]
fn show_prints_decision_attempts_analyses_and_fixes() {
    let p = fixture_project("state-v1");
    let run = p.phase(&["show", "lint-src"]);
    assert_eq!(run.code, 0, "{run:?}");
    let out = &run.stdout;
    for want in [
        "task lint-src: succeeded\n",
        "  file: .state/tasks/lint-src.json\n",
        "  dependents: test\n",
        "decision: tool ruff (fixed: routing.rules[0])",
        "  #1 failed on ruff: exit 1",
        "     argv: ruff check src/app.py\n",
        "     logs: logs/lint-src/1.out, logs/lint-src/1.err\n",
        "  #2 succeeded on ruff: exit 0",
        "     retry of patch lint-src-1-1\n",
        "analyses:\n  #1 lint (auto_fixable): mechanical_fix, ladder step mechanical_fix",
        "     src/app.py:1: F401 `os` imported but unused (ruff)\n",
        "fixes:\n  lint-src-1-1 (#1, engine ruff, step mechanical_fix): src/app.py applied, validated\n",
        "retry verdicts:\n  after #1: retry with lint-src-1-1",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    let run = p.phase(&["show", "test"]);
    assert!(
        run.stdout.contains("  depends on: build, lint-src\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn show_names_what_a_blocked_task_waits_on() {
    let p = fixture_project("state-v1-interventions");
    let run = p.phase(&["show", "report", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(doc["state"], "dep_failed");
    assert_eq!(
        doc["blocked_on"],
        json!([{"task": "fetch-data", "state": "canceled"}])
    );
    let run = p.phase(&["show", "report"]);
    assert!(
        run.stdout.contains("  waiting on: fetch-data (canceled)\n"),
        "{}",
        run.stdout
    );
    // A queued task: its inbox file is its file.
    let run = p.phase(&["show", "nightly-report"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.starts_with("task nightly-report: queued\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("  file: .state/inbox/"),
        "{}",
        run.stdout
    );
}

#[test]
fn show_and_logs_refuse_an_unknown_task_by_name() {
    let p = fixture_project("state-v1");
    p.phase(&["show", "nope"]).expect(
        2,
        "",
        "error: no task \"nope\" in .state (`phase status` lists them)\n",
    );
    p.phase(&["logs", "nope"]).expect(
        2,
        "",
        "error: no task \"nope\" in .state (`phase status` lists them)\n",
    );
    p.phase(&["logs", "../x"])
        .expect(2, "", "error: \"../x\" is not a task id\n");
}

#[test]
fn logs_list_steps_and_refuse_unknown_attempts_and_steps() {
    let p = fixture_project("state-v1");
    // What the attempts, ruff's fix step and a gate step would have written.
    p.write(".state/logs/lint-src/1.out", "src/app.py:1:8: F401\n");
    p.write(".state/logs/lint-src/1.err", "");
    p.write(
        ".state/logs/lint-src/1.ruff.fix.out",
        "Found 1 error (1 fixed)\n",
    );
    p.write(".state/logs/lint-src/1.ruff.fix.err", "fix warning\n");
    p.write(".state/logs/lint-src/2.out", "All checks passed!\n");
    p.write(".state/logs/lint-src/2.verify.out", "verified\n");
    p.write(".state/logs/lint-src/10.out", "tenth\n");

    p.phase(&["logs", "lint-src", "--list"]).expect(
        0,
        "logs/lint-src/1.err\nlogs/lint-src/1.out\nlogs/lint-src/1.ruff.fix.err\n\
         logs/lint-src/1.ruff.fix.out\nlogs/lint-src/2.out\nlogs/lint-src/2.verify.out\n\
         logs/lint-src/10.out\n",
        "",
    );
    p.phase(&["logs", "lint-src"])
        .expect(0, "All checks passed!\n", "");
    p.phase(&["logs", "lint-src", "--attempt", "1", "--step", "ruff"])
        .expect(0, "Found 1 error (1 fixed)\n", "");
    p.phase(&[
        "logs",
        "lint-src",
        "--attempt",
        "1",
        "--step",
        "ruff",
        "--stderr",
    ])
    .expect(0, "fix warning\n", "");
    p.phase(&["logs", "lint-src", "--step", "verify"])
        .expect(0, "verified\n", "");
    p.phase(&["logs", "lint-src", "--attempt", "9"]).expect(
        2,
        "",
        "error: task \"lint-src\" has no attempt 9 (it has attempts 1 to 2)\n",
    );
    p.phase(&["logs", "lint-src", "--attempt", "1", "--step", "claude"])
        .expect(
            2,
            "",
            "error: attempt 1 of task \"lint-src\" has no step \"claude\" (steps: ruff)\n",
        );
    p.phase(&["logs", "build", "--step", "ruff"]).expect(
        2,
        "",
        "error: attempt 1 of task \"build\" has no step \"ruff\" (no fix, agent or gate \
         step ran after it)\n",
    );
}

#[test]
fn logs_follow_prints_output_as_it_comes_and_ends_with_the_attempt() {
    let p = Project::with_config(FAST);
    let go = p.path("go");
    let talker = p.script(
        "talker.sh",
        &format!(
            "#!/bin/bash\necho first\nwhile [ ! -e {} ]; do sleep 0.02; done\necho second\n",
            go.display()
        ),
    );
    p.drop_task("t", json!({"kind": "shell", "command": [talker]}));
    let mut engine = p.spawn(&["run"], "engine");
    // Started before the task runs: it waits for the first attempt.
    let out_file = p.path("follow.out");
    let follow = p
        .cmd()
        .args(["logs", "t", "--follow"])
        .stdout(std::fs::File::create(&out_file).expect("create"))
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn phase logs --follow");
    wait_until(
        "the first line to be followed",
        Duration::from_secs(30),
        || std::fs::read_to_string(&out_file).is_ok_and(|s| s == "first\n"),
    );
    std::fs::write(&go, "").expect("go");
    let done = wait_output(follow, Duration::from_secs(30), "phase logs --follow");
    assert_eq!(done.status.code(), Some(0), "{done:?}");
    assert_eq!(
        std::fs::read_to_string(&out_file).expect("read"),
        "first\nsecond\n"
    );
    assert_eq!(p.status_of("t").as_deref(), Some("succeeded"));
    engine.kill().expect("kill");
    engine.wait().expect("reap");
}
