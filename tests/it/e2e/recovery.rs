//! The whole loop through the real binary: fail → analyse → fix → retry → succeed, the
//! ladder up to quarantine, transient and needs-human failures, crashes, hand-written
//! patches, `phase retry`, separate processes, and a real linter (ruff).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::procs::wait_output;
use crate::support::store::assert_valid_state_files;
use crate::support::{Project, fast_config, require_tool, wait_until};

const BASE: &str = fast_config!("200", "shutdown_grace_ms = 1000\nmax_retries = 10");

/// The shipped demo's linter (`file:line:col: W291 trailing whitespace`, exit 1 if any)
/// and its fixer, so the tests also prove the tools the README points at.
fn demo_tool(name: &str) -> String {
    format!("{}/examples/demo/bin/{name}", env!("CARGO_MANIFEST_DIR"))
}

const PATTERN: &str =
    r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<rule>\w+) (?P<message>.*)$";

/// A project with the whitespace linter as detector + fixer, and two fake agent tiers.
fn lint_project(extra: &str) -> (Project, String) {
    let p = Project::with_config(BASE);
    let lint = demo_tool("lint.sh");
    let fix = demo_tool("fix-whitespace.sh");
    let agent = p.script(
        "agent.sh",
        "#!/bin/bash\n# A fake coding agent: notes what it was asked and edits the task's file (a tier that\n# changes none of them climbs on).\necho \"$1 read $2\" >> agent-notes.txt\nfor f in notes.txt; do [ -f \"$f\" ] && echo \"# touched by $1\" >> \"$f\"; done\n",
    );
    let config = format!(
        r#"{BASE}
{extra}
[recovery.detectors.whitespace]
command = ["{lint}", "{{files}}"]
parser = "generic"
pattern = '{PATTERN}'
fixer = ["{fix}", "{{files}}"]

[tools.agent1]
command = ["{agent}", "agent1", "{{prompt_file}}"]

[tools.agent2]
command = ["{agent}", "agent2", "{{prompt_file}}"]
"#
    );
    p.set_config(&config);
    (p, lint)
}

fn seq_of(events: &[Value], kind: &str, task: &str, attempt: Option<u64>) -> u64 {
    events
        .iter()
        .find(|e| {
            e["type"] == kind
                && e["task_id"] == task
                && attempt.is_none_or(|a| e["attempt"].as_u64() == Some(a))
        })
        .and_then(|e| e["seq"].as_u64())
        .unwrap_or_else(|| panic!("no {kind} for {task} attempt {attempt:?}"))
}

#[test]
fn failure_is_analysed_fixed_mechanically_retried_and_succeeds() {
    let (p, lint) = lint_project("");
    std::fs::write(
        p.root().join("notes.txt"),
        "clean line\ntrailing   \nend\t\n",
    )
    .expect("file");
    p.drop_task(
        "lint",
        json!({"kind": "lint", "command": [lint, "notes.txt"], "files": ["notes.txt"]}),
    );
    let (code, _, err) = p.run(&["run", "--once"], Duration::from_secs(60));
    assert_eq!(code, 0, "{err}");

    let result = p.result("lint").expect("result");
    assert_eq!(result["status"], "succeeded");
    assert_eq!(result["attempt"], 2);
    assert_eq!(
        std::fs::read_to_string(p.root().join("notes.txt")).expect("read"),
        "clean line\ntrailing\nend\n"
    );
    let patches = p.json("fix_patches.json");
    let patch = &patches["patches"][0];
    assert_eq!(patch["task_id"], "lint");
    assert_eq!(patch["file"], "notes.txt");
    assert_eq!(patch["applied"], true);
    assert_eq!(patch["validated"], true);
    let diff = patch["diff"].as_str().expect("diff");
    assert!(
        diff.contains("-trailing   ") && diff.contains("+trailing"),
        "{diff}"
    );
    let analysis = &p.json("error_analysis.json")["analyses"][0];
    assert_eq!(analysis["classification"], "auto_fixable");
    assert_eq!(analysis["recommended_action"], "mechanical_fix");
    let from_detector = analysis["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .filter(|i| i["detector"] == "whitespace")
        .count();
    assert_eq!(from_detector, 2, "{analysis}");
    assert_valid_state_files(&p.state());

    let events = p.events();
    let order = [
        seq_of(&events, "TASK_STARTED", "lint", Some(1)),
        seq_of(&events, "TASK_FAILED", "lint", Some(1)),
        seq_of(&events, "ERROR_ANALYZED", "lint", Some(1)),
        seq_of(&events, "FIX_APPLIED", "lint", None),
        seq_of(&events, "TASK_RETRY_SCHEDULED", "lint", None),
        seq_of(&events, "TASK_STARTED", "lint", Some(2)),
        seq_of(&events, "TASK_SUCCEEDED", "lint", Some(2)),
    ];
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "events out of causal order: {order:?}"
    );
}

#[test]
fn always_failing_task_climbs_the_ladder_and_is_quarantined() {
    let (p, _lint) = lint_project(
        "[recovery]\nmax_failures = 4\nladder = [\"mechanical_fix\", \"agent1\", \"agent2\"]\n",
    );
    std::fs::write(p.root().join("notes.txt"), "needs a fix   \n").expect("file");
    let counter = p.root().join("tries");
    let failing = p.script(
        "always-fails.sh",
        &format!(
            "#!/bin/bash\necho x >> {c}\nn=$(wc -l < {c})\necho \"boom number $n\" >&2\nexit 1\n",
            c = counter.display()
        ),
    );
    p.drop_task(
        "doomed",
        json!({"kind": "test", "command": [failing], "files": ["notes.txt"]}),
    );
    let ok = p.script("ok.sh", "#!/bin/bash\ntrue\n");
    p.drop_task(
        "after",
        json!({"kind": "shell", "command": [ok], "depends_on": ["doomed"]}),
    );
    let (code, _, err) = p.run(&["run", "--once"], Duration::from_secs(60));
    assert_eq!(code, 1, "a quarantined task is not a success: {err}");

    assert_eq!(p.status_of("doomed").as_deref(), Some("quarantined"));
    assert_eq!(p.status_of("after").as_deref(), Some("dep_failed"));
    let analyses = p.json("error_analysis.json");
    let steps: Vec<&str> = analyses["analyses"]
        .as_array()
        .expect("analyses")
        .iter()
        .filter(|a| a["task_id"] == "doomed")
        .map(|a| a["ladder_step"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(steps, ["mechanical_fix", "agent1", "agent2", "quarantine"]);
    let notes = std::fs::read_to_string(p.root().join("agent-notes.txt")).expect("agents ran");
    assert!(
        notes.contains("agent1 read") && notes.contains("agent2 read"),
        "{notes}"
    );
    let report = std::fs::read_to_string(p.state().join("escalations/doomed.md")).expect("report");
    for n in 1..=4 {
        assert!(
            report.contains(&format!("boom number {n}")),
            "attempt {n} error missing:\n{report}"
        );
    }
    assert!(report.contains("phase retry doomed"), "{report}");
    assert_eq!(p.events_of("TASK_QUARANTINED").len(), 1);
    assert_eq!(p.events_of("TASK_ESCALATED").len(), 1);
    assert_valid_state_files(&p.state());
}

#[test]
fn transient_failure_retries_without_a_fix_and_missing_binary_quarantines_at_once() {
    let (p, _) = lint_project("");
    let flag = p.root().join("second-time");
    let flaky = p.script(
        "flaky.sh",
        &format!(
            "#!/bin/bash\nif [ -e {f} ]; then exit 0; fi\ntouch {f}\nsleep 20\n",
            f = flag.display()
        ),
    );
    p.drop_task(
        "flaky",
        json!({"kind": "shell", "command": [flaky], "timeout_seconds": 1}),
    );
    p.drop_task(
        "missing",
        json!({"kind": "shell", "command": ["no-such-binary-for-phase"]}),
    );
    let (code, _, err) = p.run(&["run", "--once"], Duration::from_secs(60));
    assert_eq!(code, 1, "{err}");

    let flaky_result = p.result("flaky").expect("flaky");
    assert_eq!(flaky_result["status"], "succeeded");
    assert_eq!(flaky_result["attempts"][0]["status"], "timed_out");
    let analyses = p.json("error_analysis.json");
    let of = |id: &str| -> Vec<Value> {
        analyses["analyses"]
            .as_array()
            .expect("analyses")
            .iter()
            .filter(|a| a["task_id"] == id)
            .cloned()
            .collect()
    };
    assert_eq!(of("flaky")[0]["classification"], "transient");
    assert_eq!(of("flaky")[0]["recommended_action"], "retry");
    let patches = p.json("fix_patches.json");
    assert!(
        !patches["patches"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["task_id"] == "flaky")),
        "no fix for a transient failure"
    );

    assert_eq!(p.status_of("missing").as_deref(), Some("quarantined"));
    assert_eq!(
        p.result("missing").expect("missing")["attempt"],
        1,
        "no retry"
    );
    let missing = of("missing");
    assert_eq!(missing.len(), 1, "no ladder climb: {missing:?}");
    assert_eq!(missing[0]["classification"], "needs_human");
    assert!(p.state().join("escalations/missing.md").exists());
}

#[test]
fn hand_written_patch_is_applied_and_validated() {
    let (p, lint) = lint_project("");
    std::fs::write(p.root().join("doc.txt"), "alpha\nbeta\n").expect("file");
    p.drop_task(
        "doc",
        json!({"kind": "lint", "command": [lint, "doc.txt"], "files": ["doc.txt"]}),
    );
    let (code, _, err) = p.run(&["run", "--once"], Duration::from_secs(30));
    assert_eq!(code, 0, "{err}");

    let mut patches = p.json("fix_patches.json");
    if patches.is_null() {
        patches = json!({"schema_version": 1, "run_id": "person", "updated_at": "2026-01-01T00:00:00.000Z", "patches": [], "retries": []});
    }
    let diff = "--- a/doc.txt\n+++ b/doc.txt\n@@ -1,2 +1,2 @@\n alpha\n-beta\n+gamma\n";
    patches["patches"]
        .as_array_mut()
        .expect("patches")
        .push(json!({
            "patch_id": "by-hand-1", "task_id": "doc", "file": "doc.txt", "diff": diff,
            "applied": false, "validated": false, "source": "human"
        }));
    std::fs::write(
        p.state().join("fix_patches.json"),
        serde_json::to_vec_pretty(&patches).expect("json"),
    )
    .expect("write patch");
    let mut engine = p.spawn(&["run"], "engine");
    wait_until("the patch applied", Duration::from_secs(20), || {
        p.json("fix_patches.json")["patches"]
            .as_array()
            .is_some_and(|a| {
                a.iter()
                    .any(|x| x["patch_id"] == "by-hand-1" && x["applied"] == true)
            })
    });
    engine.kill().expect("kill");
    engine.wait().expect("reap");
    assert_eq!(
        std::fs::read_to_string(p.root().join("doc.txt")).expect("read"),
        "alpha\ngamma\n"
    );
    let patch = p.json("fix_patches.json")["patches"]
        .as_array()
        .expect("patches")
        .iter()
        .find(|x| x["patch_id"] == "by-hand-1")
        .cloned()
        .expect("patch kept");
    assert_eq!(patch["validated"], true);
    assert!(!p.events_of("FIX_APPLIED").is_empty());
}

#[test]
fn retry_gives_a_quarantined_task_a_fresh_budget() {
    let (p, _) = lint_project("[recovery]\nmax_failures = 1\nladder = []\n");
    let gate = p.root().join("gate");
    let gated = p.script(
        "gated.sh",
        &format!("#!/bin/bash\n[ -e {} ]\n", gate.display()),
    );
    let ok = p.script("ok.sh", "#!/bin/bash\ntrue\n");
    p.drop_task("gated", json!({"kind": "shell", "command": [gated]}));
    p.drop_task(
        "child",
        json!({"kind": "shell", "command": [ok], "depends_on": ["gated"]}),
    );
    let (code, _, _) = p.run(&["run", "--once"], Duration::from_secs(30));
    assert_eq!(code, 1);
    assert_eq!(p.status_of("gated").as_deref(), Some("quarantined"));
    assert_eq!(p.status_of("child").as_deref(), Some("dep_failed"));

    std::fs::write(&gate, "").expect("open the gate");
    let (code, out, err) = p.run(&["retry", "gated"], Duration::from_secs(10));
    assert_eq!(code, 0, "retry: {out}{err}");
    let (code, _, err) = p.run(&["run", "--once"], Duration::from_secs(30));
    assert_eq!(code, 0, "after retry every task succeeds: {err}");
    assert_eq!(p.result("gated").expect("gated")["attempt"], 2);
    assert_eq!(p.status_of("child").as_deref(), Some("succeeded"));
}

fn scenario(p: &Project, lint: &str) {
    std::fs::write(p.root().join("notes.txt"), "x  \n").expect("file");
    let ok = p.script("ok.sh", "#!/bin/bash\ntrue\n");
    p.drop_task(
        "lint",
        json!({"kind": "lint", "command": [lint, "notes.txt"], "files": ["notes.txt"]}),
    );
    p.drop_task(
        "after",
        json!({"kind": "shell", "command": [ok], "depends_on": ["lint"]}),
    );
    p.drop_task(
        "missing",
        json!({"kind": "shell", "command": ["no-such-binary-for-phase"]}),
    );
    p.drop_task(
        "orphan",
        json!({"kind": "shell", "command": [ok], "depends_on": ["missing"]}),
    );
}

fn outcome(p: &Project) -> BTreeMap<String, (String, u64, Vec<String>)> {
    let analyses = p.json("error_analysis.json");
    p.json("execution_results.json")["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let id = r["task_id"].as_str().unwrap_or_default().to_string();
            let steps = analyses["analyses"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter(|x| x["task_id"] == id.as_str())
                        .map(|x| x["ladder_step"].as_str().unwrap_or_default().to_string())
                        .collect()
                })
                .unwrap_or_default();
            (
                id,
                (
                    r["status"].as_str().unwrap_or_default().to_string(),
                    r["attempt"].as_u64().unwrap_or_default(),
                    steps,
                ),
            )
        })
        .collect()
}

#[test]
fn three_separate_processes_match_one_process() {
    let (one, lint1) = lint_project("");
    scenario(&one, &lint1);
    let (code, _, err) = one.run(&["run", "--once"], Duration::from_secs(60));
    assert_eq!(code, 1, "{err}");

    let (three, lint3) = lint_project("");
    scenario(&three, &lint3);
    let children: Vec<_> = ["router", "executor", "recovery"]
        .iter()
        .map(|phase| (phase, three.spawn(&["run", phase, "--once"], phase)))
        .collect();
    for (phase, child) in children {
        let out = wait_output(child, Duration::from_secs(60), phase);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{phase}: {}",
            three.stderr_of(phase)
        );
    }
    let a = outcome(&one);
    assert_eq!(a, outcome(&three));
    assert_eq!(a["lint"].0, "succeeded");
    assert_eq!(a["after"].0, "succeeded");
    assert_eq!(a["missing"].0, "quarantined");
    assert_eq!(a["orphan"].0, "dep_failed");
}

#[test]
fn kill_9_during_analysis_and_during_a_fix_resumes_at_the_right_step() {
    for phase_to_interrupt in ["detector", "fixer"] {
        let p = Project::with_config(BASE);
        let marker = p.root().join(format!("{phase_to_interrupt}-started"));
        let lint = demo_tool("lint.sh");
        let fix_tool = demo_tool("fix-whitespace.sh");
        let slow_lint = p.script(
            "slow-lint.sh",
            &if phase_to_interrupt == "detector" {
                format!(
                    "#!/bin/bash\ntouch {}\nsleep 1\nexec {lint} \"$@\"\n",
                    marker.display()
                )
            } else {
                format!("#!/bin/bash\nexec {lint} \"$@\"\n")
            },
        );
        let fix = p.script(
            "fix.sh",
            &if phase_to_interrupt == "fixer" {
                format!(
                    "#!/bin/bash\ntouch {}\nsleep 1\nexec {fix_tool} \"$@\"\n",
                    marker.display()
                )
            } else {
                format!("#!/bin/bash\nexec {fix_tool} \"$@\"\n")
            },
        );
        p.set_config(&format!(
            "{BASE}\n[recovery.detectors.whitespace]\ncommand = [\"{slow_lint}\", \"{{files}}\"]\nparser = \"generic\"\npattern = '{PATTERN}'\nfixer = [\"{fix}\", \"{{files}}\"]\n"
        ));
        std::fs::write(p.root().join("notes.txt"), "x  \n").expect("file");
        p.drop_task(
            "t",
            json!({"kind": "lint", "command": [lint, "notes.txt"], "files": ["notes.txt"]}),
        );
        let mut engine = p.spawn(&["run"], "engine");
        wait_until(
            format!("the {phase_to_interrupt} to start"),
            Duration::from_secs(20),
            || marker.exists(),
        );
        engine.kill().expect("kill -9");
        engine.wait().expect("reap");

        let (code, _, err) = p.run(&["run", "--once"], Duration::from_secs(60));
        assert_eq!(code, 0, "{phase_to_interrupt}: {err}");
        assert_eq!(p.status_of("t").as_deref(), Some("succeeded"));
        let analyses = p.json("error_analysis.json");
        let mine: Vec<&Value> = analyses["analyses"]
            .as_array()
            .expect("analyses")
            .iter()
            .filter(|a| a["task_id"] == "t")
            .collect();
        assert_eq!(
            mine.len(),
            1,
            "{phase_to_interrupt}: attempt 1 analysed exactly once: {mine:?}"
        );
        assert_eq!(
            mine[0]["ladder_step"], "mechanical_fix",
            "{phase_to_interrupt}"
        );
        let patches = p.json("fix_patches.json");
        assert!(
            patches["patches"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x["validated"] == true)),
            "{phase_to_interrupt}: the resumed fix is recorded: {patches}"
        );
    }
}

#[test]
fn real_ruff_detects_fixes_and_the_loop_succeeds() {
    if !require_tool("ruff") {
        return;
    }
    let p = Project::with_config(BASE);
    p.set_config(&format!(
        "{BASE}\n[recovery.detectors.ruff]\ncommand = [\"ruff\", \"check\", \"--no-cache\", \"--output-format\", \"json\", \"{{files}}\"]\nparser = \"ruff_json\"\nfixer = [\"ruff\", \"check\", \"--no-cache\", \"--fix\", \"{{files}}\"]\n"
    ));
    std::fs::write(
        p.root().join("app.py"),
        "import os\nimport sys\n\nprint(\"hello\")\n",
    )
    .expect("py");
    p.drop_task(
        "py",
        json!({"kind": "lint", "command": ["ruff", "check", "--no-cache", "app.py"], "files": ["app.py"]}),
    );
    let (code, _, err) = p.run(&["run", "--once"], Duration::from_secs(60));
    assert_eq!(code, 0, "{err}");
    assert_eq!(p.status_of("py").as_deref(), Some("succeeded"));
    let patches = p.json("fix_patches.json");
    let patch = &patches["patches"][0];
    let diff = patch["diff"].as_str().expect("diff");
    assert!(
        diff.contains("-import os") && diff.contains("-import sys"),
        "{diff}"
    );
    assert_eq!(patch["validated"], true);
    assert_eq!(
        std::fs::read_to_string(p.root().join("app.py")).expect("read"),
        "\nprint(\"hello\")\n"
    );
}

#[test]
fn deleting_a_quarantined_result_reruns_it_above_the_old_attempts() {
    let (p, _) = lint_project("[recovery]\nmax_failures = 1\nladder = []\n");
    let gate = p.root().join("gate");
    let gated = p.script(
        "gated.sh",
        &format!("#!/bin/bash\n[ -e {} ]\n", gate.display()),
    );
    p.drop_task("gated", json!({"kind": "shell", "command": [gated]}));
    let (code, _, _) = p.run(&["run", "--once"], Duration::from_secs(30));
    assert_eq!(code, 1);
    assert_eq!(p.status_of("gated").as_deref(), Some("quarantined"));

    // A person fixes the cause and deletes the task's result to run it again.
    std::fs::write(&gate, "").expect("open the gate");
    let mut results = p.json("execution_results.json");
    results["results"] = json!([]);
    std::fs::write(
        p.state().join("execution_results.json"),
        serde_json::to_vec_pretty(&results).expect("json"),
    )
    .expect("edit");
    let (code, _, err) = p.run(&["run", "--once"], Duration::from_secs(30));
    assert_eq!(code, 0, "{err}");
    let result = p.result("gated").expect("result");
    assert_eq!(result["status"], "succeeded");
    assert_eq!(
        result["attempt"], 2,
        "numbering continues above the attempt recovery already judged"
    );
}

#[test]
fn two_recovery_processes_analyse_and_fix_each_attempt_once() {
    let p = Project::with_config(BASE);
    let lint = demo_tool("lint.sh");
    let fix_tool = demo_tool("fix-whitespace.sh");
    let slow_fix = p.script(
        "fix.sh",
        &format!("#!/bin/bash\nsleep 0.2\nexec {fix_tool} \"$@\"\n"),
    );
    p.set_config(&format!(
        "{BASE}\n[recovery.detectors.whitespace]\ncommand = [\"{lint}\", \"{{files}}\"]\nparser = \"generic\"\npattern = '{PATTERN}'\nfixer = [\"{slow_fix}\", \"{{files}}\"]\n"
    ));
    for i in 0..4 {
        let file = format!("f{i}.txt");
        std::fs::write(p.root().join(&file), "x  \n").expect("file");
        p.drop_task(
            &format!("t{i}"),
            json!({"kind": "lint", "command": [lint, file], "files": [file]}),
        );
    }
    // Their stderr goes outside the project: a log line written during one process's fix
    // step would be a change outside that step's scope (and send its task to a person).
    let logs = tempfile::tempdir().expect("tempdir");
    let log = |name: &str| logs.path().join(format!("{name}.stderr"));
    let children: Vec<_> = [
        ("engine", vec!["run", "router", "executor", "--once"]),
        ("rec1", vec!["run", "recovery", "--once"]),
        ("rec2", vec!["run", "recovery", "--once"]),
    ]
    .into_iter()
    .map(|(name, args)| {
        let err = std::fs::File::create(log(name)).expect("stderr file");
        let child = p
            .cmd()
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(err)
            .spawn()
            .expect("spawn phase");
        (name, child)
    })
    .collect();
    for (name, child) in children {
        let out = wait_output(child, Duration::from_secs(60), name);
        let said = std::fs::read_to_string(log(name)).unwrap_or_default();
        assert_eq!(out.status.code(), Some(0), "{name}: {said}");
    }
    let analyses = p.json("error_analysis.json");
    let patches = p.json("fix_patches.json");
    for i in 0..4 {
        let id = format!("t{i}");
        assert_eq!(p.status_of(&id).as_deref(), Some("succeeded"), "{id}");
        let count = |doc: &Value, field: &str| {
            doc[field].as_array().map_or(0, |a| {
                a.iter().filter(|x| x["task_id"] == id.as_str()).count()
            })
        };
        assert_eq!(count(&analyses, "analyses"), 1, "{id} analysed once");
        assert_eq!(count(&patches, "retries"), 1, "{id} judged once");
        assert_eq!(count(&patches, "patches"), 1, "{id} fixed once");
    }
}
