//! Runs: `--once` and `wait` judge the current run's tasks (`--all` every task), a
//! finished run's records move to `archive/<run_id>/`, and `phase rerun` runs ended tasks
//! again.

use std::time::Duration;

use serde_json::json;

use super::{Daemon, FAST, LIMIT, runs, shown_ids, shown_state};
use crate::support::{Project, tool, wait_until};

/// No retries: a failing task is quarantined at its first failure.
fn config() -> String {
    FAST.replace("[execution]\n", "[execution]\nmax_retries = 0\n")
}

/// Run 1: `bad` is quarantined and `broken.json` rejected; run 2: `good` and `after`
/// (which needs it) succeed.
fn two_runs() -> Project {
    let p = Project::with_config(&config());
    let stamp = tool("executor/stamp.sh");
    let stamps = p.path("stamps").display().to_string();
    p.drop_task(
        "bad",
        json!({"kind": "shell", "command": ["sh", "-c", "echo boom >&2; exit 1"]}),
    );
    p.write(".state/inbox/broken.json", "{not json");
    let (code, out, err) = p.run(&["run", "--once"], LIMIT);
    assert_eq!(code, 1, "run 1 fails: {out}{err}");
    assert_eq!(shown_state(&p, "bad"), "quarantined");
    p.drop_task(
        "good",
        json!({"kind": "shell", "command": [stamp, stamps, "good"]}),
    );
    p.drop_task(
        "after",
        json!({"kind": "shell", "command": [stamp, stamps, "after"], "depends_on": ["good"]}),
    );
    p
}

#[test]
fn once_and_wait_judge_the_current_run_and_all_says_otherwise() {
    let p = two_runs();
    let (code, out, err) = p.run(&["run", "--once"], LIMIT);
    assert_eq!(code, 0, "run 2 ignores run 1's failures: {out}{err}");
    assert_eq!(out, "2 tasks: 2 succeeded\n");
    let (code, out, _) = p.run(&["wait", "--timeout", "20"], LIMIT);
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!(
        (code, lines),
        (0, vec!["after succeeded", "good succeeded"])
    );
    let (code, out, _) = p.run(&["wait", "--all", "--timeout", "20"], LIMIT);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("bad quarantined\n") && out.contains("broken.json rejected\n"),
        "{out}"
    );
    let (code, out, _) = p.run(&["run", "--once", "--all"], LIMIT);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("4 tasks: "), "{out}");
    let ledger = runs(&p);
    assert_eq!(ledger.len(), 3, "{ledger:?}");
    assert!(
        ledger.iter().all(|r| r["ended_at"].is_string()),
        "{ledger:?}"
    );
    // Each run's id is on its events.
    let started: Vec<_> = p.events_of("RUN_STARTED");
    assert_eq!(started[1]["run_id"], ledger[1]["run_id"]);
}

#[test]
fn archive_moves_a_finished_runs_records_and_keeps_them() {
    let p = two_runs();
    let (code, _, err) = p.run(&["run", "--once"], LIMIT);
    assert_eq!(code, 0, "{err}");
    let first = runs(&p)[0]["run_id"].as_str().expect("run id").to_string();
    let escalation = p.read(".state/escalations/bad.md");
    let (code, out, err) = p.run(&["archive", "--run", &first], LIMIT);
    assert_eq!(code, 0, "{err}");
    let dir = p.state().join("archive").join(&first);
    assert_eq!(
        out,
        format!(
            "archived run {first}: 1 tasks, 1 rejected files -> {}\n",
            dir.display()
        )
    );
    let mut ids = shown_ids(&p);
    ids.sort();
    assert_eq!(ids, ["after", "good"], "only run 2 is left");
    let moved = |rel: &str| format!("archive/{first}/{rel}");
    assert_eq!(
        p.read(&format!(".state/{}", moved("escalations/bad.md"))),
        escalation
    );
    for rel in [
        "tasks/bad.json",
        "logs/bad/1.err",
        "rejected/broken.json",
        "rejected/broken.json.error.json",
    ] {
        assert!(p.state().join(moved(rel)).exists(), "{rel} moved");
    }
    for file in [
        "execution_results.json",
        "routing_decisions.json",
        "error_analysis.json",
        "fix_patches.json",
    ] {
        let copy = p.json(&moved(file));
        let text = copy.to_string();
        assert!(
            text.contains("\"bad\""),
            "{file} keeps bad's entries: {text}"
        );
        assert!(
            !p.json(file).to_string().contains("\"bad\""),
            "{file} no longer has bad"
        );
    }
    assert!(!p.state().join("escalations/bad.md").exists());
    assert!(runs(&p)[0]["archived_at"].is_string());
    assert_eq!(p.events_of("RUN_ARCHIVED").len(), 1);
    let (code, out, _) = p.run(&["wait", "--all", "--timeout", "20"], LIMIT);
    assert_eq!(code, 0, "the old failure is gone: {out}");
    let (code, out, err) = p.run(&["validate"], LIMIT);
    assert_eq!(code, 0, "{out}{err}");
    // The id is free again.
    p.write("bad.json", r#"{"kind": "shell", "command": ["true"]}"#);
    let (code, _, err) = p.run(&["submit", "bad.json"], LIMIT);
    assert_eq!(code, 0, "{err}");
    // The latest finished run next; with a retention of a day, the first run's archive
    // (made "long ago" by hand) is removed then.
    let mut ledger = p.json("runs.json");
    ledger["runs"][0]["archived_at"] = json!("2020-01-01T00:00:00.000Z");
    p.write(
        ".state/runs.json",
        serde_json::to_vec_pretty(&ledger).expect("json"),
    );
    p.set_config(&config().replace("[state]\n", "[state]\nretention_days = 1\n"));
    let (code, out, _) = p.run(&["archive"], LIMIT);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].contains(": 2 tasks, 0 rejected files"), "{out}");
    assert_eq!(
        lines.get(1).copied(),
        Some(format!("removed archive/{first} (older than state.retention_days = 1)").as_str())
    );
    assert!(!dir.exists(), "pruned");
    assert!(runs(&p)[0]["pruned_at"].is_string());
    let (code, _, err) = p.run(&["archive"], LIMIT);
    assert_eq!(
        (code, err.as_str()),
        (1, "error: no finished run left to archive\n")
    );
}

#[test]
fn a_running_run_is_not_archived_and_a_successful_one_archives_itself() {
    let p = Project::with_config(
        &config().replace("[state]\n", "[state]\narchive_on_completion = true\n"),
    );
    let daemon = Daemon::start(&p, &["run"], "daemon");
    let open = wait_until("the daemon's run is open", Duration::from_secs(20), || {
        runs(&p)
            .first()
            .and_then(|r| r["run_id"].as_str().map(str::to_string))
    });
    let (code, _, err) = p.run(&["archive", "--run", &open], LIMIT);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("run {open} has not ended")), "{err}");
    p.drop_task("ok", json!({"kind": "shell", "command": ["true"]}));
    wait_until("ok succeeded", Duration::from_secs(20), || {
        p.status_of("ok").as_deref() == Some("succeeded")
    });
    assert!(daemon.stop("TERM"), "{}", p.stderr_of("daemon"));
    // Every task of the run succeeded: archived as it ended.
    assert!(runs(&p)[0]["archived_at"].is_string(), "{:?}", runs(&p));
    assert!(
        p.state()
            .join(format!("archive/{open}/tasks/ok.json"))
            .exists()
    );
    assert!(shown_ids(&p).is_empty());
}

#[test]
fn rerun_runs_a_succeeded_task_and_its_dependents_again() {
    let p = two_runs();
    let (code, _, err) = p.run(&["run", "--once"], LIMIT);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = p.run(&["rerun", "good", "--with-dependents"], LIMIT);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "rerun requested: good\nrerun requested: after\n");
    let (code, out, err) = p.run(&["run", "--once"], LIMIT);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out, "2 tasks: 2 succeeded\n",
        "the rerun is the new run's work"
    );
    for id in ["good", "after"] {
        let r = p.result(id).expect("result");
        assert_eq!(
            (r["attempt"].as_u64(), r["status"].as_str()),
            (Some(2), Some("succeeded")),
            "{id}"
        );
    }
    // The dependent's new attempt started after its dependency's new attempt ended.
    let stamps = std::fs::read_to_string(p.path("stamps")).expect("stamps");
    let lines: Vec<&str> = stamps
        .lines()
        .map(|l| l.rsplit_once(' ').map_or(l, |(a, _)| a))
        .collect();
    assert_eq!(
        lines,
        [
            "start good",
            "end good",
            "start after",
            "end after",
            "start good",
            "end good",
            "start after",
            "end after"
        ]
    );
    // Not ended, unknown, or not a task: refused.
    let (code, _, err) = p.run(&["rerun", "nope"], LIMIT);
    assert_eq!(
        (code, err.as_str()),
        (
            2,
            format!("error: no task \"nope\" in {}\n", p.state().display()).as_str()
        )
    );
    let (code, _, err) = p.run(&["rerun", "broken.json"], LIMIT);
    assert_eq!(code, 2, "{err}");
}
