//! Paths that lead out of the project — in a task file, a hand-edited state file or a
//! hand-written patch, directly or through a link — are refused when used, naming the
//! field, and nothing outside is written (or copied into a state file).

use std::os::unix::fs::symlink;

use serde_json::{Value, json};

use super::{RUN_LIMIT, Running, Sentinel, files_under, project, run_once};
use crate::support::Project;

/// The rejection note of an inbox file, once the router rejected it.
fn rejection(p: &Project, id: &str) -> Value {
    let path = p.state().join(format!("rejected/{id}.json.error.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).expect("json")
}

/// Rewrites a state file as JSON, by hand (no lock: a person with an editor).
fn edit(p: &Project, name: &str, change: impl FnOnce(&mut Value)) {
    let mut doc = p.json(name);
    change(&mut doc);
    std::fs::write(
        p.state().join(name),
        serde_json::to_vec_pretty(&doc).expect("json"),
    )
    .expect("write");
}

#[test]
fn files_outside_the_workdir_are_rejected_at_intake_naming_the_field() {
    let sentinel = Sentinel::new();
    let p = project();
    let secret = sentinel.path("secret.txt").to_string_lossy().into_owned();
    p.drop_task(
        "abs",
        json!({"kind": "shell", "command": ["true"], "files": ["ok.py", secret]}),
    );
    p.drop_task(
        "up",
        json!({"kind": "shell", "command": ["true"], "workdir": "src", "files": ["../../x.py"]}),
    );
    let _ = run_once(&p);
    sentinel.assert_untouched();
    let abs = rejection(&p, "abs");
    assert_eq!(abs["pointer"], "/files/1", "{abs}");
    assert!(
        abs["error"]
            .as_str()
            .is_some_and(|e| e.contains("outside the task's workdir")),
        "{abs}"
    );
    let up = rejection(&p, "up");
    assert_eq!(up["pointer"], "/files/0", "{up}");
    assert!(
        up["error"]
            .as_str()
            .is_some_and(|e| e.contains("leaves the workdir")),
        "{up}"
    );
}

#[test]
fn a_workdir_link_out_of_the_project_is_refused_when_the_task_starts() {
    let sentinel = Sentinel::new();
    let p = project();
    symlink(sentinel.path("sub"), p.path("wd")).expect("link");
    p.drop_task(
        "linked",
        json!({"kind": "shell", "command": ["touch", "made.txt"], "workdir": "wd"}),
    );
    let _ = run_once(&p);
    sentinel.assert_untouched();
    let result = p.result("linked").expect("a result");
    // Nothing can fix a path that leads out: the task is quarantined at once.
    assert_eq!(result["status"], "quarantined", "{result}");
    assert_eq!(result["attempts"][0]["status"], "failed", "{result}");
    let reason = result["attempts"][0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("workdir: leads outside the project") && reason.contains("/wd"),
        "{reason}"
    );
}

#[test]
fn a_hand_edited_decision_workdir_or_file_is_refused_when_used() {
    let sentinel = Sentinel::new();
    let p = project();
    std::fs::create_dir(p.path("sub")).expect("mkdir");
    p.drop_task(
        "edited",
        json!({"kind": "shell", "command": ["touch", "made.txt"], "workdir": "sub"}),
    );
    let _ = run_once(&p);
    assert!(p.path("sub/made.txt").is_file(), "the first run ran inside");
    for (field, value) in [
        ("workdir", json!(sentinel.path("sub"))),
        ("files", json!([sentinel.path("secret.txt")])),
    ] {
        edit(&p, "routing_decisions.json", |doc| {
            doc["decisions"][0]["task"][field] = value;
        });
        // Deleting the result makes the task run again (level-triggered).
        edit(&p, "execution_results.json", |doc| {
            doc["results"] = json!([]);
        });
        let _ = run_once(&p);
        sentinel.assert_untouched();
        let result = p.result("edited").expect("a result");
        let reason = result["attempts"][0]["reason"].as_str().unwrap_or_default();
        assert!(
            reason.starts_with("cannot start") && reason.contains("is outside the project"),
            "{field}: {reason}"
        );
        edit(&p, "routing_decisions.json", |doc| {
            doc["decisions"][0]["task"]["workdir"] = json!("sub");
            doc["decisions"][0]["task"]["files"] = json!([]);
        });
    }
}

#[test]
fn a_hand_patch_through_a_link_is_rejected_and_its_target_untouched() {
    let sentinel = Sentinel::new();
    let p = project();
    symlink(sentinel.path("secret.txt"), p.path("link.py")).expect("link");
    p.drop_task("patched", json!({"kind": "shell", "command": ["true"]}));
    let _ = run_once(&p);
    let diff = "--- a/link.py\n+++ b/link.py\n@@ -1 +1 @@\n-TOP-SECRET-LINE\n+owned\n";
    std::fs::write(
        p.state().join("fix_patches.json"),
        serde_json::to_vec_pretty(&json!({
            "schema_version": 1,
            "patches": [{
                "patch_id": "mine", "task_id": "patched", "attempt": 0, "fixer": "human",
                "file": "link.py", "diff": diff, "source": "human"
            }],
            "retries": []
        }))
        .expect("json"),
    )
    .expect("write");
    let run = Running::start(&p, &["run", "recovery"], "recovery");
    let entry = crate::support::wait_until("the hand patch is decided", RUN_LIMIT, || {
        let doc = p.json("fix_patches.json");
        let entry = doc["patches"][0].clone();
        (entry["rejected"] == true || entry["applied"] == true).then_some(entry)
    });
    drop(run);
    sentinel.assert_untouched();
    assert_eq!(entry["applied"], false, "{entry}");
    assert!(
        entry["error"]
            .as_str()
            .is_some_and(|e| e.contains("link.py")),
        "{entry}"
    );
}

#[test]
fn a_hand_edited_log_path_is_refused_and_nothing_of_its_target_is_copied() {
    let sentinel = Sentinel::new();
    let p = project();
    p.drop_task(
        "failing",
        json!({"kind": "shell", "command": ["sh", "-c", "echo boom >&2; exit 3"]}),
    );
    let (_code, err) = p_run(&p, &["run", "router", "executor", "--once"]);
    assert_eq!(p.status_of("failing").as_deref(), Some("failed"), "{err}");
    let secret = sentinel.path("secret.txt");
    edit(&p, "execution_results.json", |doc| {
        let attempt = &mut doc["results"][0]["attempts"][0];
        attempt["log_err"] = json!(secret);
        attempt["log_out"] = json!("logs/../../../secret.txt");
    });
    let (_code, err) = p_run(&p, &["run", "recovery", "--once"]);
    sentinel.assert_untouched();
    assert!(
        err.contains("is not logs/<task>/<file>"),
        "the refusal names the path: {err}"
    );
    for file in files_under(&p.state()) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).expect("read")).into_owned();
        assert!(
            !text.contains("TOP-SECRET-LINE"),
            "{} holds a line of the file outside",
            file.display()
        );
    }
}

fn p_run(p: &Project, args: &[&str]) -> (i32, String) {
    let (code, _out, err) = p.run(args, RUN_LIMIT);
    (code, err)
}
