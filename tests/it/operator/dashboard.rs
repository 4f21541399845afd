//! `.state/dashboard.md` and `.state/reports/<run_id>.md`: the shipped demo (a fix, a
//! quarantine, a dep_failed task) through `phase run --once`, and a run stopped by SIGTERM
//! whose report is a handoff.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::{Daemon, FAST};
use crate::support::demo::{copy_dir, phase};
use crate::support::{Project, wait_until};

/// The only report in `reports/`.
fn the_report(state: &Path) -> String {
    let dir = state.join("reports");
    let names: Vec<_> = std::fs::read_dir(&dir)
        .expect("reports/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    assert_eq!(names.len(), 1, "one report: {names:?}");
    std::fs::read_to_string(&names[0]).expect("report")
}

#[test]
fn demo_run_leaves_a_dashboard_and_a_completion_report() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo");
    let tmp = tempfile::tempdir().expect("tempdir");
    let demo = tmp.path().join("demo");
    for part in ["bin", "pristine", "tasks"] {
        copy_dir(&src.join(part), &demo.join(part));
    }
    std::fs::copy(src.join("coordinator.toml"), demo.join("coordinator.toml")).expect("config");
    copy_dir(&demo.join("pristine"), &demo.join("work"));
    assert!(phase(&demo, &["init"]).status.success());
    let mut submit = vec!["submit".to_string()];
    for e in std::fs::read_dir(demo.join("tasks")).expect("tasks") {
        submit.push(e.expect("entry").path().display().to_string());
    }
    let submit: Vec<&str> = submit.iter().map(String::as_str).collect();
    assert!(phase(&demo, &submit).status.success());
    let out = phase(&demo, &["run", "--once"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let state = demo.join(".state");
    let dash = std::fs::read_to_string(state.join("dashboard.md")).expect("dashboard.md");
    for want in [
        "## Progress",
        "7 of 7 tasks ended",
        "`migrate` quarantined",
        "[report](escalations/migrate.md)",
        "`announce` dep_failed",
        "## Recent fixes",
        "`lint-config`",
        "applied, validated",
        "## Running\n\nNone.",
    ] {
        assert!(dash.contains(want), "dashboard lacks {want:?}:\n{dash}");
    }

    let report = the_report(&state);
    for want in [
        "Completion report",
        "**Done**: ",
        "**Needs a person**: ",
        "### `lint-config`: succeeded",
        "- fix: `lint-config`",
        "### `migrate`: quarantined",
        "escalations/migrate.md",
        "### `announce`: dep_failed",
        "attempt 1: failed",
        "## Next",
        "then `phase retry migrate`",
    ] {
        assert!(report.contains(want), "report lacks {want:?}:\n{report}");
    }
    assert!(!report.contains("Handoff"), "{report}");
    let done = report
        .lines()
        .find(|l| l.contains("**Done**"))
        .unwrap_or("");
    assert!(
        done.contains("`package`") && !done.contains("`migrate`"),
        "{done}"
    );
}

#[test]
fn a_stopped_run_leaves_a_handoff() {
    let p = Project::with_config(FAST);
    p.drop_task("slow", json!({"kind": "shell", "command": ["sleep", "30"]}));
    p.drop_task(
        "after",
        json!({"kind": "shell", "command": ["true"], "depends_on": ["slow"]}),
    );
    let daemon = Daemon::start(&p, &["run"], "run");
    let dash = wait_until(
        "the dashboard shows slow running",
        Duration::from_secs(30),
        || {
            let text = std::fs::read_to_string(p.path(".state/dashboard.md")).unwrap_or_default();
            text.contains("`slow` attempt 1").then_some(text)
        },
    );
    assert!(dash.contains("## Blocked\n\n- `after` waits on"), "{dash}");
    daemon.stop("TERM");
    let report = the_report(&p.state());
    for want in [
        "Handoff",
        "**Blocked**: `after`",
        "## Next",
        "`after`: not finished",
    ] {
        assert!(report.contains(want), "report lacks {want:?}:\n{report}");
    }
}
