//! `phase submit`: publishing into the inbox atomically, idempotently, all-or-nothing.

use std::os::unix::fs::PermissionsExt;

use crate::support::Project;
use serde_json::{Value, json};

fn json_file(p: &Project, rel: &str) -> Value {
    serde_json::from_str(&p.read(rel)).unwrap()
}

#[test]
fn a_task_file_lands_in_the_inbox_under_its_id() {
    let p = Project::initialised();
    p.write(
        "tasks/build.json",
        r#"{"id": "compile", "kind": "shell", "command": ["make"], "metadata": {"z": 1, "a": 2}}"#,
    );
    p.phase(&["submit", "tasks/build.json"])
        .expect(0, "compile\n", "");
    assert_eq!(
        p.entries(".state/inbox"),
        ["compile.json"],
        "no temp file left"
    );
    let published = p.path(".state/inbox/compile.json");
    let mode = std::fs::metadata(&published).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644);
    assert_eq!(
        json_file(&p, ".state/inbox/compile.json"),
        json!({"id": "compile", "kind": "shell", "command": ["make"], "metadata": {"z": 1, "a": 2}})
    );
    // The published file is a valid task file and the submission is in the event log.
    p.phase(&["validate", ".state/inbox/compile.json"])
        .expect(0, "ok: 1 file valid\n", "");
    let event: Value = serde_json::from_str(p.read(".state/events.jsonl").trim()).unwrap();
    assert_eq!(event["type"], "TASK_SUBMITTED");
    assert_eq!(event["phase"], "cli");
    assert_eq!(event["task_id"], "compile");
    assert_eq!(event["data"]["file"], "inbox/compile.json");
    p.phase(&["validate", ".state/events.jsonl"])
        .expect(0, "ok: 1 file valid\n", "");
}

#[test]
fn the_id_defaults_to_the_file_stem_and_is_written_out() {
    let p = Project::initialised();
    p.write("lint.json", r#"{"kind": "lint"}"#);
    p.write("test.json", r#"{"kind": "test"}"#);
    p.phase(&["submit", "lint.json", "test.json"])
        .expect(0, "lint\ntest\n", "");
    assert_eq!(p.entries(".state/inbox"), ["lint.json", "test.json"]);
    assert_eq!(
        json_file(&p, ".state/inbox/lint.json"),
        json!({"id": "lint", "kind": "lint"})
    );
}

#[test]
fn stdin_needs_an_id() {
    let p = Project::initialised();
    p.phase_with_stdin(&["submit", "-"], r#"{"id": "piped", "kind": "shell"}"#)
        .expect(0, "piped\n", "");
    assert_eq!(p.entries(".state/inbox"), ["piped.json"]);
    p.phase_with_stdin(&["submit", "-"], r#"{"kind": "shell"}"#)
        .expect(
            2,
            "",
            "error: <stdin>: /id: missing required field \"id\" (there is no file name to take \
         it from)\n",
        );
    p.phase_with_stdin(&["submit", "-"], "")
        .expect(2, "", "error: <stdin>: file is empty\n");
    assert_eq!(p.entries(".state/inbox"), ["piped.json"]);
}

#[test]
fn resubmitting_the_same_task_succeeds_without_writing() {
    let p = Project::initialised();
    p.write("a.json", r#"{"kind": "shell", "command": ["true"]}"#);
    p.phase(&["submit", "a.json"]).expect(0, "a\n", "");
    // Same task, different formatting and an explicit id: still the same task.
    p.write(
        "again/a.json",
        "{\n  \"command\": [\"true\"],\n  \"kind\": \"shell\", \"id\": \"a\"\n}\n",
    );
    p.phase(&["submit", "again/a.json"]).expect(
        0,
        "a\n",
        "note: again/a.json: task \"a\" is already submitted (.state/inbox/a.json); not \
         submitted again\n",
    );
    // The router accepted it meanwhile: tasks/a.json counts too.
    std::fs::rename(p.path(".state/inbox/a.json"), p.path(".state/tasks/a.json")).unwrap();
    p.phase(&["submit", "a.json"]).expect(
        0,
        "a\n",
        "note: a.json: task \"a\" is already submitted (.state/tasks/a.json); not submitted \
         again\n",
    );
    assert_eq!(p.entries(".state/inbox"), Vec::<String>::new());
}

#[test]
fn a_different_task_under_a_taken_id_is_refused() {
    let p = Project::initialised();
    p.write("a.json", r#"{"kind": "shell", "command": ["true"]}"#);
    p.phase(&["submit", "a.json"]).expect(0, "a\n", "");
    let before = p.read(".state/inbox/a.json");
    p.write("a.json", r#"{"kind": "shell", "command": ["false"]}"#);
    p.phase(&["submit", "a.json"]).expect(
        2,
        "",
        "error: a.json: task \"a\" already exists as .state/inbox/a.json with different content \
         (use another id)\n",
    );
    assert_eq!(p.read(".state/inbox/a.json"), before);
    assert_eq!(p.entries(".state/inbox"), ["a.json"]);
}

#[test]
fn one_bad_input_means_nothing_is_published() {
    let p = Project::initialised();
    p.write("good.json", r#"{"kind": "shell"}"#);
    p.write("bad.json", r#"{"kind": "shell", "priority": "high"}"#);
    p.write("worse.json", "{");
    p.phase(&["submit", "good.json", "bad.json", "worse.json"])
        .expect(
            2,
            "",
            "error: bad.json: /priority: expected integer, got \"high\"\n\
         error: worse.json:1:1: invalid JSON: EOF while parsing an object\n",
        );
    assert_eq!(p.entries(".state/inbox"), Vec::<String>::new());
    assert!(!p.path(".state/events.jsonl").exists());
}

#[test]
fn the_same_id_twice_in_one_command() {
    let p = Project::initialised();
    p.write("one/x.json", r#"{"kind": "shell"}"#);
    p.write("two/x.json", r#"{"kind": "shell"}"#);
    p.write("three/x.json", r#"{"kind": "other"}"#);
    p.phase(&["submit", "one/x.json", "three/x.json"]).expect(
        2,
        "",
        "error: three/x.json: task \"x\" is also given by one/x.json with different content\n",
    );
    assert_eq!(p.entries(".state/inbox"), Vec::<String>::new());
    p.phase(&["submit", "one/x.json", "two/x.json"])
        .expect(0, "x\nx\n", "");
    assert_eq!(p.entries(".state/inbox"), ["x.json"]);
}

#[test]
fn without_a_state_directory_submit_says_to_run_init() {
    let p = Project::empty();
    p.write("a.json", r#"{"kind": "shell"}"#);
    p.phase(&["submit", "a.json"]).expect(
        2,
        "",
        &format!(
            "error: no .state directory here or above {}; run `phase init`\n",
            p.root().display()
        ),
    );
    assert!(!p.path(".state").exists());
}

#[test]
fn a_missing_inbox_is_created() {
    let p = Project::empty();
    std::fs::create_dir(p.path("st")).unwrap();
    p.write("a.json", r#"{"kind": "shell"}"#);
    p.phase(&["--state-dir", "st", "submit", "a.json"])
        .expect(0, "a\n", "");
    assert_eq!(p.entries("st/inbox"), ["a.json"]);
}

#[test]
fn a_missing_input_file_is_named() {
    let p = Project::initialised();
    p.phase(&["submit", "nope.json"]).expect(
        2,
        "",
        "error: nope.json: cannot read: No such file or directory (os error 2)\n",
    );
}
