//! What a person sees in a terminal (a real pseudo-terminal made by `script`): the
//! `run --once` progress bar, the coloured status table cut to the terminal's width; and
//! that none of it leaks into a pipe, nor past `NO_COLOR`.

use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::support::procs::output_within;
use crate::support::{Project, require_tool};

/// `phase ARGS` in a pseudo-terminal `cols` wide; returns the terminal's output (stdout
/// and stderr together, as a screen shows them) and the exit code.
fn in_terminal(p: &Project, cols: u16, env: &[(&str, &str)], args: &str) -> (i32, String) {
    let script = format!(
        "stty cols {cols} rows 50; exec '{}' {args}",
        env!("CARGO_BIN_EXE_phase")
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &script, "/dev/null"])
        .current_dir(p.root())
        .env_remove("PHASE_STATE_DIR")
        .env_remove("PHASE_CONFIG")
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        // Colour needs a terminal type; CI's environment may have none.
        .env("TERM", "xterm-256color");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = output_within(
        &mut cmd,
        Duration::from_secs(90),
        &format!("script: phase {args}"),
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The text without ANSI escape sequences, as lines (a terminal's `\r\n` as `\n`).
fn plain_lines(screen: &str) -> Vec<String> {
    let re = regex::Regex::new(r"\x1b\[[0-9;?]*[A-Za-z]").expect("regex");
    re.replace_all(screen, "")
        .split('\n')
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect()
}

/// A project with tasks that succeed, fail (quarantined) and wait on a task never
/// submitted (dep_failed, with a reason longer than a narrow terminal).
fn project_with_history() -> Project {
    let p = Project::initialised();
    p.drop_task(
        "ok-1",
        json!({"id": "ok-1", "kind": "shell", "description": "fine", "command": ["true"]}),
    );
    p.drop_task(
        "bad-1",
        json!({"id": "bad-1", "kind": "shell", "description": "fails",
               "command": ["false"], "max_retries": 0}),
    );
    p.drop_task(
        "orphan",
        json!({"id": "orphan", "kind": "shell", "description": "waits",
               "command": ["true"], "depends_on": ["never-submitted"]}),
    );
    let run = p.phase(&["run", "--once", "-q"]);
    assert_eq!(run.code, 1, "one task fails: {run:?}");
    p
}

#[test]
fn status_in_a_terminal_is_coloured_and_fits_its_width() {
    if !require_tool("script") {
        return;
    }
    let p = project_with_history();
    let (code, screen) = in_terminal(&p, 60, &[], "status");
    assert_eq!(code, 0, "{screen}");
    // Succeeded in green, failed in red, the header bold.
    assert!(screen.contains("\x1b[32msucceeded"), "{screen:?}");
    assert!(screen.contains("\x1b[31mquarantined"), "{screen:?}");
    assert!(screen.contains("\x1b[1mTASK"), "{screen:?}");
    let lines = plain_lines(&screen);
    // The table (the lines before the config and the counts) fits the width.
    let table: Vec<&String> = lines
        .iter()
        .take_while(|l| !l.starts_with("config:"))
        .collect();
    assert_eq!(table.len(), 4, "header and three tasks: {lines:?}");
    for line in table {
        assert!(line.chars().count() <= 60, "wider than 60: {line:?}");
    }
    assert!(
        lines[0].starts_with("TASK    STATE        TOOL"),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains('…')),
        "the long reason is cut: {lines:?}"
    );
    // Compact: no rule between rows.
    assert!(!screen.contains('─'), "{screen}");

    // NO_COLOR: the same table, no escape code at all.
    let (code, screen) = in_terminal(&p, 60, &[("NO_COLOR", "1")], "status");
    assert_eq!(code, 0, "{screen}");
    assert!(!screen.contains('\x1b'), "{screen:?}");
    assert!(screen.contains("succeeded"), "{screen}");
}

#[test]
fn status_piped_is_plain_compact_and_whole() {
    let p = project_with_history();
    let run = p.phase(&["status"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stdout.contains('\x1b'), "{:?}", run.stdout);
    let lines: Vec<&str> = run.stdout.lines().collect();
    // Header, three tasks, the counts, the config: nothing between rows.
    assert_eq!(lines.len(), 6, "{}", run.stdout);
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["TASK", "STATE", "TOOL", "ATT", "WAITING", "ON", "DETAIL"]
    );
    // Not cut when piped: a program reads the whole reason.
    let reason =
        "dependency \"never-submitted\" is unknown (no routing decision, and the inbox is empty)";
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("orphan") && l.ends_with(reason)),
        "{}",
        run.stdout
    );
    assert_eq!(lines[4], "config: config/coordinator.toml");
    assert_eq!(
        lines[5],
        "3 tasks: 1 dep_failed, 1 quarantined, 1 succeeded; phases running: none"
    );
}

#[test]
fn run_once_shows_a_progress_bar_in_a_terminal_only() {
    if !require_tool("script") {
        return;
    }
    let p = Project::initialised();
    for i in 0..4 {
        let id = format!("nap-{i}");
        p.drop_task(
            &id,
            json!({"id": id, "kind": "shell", "description": "nap",
                   "command": ["sleep", "0.6"]}),
        );
    }
    let (code, screen) = in_terminal(&p, 100, &[], "run --once");
    assert_eq!(code, 0, "{screen}");
    // The bar redraws in place (erase line) and ends with every task counted.
    assert!(screen.contains("\x1b[2K"), "{screen:?}");
    assert!(screen.contains("4/4"), "{screen:?}");
    assert!(
        screen.contains("phase: running executor") || screen.contains("phase: running router"),
        "{screen}"
    );
    assert!(screen.contains("4 tasks: 4 succeeded"), "{screen}");

    // Piped: the start line and the summary, no bar, no escape code.
    for i in 4..6 {
        let id = format!("nap-{i}");
        p.drop_task(
            &id,
            json!({"id": id, "kind": "shell", "description": "nap", "command": ["true"]}),
        );
    }
    let run = p.phase(&["run", "--once"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        !run.stderr.contains('\x1b') && !run.stdout.contains('\x1b'),
        "{run:?}"
    );
    assert!(!run.stderr.contains("/6"), "no bar: {}", run.stderr);
    assert!(
        run.stderr.starts_with("phase: running router, executor, recovery on .state (config config/coordinator.toml; up to "),
        "{}",
        run.stderr
    );

    // -q in a terminal: no bar and no start line.
    p.drop_task(
        "nap-9",
        json!({"id": "nap-9", "kind": "shell", "description": "nap", "command": ["true"]}),
    );
    let (code, screen) = in_terminal(&p, 100, &[], "run --once -q");
    assert_eq!(code, 0, "{screen}");
    assert!(
        !screen.contains("\x1b[2K") && !screen.contains("phase: running"),
        "{screen:?}"
    );
}
