//! The acceptance gate (issue 9, item 4): an attempt that exits 0 is `verifying` until its
//! gate — a `verify` argv and/or a `review` tool, the task's own or its kind's routing
//! rule's — passes; a failed gate is a failure of that attempt, analysed, fixed and
//! retried through the ladder with the gate's output as the error, and quarantined with
//! that output in the report when it never passes. Through the real binary, with fake
//! tools from tests/tools/gate/.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::store::assert_valid_state_files;
use crate::support::{Project, fast_config, tool};

/// Fast timings, a short back-off.
const BASE: &str = fast_config!("200", "shutdown_grace_ms = 1000");

const RUN_LIMIT: Duration = Duration::from_secs(90);

fn gates_of(p: &Project, task: &str) -> Vec<Value> {
    p.json("fix_patches.json")["gates"]
        .as_array()
        .map(|g| g.iter().filter(|v| v["task_id"] == task).cloned().collect())
        .unwrap_or_default()
}

/// The (type, attempt) of every event of `task` among `kinds`, in log order.
fn story(p: &Project, task: &str, kinds: &[&str]) -> Vec<(String, u64)> {
    p.events()
        .iter()
        .filter(|e| e["task_id"] == task)
        .filter(|e| kinds.iter().any(|k| e["type"] == *k))
        .map(|e| {
            (
                e["type"].as_str().unwrap_or("").to_string(),
                e["attempt"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

fn owned(list: &[(&str, u64)]) -> Vec<(String, u64)> {
    list.iter().map(|(k, n)| (k.to_string(), *n)).collect()
}

fn str_of<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

#[test]
fn a_verify_that_fails_is_fixed_by_the_ladder_and_then_passes() {
    let p = Project::with_config(&format!(
        r#"{BASE}
[tools.repair]
command = ["sh", "{repair}", "{{prompt_file}}", "{{files}}"]

[recovery]
ladder = ["repair"]
"#,
        repair = tool("gate/repair.sh"),
    ));
    p.write("widget.txt", "broken\n");
    p.drop_task(
        "build",
        json!({"kind": "shell", "command": ["sh", "-c", "echo built"], "files": ["widget.txt"],
               "verify": ["sh", tool("gate/check.sh"), "{files}"]}),
    );
    let (code, _, err) = p.run(&["run", "--once"], RUN_LIMIT);
    assert_eq!(code, 0, "{err}");

    let result = p.result("build").expect("result");
    assert_eq!(
        (result["status"].as_str(), result["attempt"].as_u64()),
        (Some("succeeded"), Some(2)),
        "{result}"
    );
    let first = &result["attempts"][0];
    assert_eq!(first["status"], "failed");
    assert_eq!(first["exit_code"], 0, "the task itself exited 0");
    assert!(
        str_of(first, "/reason").starts_with("gate_failed: verify exit code 1: "),
        "{first}"
    );
    assert_eq!(p.read("widget.txt"), "fixed\n");

    let gates = gates_of(&p, "build");
    assert_eq!(gates.len(), 2, "{gates:?}");
    assert_eq!(
        (
            &gates[0]["attempt"],
            &gates[0]["passed"],
            &gates[0]["failed_step"]
        ),
        (&json!(1), &json!(false), &json!("verify"))
    );
    let verify = &gates[0]["steps"][0];
    assert_eq!(
        (&verify["step"], &verify["exit_code"]),
        (&json!("verify"), &json!(1))
    );
    assert_eq!(verify["log_out"], "logs/build/1.verify.out");
    assert!(str_of(verify, "/output").contains("assertion failed: expected 'fixed'"));
    assert!(
        p.read(".state/logs/build/1.verify.out")
            .contains("assertion failed")
    );
    assert_eq!(
        (&gates[1]["attempt"], &gates[1]["passed"]),
        (&json!(2), &json!(true))
    );

    let analysis = &p.json("error_analysis.json")["analyses"][0];
    assert_eq!(
        (
            str_of(analysis, "/error_type"),
            str_of(analysis, "/ladder_step")
        ),
        ("gate_failed", "repair"),
        "{analysis}"
    );
    let patches = p.json("fix_patches.json")["patches"].clone();
    assert_eq!(patches[0]["file"], "widget.txt", "{patches}");
    assert_eq!(patches[0]["fixer"], "repair");
    // repair.sh works only from a prompt that shows the gate's output.
    assert!(
        p.read(".state/logs/build/1.repair.prompt.md")
            .contains("## The acceptance gate")
    );
    assert_eq!(
        story(
            &p,
            "build",
            &[
                "TASK_STARTED",
                "TASK_VERIFYING",
                "GATE_PASSED",
                "GATE_FAILED",
                "TASK_FAILED",
                "ERROR_ANALYZED",
                "FIX_APPLIED",
                "TASK_RETRY_SCHEDULED",
                "TASK_SUCCEEDED"
            ]
        ),
        owned(&[
            ("TASK_STARTED", 1),
            ("TASK_VERIFYING", 1),
            ("GATE_FAILED", 1),
            ("TASK_FAILED", 1),
            ("ERROR_ANALYZED", 1),
            ("FIX_APPLIED", 1),
            ("TASK_RETRY_SCHEDULED", 1),
            ("TASK_STARTED", 2),
            ("TASK_VERIFYING", 2),
            ("GATE_PASSED", 2),
            ("TASK_SUCCEEDED", 2),
        ])
    );
    let failed = &p.events_of("TASK_FAILED")[0];
    assert_eq!(failed["data"]["error_type"], "gate_failed", "{failed}");
    assert_valid_state_files(&p.state());
}

#[test]
fn a_reviewer_rejects_with_reasons_and_then_approves() {
    // The reviewer counts its reviews outside the project: a reviewer that changes a file
    // in the workdir is refused (see below).
    let counts = tempfile::tempdir().expect("tempdir");
    let p = Project::with_config(&format!(
        r#"{BASE}
[tools.reviewer]
command = ["sh", "{reviewer}", "{{prompt_file}}", "{counter}"]
"#,
        reviewer = tool("gate/reviewer.sh"),
        counter = counts.path().join("reviews.count").display(),
    ));
    p.drop_task(
        "doc",
        json!({"kind": "shell", "command": ["sh", "-c", "echo body >> out.txt"],
               "files": ["out.txt"], "review": "reviewer"}),
    );
    let (code, _, err) = p.run(&["run", "--once"], RUN_LIMIT);
    assert_eq!(code, 0, "{err}");

    let result = p.result("doc").expect("result");
    assert_eq!(
        (result["status"].as_str(), result["attempt"].as_u64()),
        (Some("succeeded"), Some(2)),
        "{result}"
    );
    let reason = str_of(&result["attempts"][0], "/reason");
    assert_eq!(
        reason,
        "review_rejected: review by reviewer rejected it (exit code 1): Rejected: out.txt lacks \
         a header line"
    );
    let gates = gates_of(&p, "doc");
    assert_eq!(gates[0]["failed_step"], "review");
    let review = &gates[0]["steps"][0];
    assert_eq!(
        (&review["step"], &review["tool"]),
        (&json!("review"), &json!("reviewer"))
    );
    assert!(
        str_of(review, "/output")
            .contains("Rejected: out.txt lacks a header line\nPlease add one."),
        "every reason is kept: {review}"
    );
    assert_eq!(gates[1]["passed"], true);
    assert_eq!(str_of(&gates[1], "/steps/0/output"), "Approved: looks good");

    // The reviewer was shown the task, the diff of what the attempt changed, and that
    // there is no verify step.
    let prompt = p.read(".state/logs/doc/1.review.prompt.md");
    assert!(
        prompt.starts_with("# Review request: task `doc`, attempt 1"),
        "{prompt}"
    );
    assert!(
        prompt.contains("+++ b/out.txt") && prompt.contains("+body"),
        "{prompt}"
    );
    assert!(prompt.contains("The task has no verify step."), "{prompt}");

    let analysis = &p.json("error_analysis.json")["analyses"][0];
    assert_eq!(
        str_of(analysis, "/error_type"),
        "review_rejected",
        "{analysis}"
    );
    let failed = &p.events_of("GATE_FAILED")[0];
    assert_eq!(failed["data"]["failed_step"], "review", "{failed}");
    assert_valid_state_files(&p.state());
}

#[test]
fn a_gate_that_never_passes_ends_quarantined_with_its_output_in_the_report() {
    let p = Project::with_config(BASE);
    p.drop_task(
        "stuck",
        json!({"kind": "shell", "command": ["true"], "max_retries": 1,
               "verify": ["sh", "-c", "echo 'assertion: widget is still broken'; sleep 30"],
               "verify_timeout_seconds": 1}),
    );
    let (code, _, err) = p.run(&["run", "--once"], RUN_LIMIT);
    assert_eq!(code, 1, "{err}");

    let result = p.result("stuck").expect("result");
    assert_eq!(
        (result["status"].as_str(), result["attempt"].as_u64()),
        (Some("quarantined"), Some(2)),
        "{result}"
    );
    for gate in gates_of(&p, "stuck") {
        assert_eq!(
            str_of(&gate, "/steps/0/outcome"),
            "timed out after 1s",
            "{gate}"
        );
    }
    let report = p.read(".state/escalations/stuck.md");
    assert!(
        report.contains("assertion: widget is still broken"),
        "{report}"
    );
    assert!(report.contains("gate_failed"), "{report}");
    assert!(report.contains("logs/stuck/2.verify.out"), "{report}");
    let quarantined = &p.events_of("TASK_QUARANTINED")[0];
    assert_eq!(
        quarantined["data"]["error_type"], "gate_failed",
        "{quarantined}"
    );
    assert_valid_state_files(&p.state());
}

#[test]
fn a_rule_level_verify_applies_to_every_task_of_its_kind() {
    let p = Project::with_config(&format!(
        r#"{BASE}
[[routing.rules]]
kind = "build"
candidates = ["shell"]
verify = ["test", "-f", "{{task_id}}.ok"]
"#
    ));
    for id in ["b1", "b2"] {
        p.drop_task(
            id,
            json!({"kind": "build", "command": ["touch", format!("{id}.ok")]}),
        );
    }
    // Its own verify wins over the rule's.
    p.drop_task(
        "b3",
        json!({"kind": "build", "command": ["true"], "verify": ["true"]}),
    );
    p.drop_task("other", json!({"kind": "shell", "command": ["true"]}));
    let (code, _, err) = p.run(&["run", "--once"], RUN_LIMIT);
    assert_eq!(code, 0, "{err}");

    let decisions = p.json("routing_decisions.json")["decisions"].clone();
    let gate_of = |id: &str| {
        decisions
            .as_array()
            .and_then(|d| d.iter().find(|x| x["task_id"] == id))
            .map(|x| x["gate"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(
        gate_of("b1"),
        json!({"verify": ["test", "-f", "{task_id}.ok"]})
    );
    assert_eq!(gate_of("b2"), gate_of("b1"));
    assert_eq!(gate_of("b3"), json!({"verify": ["true"]}));
    assert_eq!(gate_of("other"), Value::Null);
    for id in ["b1", "b2", "b3"] {
        assert_eq!(p.status_of(id).as_deref(), Some("succeeded"), "{id}");
        let gates = gates_of(&p, id);
        assert_eq!(gates.len(), 1, "{id}: {gates:?}");
        assert_eq!(gates[0]["passed"], true, "{id}");
    }
    assert_eq!(
        str_of(&gates_of(&p, "b2")[0], "/steps/0/argv/2"),
        "b2.ok",
        "placeholders expand per task"
    );
    assert_eq!(p.status_of("other").as_deref(), Some("succeeded"));
    assert!(gates_of(&p, "other").is_empty());
    assert!(story(&p, "other", &["TASK_VERIFYING"]).is_empty());
    assert_valid_state_files(&p.state());
}

#[test]
fn without_recovery_a_task_waits_verifying_and_status_says_so() {
    let p = Project::with_config(BASE);
    p.drop_task(
        "t",
        json!({"kind": "shell", "command": ["true"], "verify": ["true"]}),
    );
    let (code, _, err) = p.run(&["run", "router", "executor", "--once"], RUN_LIMIT);
    assert_eq!(code, 1, "it has not succeeded: {err}");
    assert_eq!(p.status_of("t").as_deref(), Some("verifying"));
    let status = p.status_json();
    let task = status["tasks"]
        .as_array()
        .and_then(|t| t.iter().find(|x| x["id"] == "t"))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(task["state"], "verifying", "{status}");
    assert_eq!(
        task["reason"], "waiting for its acceptance gate",
        "{status}"
    );
    assert_eq!(p.events_of("TASK_VERIFYING").len(), 1);
    assert!(p.events_of("TASK_SUCCEEDED").is_empty());

    // Recovery, started later, runs the gate; the executor records the verdict.
    let (code, _, err) = p.run(&["run", "--once"], RUN_LIMIT);
    assert_eq!(code, 0, "{err}");
    assert_eq!(p.status_of("t").as_deref(), Some("succeeded"));
    assert_eq!(p.events_of("GATE_PASSED").len(), 1);
    assert_valid_state_files(&p.state());
}

#[test]
fn a_reviewer_that_edits_a_file_is_refused_and_the_task_goes_to_a_person() {
    let p = Project::with_config(BASE);
    let editor = p.script(
        "editor.sh",
        "#!/bin/sh\necho 'fixed it myself' >> out.txt\necho 'Approved: looks good'\n",
    );
    p.set_config(&format!(
        "{BASE}\n[tools.editor]\ncommand = [\"{editor}\", \"{{prompt_file}}\"]\n"
    ));
    p.drop_task(
        "doc",
        json!({"kind": "shell", "command": ["sh", "-c", "echo body >> out.txt"],
               "files": ["out.txt"], "review": "editor"}),
    );
    let (code, _, err) = p.run(&["run", "--once"], RUN_LIMIT);
    assert_eq!(code, 1, "{err}");

    let result = p.result("doc").expect("result");
    assert_eq!(
        (result["status"].as_str(), result["attempt"].as_u64()),
        (Some("quarantined"), Some(1)),
        "{result}"
    );
    let gates = gates_of(&p, "doc");
    assert_eq!(gates.len(), 1, "{gates:?}");
    assert_eq!(gates[0]["passed"], false);
    assert!(
        str_of(&gates[0], "/steps/0/outcome").starts_with("the reviewer changed files (out.txt)"),
        "{gates:?}"
    );
    let patches = p.json("fix_patches.json")["patches"].clone();
    assert_eq!(patches.as_array().map(Vec::len), Some(1), "{patches}");
    let patch = &patches[0];
    assert_eq!(
        (
            str_of(patch, "/file"),
            str_of(patch, "/fixer"),
            patch["out_of_scope"].as_bool()
        ),
        ("out.txt", "review:editor", Some(true)),
        "{patch}"
    );
    assert!(
        str_of(patch, "/diff").contains("+fixed it myself"),
        "{patch}"
    );
    assert_eq!(
        p.read("out.txt"),
        "body\nfixed it myself\n",
        "kept, not undone"
    );
    let analysis = &p.json("error_analysis.json")["analyses"][0];
    assert_eq!(
        (
            str_of(analysis, "/classification"),
            str_of(analysis, "/error_type")
        ),
        ("needs_human", "out_of_scope"),
        "{analysis}"
    );
    assert_valid_state_files(&p.state());
}

#[test]
fn an_unknown_placeholder_in_a_rule_verify_is_a_config_error_naming_the_field() {
    let p = Project::with_config(&format!(
        r#"{BASE}
[[routing.rules]]
kind = "build"
candidates = ["shell"]
verify = ["test", "-f", "{{task}}.ok"]
"#
    ));
    let (code, out, err) = p.run(&["validate"], Duration::from_secs(60));
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains("routing.rules[0].verify: unknown placeholder {task}"),
        "{err}"
    );
}
