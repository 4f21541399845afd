//! Errors as the user meets them: one `error:` line on stderr and the exit code the README
//! promises — 0 ok; 1 the work or the files are not ok (a task not succeeded, a file
//! invalid, an OS failure at run time); 2 usage or configuration.

use std::time::Duration;

use serde_json::json;

use crate::support::Project;
use crate::support::procs::output_within;

/// Generous for a command that should end at once: on a loaded machine a run takes a
/// while to start; a hang still fails well within it.
const LIMIT: Duration = Duration::from_secs(30);

const FAST: &str = "[state]\nflush_interval_ms = 20\ndebounce_ms = 2\npoll_interval_ms = 200\n\n[execution]\nkill_grace_ms = 300\nshutdown_grace_ms = 1000\n";

#[test]
fn usage_and_configuration_errors_exit_2() {
    let p = Project::initialised();
    for (args, stderr) in [
        (
            &["schema", "nope"][..],
            "error: unknown schema \"nope\" (expected one of: task, ",
        ),
        (
            &["run", "--once", "builder"],
            "error: unknown phase \"builder\": expected router, executor or recovery\n",
        ),
        (
            &["edit", "tasks.json"],
            "error: \"tasks.json\" is not an editable state file (one of: ",
        ),
        (&["wait", "ghost"], "error: no task \"ghost\" in .state\n"),
    ] {
        let run = p.phase(args);
        assert_eq!(
            (run.code, run.stdout.as_str()),
            (2, ""),
            "{args:?}: {run:?}"
        );
        assert!(run.stderr.starts_with(stderr), "{args:?}: {run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {run:?}");
    }
    p.write(
        "config/coordinator.toml",
        "[tools.shell]\ncomand = [\"x\"]\n",
    );
    let run = p.phase(&["run", "--once"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .starts_with("error: config/coordinator.toml: tools.shell.comand: unknown key"),
        "{run:?}"
    );
}

#[test]
fn an_invalid_task_given_to_submit_exits_2_and_a_broken_state_directory_1() {
    let p = Project::initialised();
    p.write(
        "bad.json",
        r#"{"kind": "shell", "command": ["true"], "timeout_seconds": -5}"#,
    );
    let run = p.phase(&["submit", "bad.json"]);
    assert_eq!((run.code, run.stdout.as_str()), (2, ""), "{run:?}");
    assert!(
        run.stderr
            .starts_with("error: bad.json: /timeout_seconds: -5 is less than the minimum"),
        "{run:?}"
    );

    // The input is fine; the OS cannot look into the state directory: exit 1.
    p.write("a.json", r#"{"kind": "shell", "command": ["true"]}"#);
    std::fs::remove_dir(p.path(".state/tasks")).expect("remove tasks/");
    p.write(".state/tasks", "not a directory");
    p.phase(&["submit", "a.json"]).expect(
        1,
        "",
        "error: .state/tasks/a.json: cannot stat: Not a directory (os error 20)\n",
    );
}

#[test]
fn wait_that_times_out_exits_1() {
    let p = Project::initialised();
    // Nothing runs, so the queued task never ends.
    p.drop_task("a", json!({"kind": "shell", "command": ["true"]}));
    p.phase(&["wait", "--timeout", "0.2"]).expect(
        1,
        "",
        "error: timed out waiting; tasks are still moving\n",
    );
}

/// A phase that panics (a bug) must end `phase run --once` with an `error:` line and
/// exit 1 — before, the coordinator waited forever for the dead thread to report.
/// `PHASE_TEST_PANIC` is the test-only hook that makes the named phase panic.
#[test]
fn a_panicking_phase_ends_the_run_with_an_error_and_exit_1() {
    for phase in ["router", "executor", "recovery"] {
        let p = Project::with_config(FAST);
        p.drop_task("a", json!({"kind": "shell", "command": ["true"]}));
        let out = output_within(
            p.cmd()
                .args(["run", "--once"])
                .env("PHASE_TEST_PANIC", phase),
            LIMIT,
            &format!("phase run --once with a panicking {phase}"),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{phase}: {stderr}");
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with(&format!(
                "error: the {phase} phase panicked (a bug in phase-coordinator); the run stops: \
                 PHASE_TEST_PANIC={phase}: "
            )),
            "{phase}: {stderr}"
        );
    }
}
