//! `isolation = "worktree"` with the acceptance gate and the recovery ladder (issue 10,
//! item 4), through the real binary and real git: an attempt's change is merged into the
//! project only after its gate passed (the gate judges it in the worktree); a failed gate
//! leaves the project untouched with the change recorded as a patch; an agent tier of an
//! isolated task fixes in a worktree of its own, so a tier that fails half-way leaves
//! nothing behind for the next rung.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::store::assert_valid_state_files;
use crate::support::{Project, fast_config, require_tool, tool};

/// Fast timings, a short back-off.
const BASE: &str = fast_config!("200", "shutdown_grace_ms = 1000");

const RUN_LIMIT: Duration = Duration::from_secs(90);

/// `git ARGS` in the project; its stdout.
fn git(p: &Project, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=test", "-c", "user.email=test@localhost"])
        .args(args)
        .current_dir(p.root())
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A project with `config` whose `widget.txt` ("broken") is committed in a git repository.
fn repository(config: &str) -> Project {
    let p = Project::with_config(&format!("{BASE}{config}"));
    p.write("widget.txt", "broken\n");
    p.write(".gitignore", ".state/\nconfig/\ntools/\n");
    git(&p, &["init", "--quiet", "--initial-branch=main"]);
    git(&p, &["add", "."]);
    git(&p, &["commit", "--quiet", "-m", "start"]);
    p
}

/// Nothing of the engine's is left in the repository: no worktree, no `phase/` branch.
#[track_caller]
fn assert_no_worktree_left(p: &Project) {
    assert_eq!(
        git(p, &["branch", "--list", "phase/*"]),
        "",
        "branches left"
    );
    // Besides the project's own checkout, only worktrees kept for reuse.
    let worktrees = git(p, &["worktree", "list", "--porcelain"]);
    let others: Vec<&str> = worktrees
        .lines()
        .filter_map(|l| l.strip_prefix("worktree "))
        .filter(|w| !p.root().ends_with(w) && !w.contains("/.state/worktrees/.spare/"))
        .collect();
    assert_eq!(others, Vec::<&str>::new(), "{worktrees}");
    assert!(
        p.entries(".state/worktrees/build").is_empty(),
        "{:?}",
        p.entries(".state/worktrees/build")
    );
}

fn str_of<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

#[test]
fn a_failing_gate_leaves_the_project_untouched_and_records_the_change_as_a_patch() {
    if !require_tool("git") {
        return;
    }
    let p = repository("");
    p.drop_task(
        "build",
        json!({"kind": "shell", "command": ["sh", "-c", "echo wrong > widget.txt"],
               "files": ["widget.txt"], "isolation": "worktree", "max_retries": 0,
               "verify": ["sh", tool("gate/check.sh"), "{files}"]}),
    );
    let (code, _, err) = p.run(&["run", "--once"], RUN_LIMIT);
    assert_eq!(code, 1, "quarantined: {err}");

    let result = p.result("build").expect("result");
    assert_eq!(result["status"], "quarantined", "{result}");
    let first = &result["attempts"][0];
    assert!(
        str_of(first, "/reason").starts_with("gate_failed: "),
        "{first}"
    );
    assert_eq!(first["worktree"]["merge"], "not_merged", "{first}");
    assert_eq!(first["worktree"]["patch"], "logs/build/1.patch", "{first}");
    let patch = p.read(".state/logs/build/1.patch");
    assert!(patch.contains("-broken\n+wrong"), "{patch}");
    // The gate judged the attempt's change, in its worktree: it found `wrong`.
    let gate = &p.json("fix_patches.json")["gates"][0];
    assert!(
        str_of(gate, "/steps/0/output").contains("found 'wrong'"),
        "{gate}"
    );
    assert_eq!(p.read("widget.txt"), "broken\n", "the project is untouched");
    assert_eq!(git(&p, &["status", "--porcelain"]), "");
    assert_no_worktree_left(&p);
    assert_valid_state_files(&p.state());
}

#[test]
fn a_passing_gate_judges_the_change_in_the_worktree_and_only_then_it_is_merged() {
    if !require_tool("git") {
        return;
    }
    let p = repository("");
    // Passes only when its own directory has the change and the project does not yet.
    let project_file = p.path("widget.txt");
    let verify = format!(
        "grep -q fixed widget.txt && ! grep -q fixed '{}' && pwd",
        project_file.display()
    );
    p.drop_task(
        "build",
        json!({"kind": "shell", "command": ["sh", "-c", "echo fixed > widget.txt"],
               "files": ["widget.txt"], "isolation": "worktree", "max_retries": 0,
               "verify": ["sh", "-c", verify]}),
    );
    let (code, _, err) = p.run(&["run", "--once"], RUN_LIMIT);
    assert_eq!(code, 0, "{err}");

    let result = p.result("build").expect("result");
    assert_eq!(
        (result["status"].as_str(), result["attempt"].as_u64()),
        (Some("succeeded"), Some(1)),
        "{result}"
    );
    let run = &result["attempts"][0]["worktree"];
    assert_eq!(run["merge"], "merged", "{run}");
    let gate = &p.json("fix_patches.json")["gates"][0];
    assert_eq!(gate["passed"], true, "{gate}");
    assert!(
        str_of(gate, "/steps/0/output").contains(".state/worktrees/build/1"),
        "the gate ran in the worktree: {gate}"
    );
    assert_eq!(p.read("widget.txt"), "fixed\n", "merged after the gate");
    assert_no_worktree_left(&p);
    assert_valid_state_files(&p.state());
}

#[test]
fn an_agent_tier_that_fails_half_way_leaves_nothing_for_the_next_tier() {
    if !require_tool("git") {
        return;
    }
    let p = repository(
        r#"
[tools.half]
command = ["sh", "-c", "echo half-done > widget.txt; echo 'half: gave up' >&2; exit 1"]

[tools.repair]
command = ["sh", "-c", "if grep -q half widget.txt; then echo 'repair: saw half-done' >&2; exit 5; fi; echo fixed > widget.txt; pwd"]

[recovery]
ladder = ["half", "repair"]
"#,
    );
    p.drop_task(
        "build",
        json!({"kind": "shell", "command": ["grep", "-q", "fixed", "widget.txt"],
               "files": ["widget.txt"], "isolation": "worktree", "max_retries": 3}),
    );
    let (code, _, err) = p.run(&["run", "--once"], RUN_LIMIT);
    assert_eq!(code, 0, "{err}");

    let result = p.result("build").expect("result");
    assert_eq!(result["status"], "succeeded", "{result}");
    assert_eq!(p.read("widget.txt"), "fixed\n");
    // The failed tier's change is only in its patch; the tier that fixed ran in a
    // worktree of its own too.
    let half = p.read(".state/logs/build/1.half.patch");
    assert!(half.contains("+half-done"), "{half}");
    let repair_out = p.read(".state/logs/build/1.repair.fix.out");
    assert!(
        repair_out.contains(".state/worktrees/build/1.repair"),
        "{repair_out}"
    );
    let patches = p.json("fix_patches.json")["patches"].clone();
    let by: Vec<&str> = patches
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["task_id"] == "build")
        .filter_map(|p| p["fixer"].as_str())
        .collect();
    assert!(
        !by.contains(&"half"),
        "half's change was not kept: {patches}"
    );
    assert_no_worktree_left(&p);
    assert_valid_state_files(&p.state());
}
