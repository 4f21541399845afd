//! README "Reading the state": the Python reader and the jq line, run against the files
//! of a real run, print what `phase status --json` and the files say.

use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::support::procs::output_within;
use crate::support::{Project, require_tool};

/// The fenced block in README's "Reading the state" that starts with "```<fence>\n<start>".
fn snippet(fence: &str, start: &str) -> String {
    super::readme_snippet(Some("## Reading the state"), fence, start)
}

/// A run: `a` and `b` (after `a`) succeed, `bad` fails and is quarantined.
fn finished_project() -> Project {
    let p = Project::with_config("[state]\nflush_interval_ms = 20\ndebounce_ms = 2\n");
    p.drop_task("a", json!({"kind": "shell", "command": ["true"]}));
    p.drop_task(
        "b",
        json!({"kind": "shell", "command": ["true"], "depends_on": ["a"]}),
    );
    p.drop_task(
        "bad",
        json!({"kind": "shell", "command": ["false"], "max_retries": 0}),
    );
    let (code, _, err) = p.run(&["run", "--once"], Duration::from_secs(30));
    assert_eq!(code, 1, "bad does not succeed: {err}");
    p
}

fn run_in(p: &Project, cmd: &mut Command, what: &str) -> String {
    let out = output_within(cmd.current_dir(p.root()), Duration::from_secs(30), what);
    assert!(out.status.success(), "{what}: {out:?}");
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn the_python_reader_summarises_a_real_run() {
    if !require_tool("python3") {
        return;
    }
    let p = finished_project();
    p.write("reader.py", snippet("python", "#!/usr/bin/env python3"));
    let out = run_in(
        &p,
        Command::new("python3").arg("reader.py"),
        "the README's reader",
    );
    let run_id = p.json("runs.json")["runs"][0]["run_id"]
        .as_str()
        .expect("a run id")
        .to_string();
    assert_eq!(
        out,
        format!(
            "a shell succeeded attempts=1 fixes=-\n\
             b shell succeeded attempts=1 fixes=-\n\
             bad shell quarantined attempts=1 fixes=-\n\
             run {run_id} ended\n"
        )
    );
    // What it read agrees with the engine's own view.
    let status = p.status_json();
    assert_eq!(status["counts"], json!({"succeeded": 2, "quarantined": 1}));
}

#[test]
fn the_jq_line_lists_every_task_the_executor_recorded() {
    if !require_tool("jq") {
        return;
    }
    let p = finished_project();
    let line = snippet("sh", "jq -r");
    let out = run_in(
        &p,
        Command::new("sh").arg("-c").arg(line.trim()),
        "the README's jq line",
    );
    // In the order the attempts ended.
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        ["a succeeded 1", "b succeeded 1", "bad quarantined 1"]
    );
}
