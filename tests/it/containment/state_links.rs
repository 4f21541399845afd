//! Symbolic links planted inside `.state/` (a log file, a claim file, `tasks/`): the engine
//! refuses each by name and writes nothing through it.

use std::os::unix::fs::symlink;

use serde_json::json;

use super::{Sentinel, project, run_once};

#[test]
fn a_planted_log_link_is_refused_by_name_and_its_target_is_untouched() {
    let sentinel = Sentinel::new();
    let p = project();
    let logs = p.state().join("logs/loud");
    std::fs::create_dir_all(&logs).expect("mkdir");
    // An existing target (a create would truncate it) and a dangling one (a create would
    // make it).
    symlink(sentinel.path("secret.txt"), logs.join("1.out")).expect("link");
    symlink(sentinel.path("sub/made.txt"), logs.join("1.err")).expect("link");
    p.drop_task(
        "loud",
        json!({"kind": "shell", "command": ["sh", "-c", "echo out; echo err >&2"]}),
    );
    let (_code, err) = run_once(&p);
    sentinel.assert_untouched();
    assert!(
        err.contains("logs/loud/1.out: is a symbolic link"),
        "the refusal names the log: {err}"
    );
    assert!(
        std::fs::symlink_metadata(logs.join("1.out"))
            .expect("still there")
            .file_type()
            .is_symlink(),
        "the link is left for a person to look at"
    );
}

#[test]
fn a_planted_claim_locks_link_is_refused_by_name_and_its_target_is_untouched() {
    a_planted_claims_link_is_refused("locks");
}

#[test]
fn a_planted_fence_log_link_is_refused_by_name_and_its_target_is_untouched() {
    a_planted_claims_link_is_refused("fences.jsonl");
}

/// A link planted at `claims/<name>` (a file every claim uses): no phase starts, the
/// error names the file, and the link and its target are left alone.
fn a_planted_claims_link_is_refused(name: &str) {
    let sentinel = Sentinel::new();
    let p = project();
    let link = p.state().join("claims").join(name);
    symlink(sentinel.path("secret.txt"), &link).expect("link");
    p.drop_task("grab", json!({"kind": "shell", "command": ["true"]}));
    let (code, err) = run_once(&p);
    sentinel.assert_untouched();
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains(&format!("claims/{name}: is a symbolic link")),
        "the refusal names the file: {err}"
    );
    assert!(p.result("grab").is_none(), "nothing ran");
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("still there")
            .file_type()
            .is_symlink(),
        "the link is left for a person to look at"
    );
}

#[test]
fn a_planted_tasks_directory_link_is_refused_by_name_and_gets_no_task_file() {
    let sentinel = Sentinel::new();
    let p = project();
    let tasks = p.state().join("tasks");
    std::fs::remove_dir(&tasks).expect("rmdir");
    symlink(sentinel.path("sub"), &tasks).expect("link");
    p.drop_task("moved", json!({"kind": "shell", "command": ["true"]}));
    let (code, err) = run_once(&p);
    sentinel.assert_untouched();
    assert_ne!(code, 0, "the run cannot go on: {err}");
    assert!(
        err.contains(".state/tasks: is a symbolic link"),
        "the refusal names tasks/: {err}"
    );
    assert!(
        p.state().join("inbox/moved.json").is_file(),
        "the task file stays in the inbox"
    );
}

#[test]
fn a_planted_task_file_link_is_never_written_through() {
    let sentinel = Sentinel::new();
    let p = project();
    symlink(
        sentinel.path("secret.txt"),
        p.state().join("tasks/over.json"),
    )
    .expect("link");
    p.drop_task("over", json!({"kind": "shell", "command": ["true"]}));
    let _ = run_once(&p);
    sentinel.assert_untouched();
}

#[test]
fn a_planted_state_file_link_is_reported_invalid_and_not_read_or_replaced() {
    let sentinel = Sentinel::new();
    let p = project();
    std::fs::write(
        sentinel.path("sub/control.json"),
        "{\"schema_version\": 1}\n",
    )
    .expect("write");
    let sentinel = Sentinel {
        before: super::snapshot(sentinel.dir.path()),
        ..sentinel
    };
    symlink(
        sentinel.path("sub/control.json"),
        p.state().join("control.json"),
    )
    .expect("link");
    p.drop_task("plain", json!({"kind": "shell", "command": ["true"]}));
    let _ = run_once(&p);
    sentinel.assert_untouched();
    let invalid = p.events_of("STATE_FILE_INVALID");
    assert!(
        invalid.iter().any(|e| e["data"]["file"] == "control.json"
            && e["data"]["error"]
                .as_str()
                .is_some_and(|m| m.contains("is a symbolic link"))),
        "reported as invalid: {invalid:?}"
    );
}
