//! The README's cooperating-tool snippets really work: run concurrently against the real
//! sidecar lock, they lose no request, leave no temp file, and `phase validate` accepts
//! what they wrote. And they refuse to overwrite a file they cannot parse.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::procs::wait_output;
use crate::support::{Project, require_tool};

/// How long one snippet may take (they wait for each other's lock).
const SNIPPET_LIMIT: Duration = Duration::from_secs(60);

/// The first README block that starts with "```<fence>\n<start>".
fn snippet(fence: &str, start: &str) -> String {
    super::readme_snippet(None, fence, start)
}

/// The README's snippets need python3, jq and flock.
fn tools_present() -> bool {
    let missing = ["python3", "jq", "flock"]
        .into_iter()
        .filter(|tool| !require_tool(tool))
        .count();
    missing == 0
}

fn setup() -> Project {
    let p = Project::initialised();
    p.write(
        "retry.py",
        snippet("python", "#!/usr/bin/env python3\n\"\"\"Usage: retry.py"),
    );
    p.write("cancel.sh", snippet("sh", "#!/bin/sh"));
    p
}

fn script(p: &Project, which: &str, task: &str) -> Command {
    let mut c = if which == "py" {
        let mut c = Command::new("python3");
        c.arg("retry.py");
        c
    } else {
        let mut c = Command::new("sh");
        c.arg("cancel.sh");
        c
    };
    c.arg(task)
        .current_dir(p.root())
        .env_remove("PHASE_STATE_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

#[test]
fn snippets_append_concurrently_without_losing_requests() {
    if !tools_present() {
        return;
    }
    let p = setup();
    let children: Vec<_> = (0..8)
        .flat_map(|i| [("py", format!("py{i}")), ("sh", format!("sh{i}"))])
        .map(|(which, task)| script(&p, which, &task).spawn().expect("spawn"))
        .collect();
    for child in children {
        let out = wait_output(child, SNIPPET_LIMIT, "a README snippet");
        assert!(out.status.success(), "{out:?}");
    }
    let control: Value = serde_json::from_str(&p.read(".state/control.json")).unwrap();
    let requests = control["requests"].as_array().unwrap();
    let mut tasks: Vec<&str> = requests
        .iter()
        .map(|r| r["task_id"].as_str().unwrap())
        .collect();
    tasks.sort();
    let mut expected: Vec<String> = (0..8)
        .flat_map(|i| [format!("py{i}"), format!("sh{i}")])
        .collect();
    expected.sort();
    assert_eq!(tasks, expected, "every request is there once");
    for r in requests {
        let want = if r["task_id"].as_str().unwrap().starts_with("py") {
            "retry"
        } else {
            "cancel"
        };
        assert_eq!(r["action"], want);
    }
    let leftovers: Vec<String> = p
        .entries(".state")
        .into_iter()
        .filter(|n| n.starts_with(".tmp-"))
        .collect();
    assert_eq!(leftovers, Vec::<String>::new());
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(p.path(".state/control.json"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o644);
    p.phase(&["validate"]).expect(0, "ok: 2 files valid\n", "");
}

#[test]
fn snippets_leave_an_unparsable_file_alone() {
    if !tools_present() {
        return;
    }
    let p = setup();
    let broken = "{\"requests\": [\n";
    p.write(".state/control.json", broken);
    for which in ["py", "sh"] {
        let child = script(&p, which, "t").spawn().expect("spawn");
        let out = wait_output(child, SNIPPET_LIMIT, which);
        assert!(!out.status.success(), "{which} must fail: {out:?}");
        assert_eq!(p.read(".state/control.json"), broken, "{which}");
    }
    let leftovers: Vec<String> = p
        .entries(".state")
        .into_iter()
        .filter(|n| n.starts_with(".tmp-"))
        .collect();
    assert_eq!(leftovers, Vec::<String>::new());
}
