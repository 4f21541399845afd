//! The verbs people use while the engine runs: status, wait, cancel, retry, events, logs,
//! edit — through the real binary.

use std::time::Duration;

use serde_json::json;

use crate::support::procs::{alive, output_within};
use crate::support::{Project, wait_until};

const FAST: &str = "[state]\nflush_interval_ms = 20\ndebounce_ms = 2\npoll_interval_ms = 200\n\n[execution]\nkill_grace_ms = 300\nshutdown_grace_ms = 1000\n";

/// How long `phase edit` with a scripted editor may take.
const EDIT_LIMIT: Duration = Duration::from_secs(30);

fn done_project() -> Project {
    let p = Project::with_config(FAST);
    let talk = p.script(
        "talk.sh",
        "#!/bin/bash\necho \"out of $1\"\necho \"err of $1\" >&2\n",
    );
    p.drop_task("a", json!({"kind": "shell", "command": [talk, "a"]}));
    p.drop_task(
        "b",
        json!({"kind": "shell", "command": [talk, "b"], "depends_on": ["a"]}),
    );
    let (code, _, err) = p.run(&["run", "--once"], Duration::from_secs(30));
    assert_eq!(code, 0, "{err}");
    p
}

#[test]
fn status_lists_every_task_as_text_and_json() {
    let p = done_project();
    let (code, out, _) = p.run(&["status"], Duration::from_secs(10));
    assert_eq!(code, 0);
    assert!(
        out.lines()
            .next()
            .is_some_and(|l| l.contains("TASK") && l.contains("STATE")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().take(2).eq(["b", "succeeded"])),
        "{out}"
    );
    assert!(
        out.trim_end()
            .ends_with("2 tasks: 2 succeeded; phases running: none"),
        "{out}"
    );
    let json = p.status_json();
    assert_eq!(json["counts"]["succeeded"], 2);
    assert_eq!(json["tasks"][0]["id"], "a");
    assert_eq!(json["tasks"][0]["state"], "succeeded");
}

#[test]
fn logs_print_an_attempts_output_and_events_filter_by_task() {
    let p = done_project();
    let (code, out, _) = p.run(&["logs", "b"], Duration::from_secs(10));
    assert_eq!((code, out.as_str()), (0, "out of b\n"));
    let (code, out, _) = p.run(
        &["logs", "b", "--stderr", "--attempt", "1"],
        Duration::from_secs(10),
    );
    assert_eq!((code, out.as_str()), (0, "err of b\n"));
    let (code, _, err) = p.run(&["logs", "nope"], Duration::from_secs(10));
    assert_eq!(code, 2, "{err}");
    assert!(err.starts_with("error: no task \"nope\" in "), "{err}");

    let (code, out, _) = p.run(&["events", "--task", "a"], Duration::from_secs(10));
    assert_eq!(code, 0);
    let kinds: Vec<String> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json line"))
        .inspect(|e| assert_eq!(e["task_id"], "a"))
        .map(|e| e["type"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(kinds, ["TASK_ROUTED", "TASK_STARTED", "TASK_SUCCEEDED"]);
}

#[test]
fn wait_returns_when_tasks_end_with_their_outcome() {
    let p = Project::with_config(FAST);
    let nap = p.script("nap.sh", "#!/bin/bash\nsleep 0.3\n");
    let mut engine = p.spawn(&["run"], "engine");
    p.drop_task("nap", json!({"kind": "shell", "command": [nap]}));
    p.drop_task(
        "bad",
        json!({"kind": "shell", "command": ["false"], "max_retries": 0}),
    );
    let (code, out, err) = p.run(&["wait", "nap"], Duration::from_secs(30));
    assert_eq!((code, out.as_str()), (0, "nap succeeded\n"), "{err}");
    let (code, out, _) = p.run(&["wait"], Duration::from_secs(30));
    assert_eq!(code, 1, "bad did not succeed: {out}");
    assert!(out.contains("bad quarantined"), "{out}");
    let (code, _, err) = p.run(&["wait", "ghost"], Duration::from_secs(10));
    assert_eq!(code, 2, "{err}");
    engine.kill().expect("kill");
    engine.wait().expect("reap");
}

#[test]
fn cancel_kills_a_running_task_group() {
    let p = Project::with_config(FAST);
    let pids = p.root().join("pids");
    let sleeper = p.script(
        "sleeper.sh",
        &format!(
            "#!/bin/bash\nsleep 60 &\necho $! >> {0}\necho $$ >> {0}\nwait\n",
            pids.display()
        ),
    );
    let mut engine = p.spawn(&["run"], "engine");
    p.drop_task("long", json!({"kind": "shell", "command": [sleeper]}));
    wait_until("the task to start", Duration::from_secs(20), || {
        std::fs::read_to_string(&pids).is_ok_and(|s| s.lines().count() == 2)
    });
    let (code, out, err) = p.run(&["cancel", "long"], Duration::from_secs(10));
    assert_eq!(
        (code, out.as_str()),
        (0, "cancel requested: long\n"),
        "{err}"
    );
    wait_until("canceled", Duration::from_secs(20), || {
        p.status_of("long").as_deref() == Some("canceled")
    });
    let recorded: Vec<i32> = std::fs::read_to_string(&pids)
        .expect("pids")
        .lines()
        .map(|l| l.trim().parse().expect("pid"))
        .collect();
    wait_until("the group to be gone", Duration::from_secs(10), || {
        recorded.iter().all(|pid| !alive(*pid))
    });
    assert_eq!(p.events_of("TASK_CANCELED").len(), 1);
    let (code, _, err) = p.run(&["cancel", "nope"], Duration::from_secs(10));
    assert_eq!(code, 2);
    assert!(err.contains("no task \"nope\""), "{err}");
    engine.kill().expect("kill");
    engine.wait().expect("reap");
}

/// An editor that applies a sed expression to the file it is given.
fn sed_editor(p: &Project, expr: &str) -> String {
    p.script(
        "editor.sh",
        &format!("#!/bin/bash\nsed -i '{expr}' \"$1\"\n"),
    )
}

#[test]
fn edit_swaps_in_a_valid_edit_and_refuses_a_broken_one() {
    let p = done_project();
    let decisions = p.state().join("routing_decisions.json");

    let editor = sed_editor(
        &p,
        "s/\"selected_tool\": \"shell\"/\"selected_tool\": \"other\"/",
    );
    let out = output_within(
        p.cmd()
            .args(["edit", "routing_decisions.json"])
            .env("EDITOR", &editor)
            .env_remove("VISUAL"),
        EDIT_LIMIT,
        "phase edit",
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("written: "));
    assert_eq!(
        p.json("routing_decisions.json")["decisions"][0]["selected_tool"],
        "other"
    );

    let before = std::fs::read(&decisions).expect("read");
    let editor = sed_editor(&p, "1s/{/{,/");
    // The refused copy is kept for the person, in $TMPDIR: here the test's own.
    let tmp = p.path("tmp");
    std::fs::create_dir_all(&tmp).expect("tmp");
    let out = output_within(
        p.cmd()
            .args(["edit", "routing_decisions.json"])
            .env("EDITOR", &editor)
            .env("TMPDIR", &tmp)
            .env_remove("VISUAL"),
        EDIT_LIMIT,
        "phase edit",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains("routing_decisions.json:1:"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let kept = stdout
        .trim()
        .strip_prefix("nothing written; your edit is in ")
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        std::fs::read_to_string(kept).is_ok_and(|t| t.starts_with("{,")),
        "the person's edit is kept as made: {kept}"
    );
    assert!(std::path::Path::new(kept).starts_with(&tmp), "{kept}");
    assert_eq!(
        std::fs::read(&decisions).expect("read"),
        before,
        "file untouched"
    );
}

#[test]
fn edit_never_overwrites_a_version_written_meanwhile() {
    let p = done_project();
    let results = p.state().join("execution_results.json");
    // The "editor" also rewrites the real file, as the engine might while a person edits.
    // The other writer's value is one no real run takes, so its write always changes the
    // file (a task's duration could be 7 ms by chance).
    let editor = p.script(
        "editor.sh",
        &format!(
            "#!/bin/bash\nsed -i 's/\"duration_ms\": [0-9]*/\"duration_ms\": 987654321/' {real}\nsed -i 's/\"duration_ms\": [0-9]*/\"duration_ms\": 99/' \"$1\"\n",
            real = results.display()
        ),
    );
    let tmp = p.path("tmp");
    std::fs::create_dir_all(&tmp).expect("tmp");
    let out = output_within(
        p.cmd()
            .args(["edit", "execution_results.json"])
            .env("EDITOR", &editor)
            .env("TMPDIR", &tmp)
            .env_remove("VISUAL"),
        EDIT_LIMIT,
        "phase edit",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("changed by someone else"), "{stderr}");
    assert_eq!(
        p.result("a").expect("a")["duration_ms"],
        987654321,
        "the other writer's version stays"
    );

    let (code, _, err) = p.run(&["edit", "events.jsonl"], Duration::from_secs(10));
    assert_eq!(code, 2);
    assert!(err.contains("not an editable state file"), "{err}");
}

#[test]
fn status_says_why_a_file_was_rejected() {
    let p = Project::with_config(FAST);
    std::fs::write(
        p.state().join("inbox/bad.json"),
        r#"{"kind": "shell", "command": "echo hi"}"#,
    )
    .expect("bad task");
    let (code, _, _) = p.run(&["run", "router", "--once"], Duration::from_secs(20));
    assert_eq!(code, 1, "a rejected file is not a success");
    let json = p.status_json();
    assert_eq!(json["tasks"][0]["id"], "bad.json");
    assert_eq!(json["tasks"][0]["state"], "rejected");
    assert_eq!(
        json["tasks"][0]["reason"],
        "/command: expected array, got \"echo hi\""
    );
}

#[test]
fn an_identical_duplicate_is_kept_but_is_no_failure() {
    let p = Project::with_config(FAST);
    let task = json!({"kind": "shell", "command": ["true"]});
    p.drop_task("same", task.clone());
    let (code, _, err) = p.run(&["run", "--once"], Duration::from_secs(20));
    assert_eq!(code, 0, "{err}");
    p.drop_task("same", task);
    let (code, out, err) = p.run(&["run", "--once"], Duration::from_secs(20));
    assert_eq!(
        code, 0,
        "a copy of an accepted task is not a failure: {out}{err}"
    );
    assert_eq!(p.events_of("TASK_DUPLICATE_SKIPPED").len(), 1);
    let json = p.status_json();
    assert_eq!(json["counts"]["duplicate"], 1, "{json}");
    assert_eq!(json["counts"]["succeeded"], 1, "{json}");
    assert!(
        p.state().join("rejected/same.json").exists(),
        "kept, never deleted"
    );
}
