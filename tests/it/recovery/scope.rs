//! Scope (issue 9): detectors and fixers stay on the task's own files, every change a fix
//! step makes is accounted for, a fix touching too many files goes to a person, failures
//! nothing can fix are retried by default, and reports a person can act on. Through the
//! real binary (and real ruff where a linter is needed); in-process where a state has to
//! be set up exactly ([`in_process`]).

mod in_process;

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::procs::wait_output;
use crate::support::store::assert_valid_state_files;
use crate::support::{Project, fast_config, require_tool, tool, wait_until};

/// Fast timings and a budget of 3 failures.
const BASE: &str = fast_config!("200", "shutdown_grace_ms = 1000\nmax_retries = 10");

const RUN_LIMIT: Duration = Duration::from_secs(90);

/// ruff as detector and fixer, for every kind.
fn ruff_project() -> Project {
    Project::with_config(&format!(
        r#"{BASE}
[recovery.detectors.ruff]
command = ["ruff", "check", "--no-cache", "--output-format", "json", "{{files}}"]
parser = "ruff_json"
fixer = ["ruff", "check", "--no-cache", "--fix", "{{files}}"]
"#
    ))
}

/// The whitespace linter (tests/tools/recovery/lint.sh) with `fixer` as its fixer.
fn lint_project(fixer: &str, recovery: &str) -> Project {
    Project::with_config(&format!(
        r#"{BASE}
[recovery]
{recovery}

[recovery.detectors.ws]
command = ["sh", "{lint}", "{{files}}"]
fixer = ["sh", "{fixer}", "{{files}}"]
"#,
        lint = tool("recovery/lint.sh"),
        fixer = tool(fixer),
    ))
}

fn array<'a>(v: &'a Value, what: &str) -> &'a Vec<Value> {
    v.as_array()
        .unwrap_or_else(|| panic!("{what} is not an array: {v}"))
}

fn patches_of(p: &Project) -> Vec<Value> {
    array(&p.json("fix_patches.json")["patches"], "patches").clone()
}

fn analyses_of(p: &Project, task: &str) -> Vec<Value> {
    array(&p.json("error_analysis.json")["analyses"], "analyses")
        .iter()
        .filter(|a| a["task_id"] == task)
        .cloned()
        .collect()
}

#[test]
fn a_lint_fix_stays_on_its_task_and_a_task_without_files_skips_the_linter() {
    if !require_tool("ruff") {
        return;
    }
    let p = ruff_project();
    const UNRELATED: &str = "import os\n\nprint('not any task\\'s file')\n";
    p.write("lint_me.py", "import os\nimport sys\n\nprint('hello')\n");
    p.write("unrelated.py", UNRELATED);
    p.drop_task(
        "lint",
        json!({"kind": "python", "command": ["ruff", "check", "--no-cache", "lint_me.py"],
               "files": ["lint_me.py"]}),
    );
    p.drop_task(
        "config",
        json!({"kind": "python", "command": ["sh", "-c", "cat settings.ini"]}),
    );
    let (code, _, err) = p.run(&["run", "--once"], RUN_LIMIT);
    assert_eq!(code, 1, "the config task cannot succeed: {err}");

    let lint = p.result("lint").expect("lint result");
    assert_eq!(
        (lint["status"].as_str(), lint["attempt"].as_u64()),
        (Some("succeeded"), Some(2))
    );
    assert_eq!(p.status_of("config").as_deref(), Some("quarantined"));
    assert_eq!(p.read("lint_me.py"), "\nprint('hello')\n");
    assert_eq!(
        p.read("unrelated.py"),
        UNRELATED,
        "no task's fix may touch it"
    );
    let patches = patches_of(&p);
    let owners: Vec<(&str, &str)> = patches
        .iter()
        .map(|x| {
            (
                x["task_id"].as_str().unwrap_or(""),
                x["file"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(owners, [("lint", "lint_me.py")], "{patches:?}");
    assert!(
        patches[0]["patch_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("lint-1-"))
    );
    let config = analyses_of(&p, "config");
    assert!(!config.is_empty());
    for a in &config {
        assert_eq!(a["plugins_run"], json!([]), "{a}");
        let skipped = array(&a["plugins_skipped"], "plugins_skipped");
        assert_eq!(skipped.len(), 1, "{a}");
        assert_eq!(skipped[0]["detector"], "ruff");
        assert!(
            skipped[0]["reason"]
                .as_str()
                .is_some_and(|r| r.contains("{files}")),
            "{a}"
        );
    }
    assert_valid_state_files(&p.state());
}

#[test]
fn a_directory_in_files_is_fixed_and_recorded_file_by_file() {
    if !require_tool("ruff") {
        return;
    }
    let p = ruff_project();
    p.write("api/a.py", "import os\n\nprint(1)\n");
    p.write("api/sub/b.py", "import sys\n\nprint(2)\n");
    p.write("api/clean.py", "print(3)\n");
    p.drop_task(
        "api",
        json!({"kind": "python", "command": ["ruff", "check", "--no-cache", "api/"],
               "files": ["api/"]}),
    );
    let (code, _, err) = p.run(&["run", "--once"], RUN_LIMIT);
    assert_eq!(code, 0, "{err}");

    let result = p.result("api").expect("result");
    assert_eq!(
        (result["status"].as_str(), result["attempt"].as_u64()),
        (Some("succeeded"), Some(2))
    );
    let patches = patches_of(&p);
    let files: Vec<&str> = patches.iter().filter_map(|x| x["file"].as_str()).collect();
    assert_eq!(files, ["api/a.py", "api/sub/b.py"], "{patches:?}");
    for x in &patches {
        assert_eq!(
            (x["task_id"].as_str(), x["fixer"].as_str()),
            (Some("api"), Some("ruff"))
        );
        assert_eq!(
            (x["applied"].as_bool(), x["validated"].as_bool()),
            (Some(true), Some(true))
        );
        assert_eq!(x.get("out_of_scope"), None, "in scope: {x}");
    }
    let applied = p.events_of("FIX_APPLIED");
    assert_eq!(applied.len(), 1);
    assert_eq!(
        applied[0]["data"]["files"],
        json!(["api/a.py", "api/sub/b.py"])
    );
    assert_eq!(p.read("api/a.py"), "\nprint(1)\n");
    assert_eq!(p.read("api/sub/b.py"), "\nprint(2)\n");
    assert_valid_state_files(&p.state());
}

#[test]
fn a_change_outside_the_fix_scope_is_recorded_and_goes_to_a_person() {
    let p = lint_project("recovery/stray-fixer.sh", "");
    p.write("notes.txt", "trailing   \n");
    let lint = tool("recovery/lint.sh");
    p.drop_task(
        "notes",
        json!({"kind": "lint", "command": ["sh", lint, "notes.txt"], "files": ["notes.txt"]}),
    );
    p.drop_task(
        "after",
        json!({"kind": "shell", "command": ["true"], "depends_on": ["notes"]}),
    );
    let (code, _, err) = p.run(&["run", "--once"], RUN_LIMIT);
    assert_eq!(code, 1, "{err}");

    let result = p.result("notes").expect("result");
    assert_eq!(
        (result["status"].as_str(), result["attempt"].as_u64()),
        (Some("quarantined"), Some(1))
    );
    let patches = patches_of(&p);
    let seen: Vec<(&str, &str, bool)> = patches
        .iter()
        .map(|x| {
            (
                x["task_id"].as_str().unwrap_or(""),
                x["file"].as_str().unwrap_or(""),
                x["out_of_scope"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [("notes", "notes.txt", false), ("notes", "stray.txt", true)]
    );
    assert!(
        patches[1]["diff"]
            .as_str()
            .is_some_and(|d| d.contains("+touched by stray-fixer"))
    );
    assert_eq!(
        p.read("stray.txt"),
        "touched by stray-fixer\n",
        "kept, not undone"
    );
    let a = &analyses_of(&p, "notes")[0];
    assert_eq!(
        (
            a["classification"].as_str(),
            a["error_type"].as_str(),
            a["ladder_step"].as_str()
        ),
        (
            Some("needs_human"),
            Some("out_of_scope"),
            Some("quarantine")
        )
    );
    let verdict = &p.json("fix_patches.json")["retries"][0];
    assert_eq!(verdict["retry_recommended"], false);

    let report = std::fs::read_to_string(p.state().join("escalations/notes.md")).expect("report");
    for needle in [
        "## Changed out of scope",
        "`stray.txt (notes-1-2, attempt 1)`",
        "**out of scope**",
        "**Blocked:** 1 task(s) wait on this one and cannot run until it succeeds: after",
        // lint.sh reports on stdout: the report carries its end.
        "End of stdout:",
        "notes.txt:1:9: E001 trailing whitespace",
    ] {
        assert!(report.contains(needle), "{needle:?} missing:\n{report}");
    }
    let state = std::path::absolute(p.state()).expect("absolute");
    let config = std::path::absolute(p.path("config/coordinator.toml")).expect("absolute");
    let retry = format!(
        "phase retry notes --state-dir {} --config {}",
        state.display(),
        config.display()
    );
    assert!(report.contains(&retry), "{retry:?} missing:\n{report}");
    let quarantined = p.events_of("TASK_QUARANTINED");
    assert_eq!(quarantined[0]["data"]["retry"], retry.as_str());
    assert_eq!(quarantined[0]["data"]["dependents"], json!(["after"]));
    assert_valid_state_files(&p.state());
}

#[test]
fn a_fix_touching_more_than_max_files_changed_is_escalated() {
    let p = lint_project("recovery/strip.sh", "max_files_changed = 2");
    let files = ["a.txt", "b.txt", "c.txt"];
    for f in files {
        p.write(f, "x  \n");
    }
    let mut command = vec!["sh".to_string(), tool("recovery/lint.sh")];
    command.extend(files.map(String::from));
    p.drop_task(
        "wide",
        json!({"kind": "lint", "command": command, "files": files}),
    );
    let (code, _, err) = p.run(&["run", "--once"], RUN_LIMIT);
    assert_eq!(code, 1, "{err}");

    let result = p.result("wide").expect("result");
    assert_eq!(
        (result["status"].as_str(), result["attempt"].as_u64()),
        (Some("quarantined"), Some(1))
    );
    let escalations = p.events_of("SCOPE_ESCALATION");
    assert_eq!(escalations.len(), 1, "{escalations:?}");
    let data = &escalations[0]["data"];
    assert_eq!(
        (
            data["source"].as_str(),
            data["count"].as_u64(),
            data["limit"].as_u64()
        ),
        (Some("fix_step"), Some(3), Some(2))
    );
    assert_eq!(data["files"], json!(files));
    let a = &analyses_of(&p, "wide")[0];
    assert_eq!(
        (a["classification"].as_str(), a["error_type"].as_str()),
        (Some("needs_human"), Some("scope_escalation"))
    );
    assert_eq!(patches_of(&p).len(), 3, "every change is recorded");
    let report = std::fs::read_to_string(p.state().join("escalations/wide.md")).expect("report");
    assert!(
        report.contains("more than recovery.max_files_changed (2)"),
        "{report}"
    );
    assert_valid_state_files(&p.state());
}

#[test]
fn a_plain_failure_is_retried_by_default_and_succeeds_at_attempt_3() {
    let p = Project::initialised();
    let counter = p.path("runs");
    p.drop_task(
        "flaky",
        json!({"kind": "shell", "command": [tool("executor/flaky.sh"), counter, "2"]}),
    );
    let (code, _, err) = p.run(&["run", "--once"], RUN_LIMIT);
    assert_eq!(code, 0, "{err}");

    let result = p.result("flaky").expect("result");
    assert_eq!(
        (result["status"].as_str(), result["attempt"].as_u64()),
        (Some("succeeded"), Some(3))
    );
    let analyses = analyses_of(&p, "flaky");
    let actions: Vec<&str> = analyses
        .iter()
        .filter_map(|a| a["recommended_action"].as_str())
        .collect();
    assert_eq!(actions, ["retry", "retry"]);
    let retries = array(&p.json("fix_patches.json")["retries"], "retries").clone();
    assert!(
        retries.iter().all(|r| r["retry_recommended"] == true),
        "{retries:?}"
    );
    assert_eq!(p.events_of("TASK_RETRY_SCHEDULED").len(), 2);
}

#[test]
fn a_task_whose_files_overlap_a_fix_in_progress_starts_only_after_the_fix_ends() {
    // The fixer records when it starts, then waits for the test's go-ahead, fixes, and
    // records when it ends: B becomes ready while it runs. The tasks work in `work/`; the
    // stamps are kept apart, so that no fix sees them as its changes.
    let p = Project::with_config(BASE);
    let stamps = tempfile::tempdir().expect("tempdir");
    let stamp = |name: &str| stamps.path().join(name).to_string_lossy().into_owned();
    let fixer = p.script(
        "slow-fixer.sh",
        &format!(
            "#!/bin/sh\ndate +%s%N > {started}\ni=0\nwhile [ ! -f {go} ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done\nsed -i 's/[[:blank:]]*$//' \"$@\"\ndate +%s%N > {ended}\n",
            started = stamp("fix.started"),
            go = stamp("go"),
            ended = stamp("fix.ended"),
        ),
    );
    p.set_config(&format!(
        "{BASE}\n[recovery.detectors.ws]\ncommand = [\"sh\", \"{lint}\", \"{{files}}\"]\nfixer = [\"{fixer}\", \"{{files}}\"]\n",
        lint = tool("recovery/lint.sh"),
    ));
    p.write("work/shared.txt", "x  \n");
    let lint = tool("recovery/lint.sh");
    p.drop_task(
        "a",
        json!({"kind": "lint", "workdir": "work", "command": ["sh", lint, "shared.txt"],
               "files": ["shared.txt"]}),
    );
    // Its stderr is kept outside the project too (a file the fix would see change).
    let log = stamp("run.stderr");
    let run = p
        .cmd()
        .args(["-v", "run", "--once"])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("stderr file"))
        .spawn()
        .expect("spawn phase");
    let stderr = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_until("the fix of a to start", RUN_LIMIT, || {
        std::path::Path::new(&stamp("fix.started")).exists()
    });
    let record = p.json("fixes_in_progress.json");
    assert_eq!(record["fixes"][0]["task_id"], "a", "{record}");
    let shared = std::path::absolute(p.path("work/shared.txt")).expect("absolute");
    assert_eq!(
        record["fixes"][0]["paths"],
        json!([shared.to_string_lossy()]),
        "{record}"
    );
    p.drop_task(
        "b",
        json!({"kind": "shell", "workdir": "work", "files": ["./"],
               "command": ["sh", "-c", format!("date +%s%N > {}", stamp("b.started"))]}),
    );
    wait_until("b to be held back", RUN_LIMIT, || {
        stderr().contains("waiting on the fix of task a: it may change the same files")
    });
    assert!(
        !std::path::Path::new(&stamp("b.started")).exists(),
        "b started during the fix"
    );
    // `phase status` says what b waits for, and who must act.
    let status = p.status_json();
    let b = status["tasks"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["id"] == "b"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (&b["state"], &b["waiting_on"]),
        (&json!("routed"), &json!("recovery")),
        "{b}"
    );
    assert!(
        b["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("waiting for the fix of a (")),
        "{b}"
    );
    crate::support::procs::touch(std::path::Path::new(&stamp("go")));
    let out = wait_output(run, RUN_LIMIT, "phase run --once");
    assert_eq!(out.status.code(), Some(0), "{}", stderr());

    let read_ns = |name: &str| -> u128 {
        std::fs::read_to_string(stamp(name))
            .unwrap_or_default()
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    assert!(
        read_ns("b.started") >= read_ns("fix.ended"),
        "b started before the fix of a ended"
    );
    assert_eq!(p.read("work/shared.txt"), "x\n");
    for (task, attempt) in [("a", 2), ("b", 1)] {
        let r = p.result(task).expect("result");
        assert_eq!(
            (r["status"].as_str(), r["attempt"].as_u64()),
            (Some("succeeded"), Some(attempt)),
            "{task}: {r}"
        );
    }
    assert_eq!(p.json("fixes_in_progress.json")["fixes"], json!([]));
    assert_valid_state_files(&p.state());
}
