//! Secrets: state files honour the umask, and a task's `env` values stay in its task file
//! (`tasks/<id>.json`); every other file shows the names only.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use serde_json::json;

use super::{RUN_LIMIT, files_under, project};
use crate::support::procs::output_within;

const VALUE: &str = "s3cr3t-value-9f2c";

/// `phase ARGS` under `umask 077`, as a careful user runs it.
fn phase_under_umask_077(p: &crate::support::Project, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new("sh");
    cmd.current_dir(p.root())
        .arg("-c")
        .arg("umask 077 && exec \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_phase"))
        .arg("--state-dir")
        .arg(p.state())
        .arg("--config")
        .arg(p.path("config/coordinator.toml"))
        .args(args)
        .env_remove("PHASE_STATE_DIR")
        .env_remove("PHASE_CONFIG")
        .env_remove("RUST_LOG");
    output_within(&mut cmd, RUN_LIMIT, &format!("phase {}", args.join(" ")))
}

#[test]
fn env_values_stay_in_the_task_file_and_state_files_follow_the_umask() {
    let p = project();
    let task = |value: serde_json::Value| serde_json::to_vec(&value).expect("json");
    p.write(
        "keeps.json",
        task(json!({
            "kind": "shell",
            // The value reaches the command (it writes it outside .state) …
            "command": ["sh", "-c", "printf %s \"$API_TOKEN\" > token.txt"],
            "env": {"API_TOKEN": VALUE}
        })),
    );
    p.write(
        "fails.json",
        task(json!({"kind": "shell", "command": ["false"], "env": {"API_TOKEN": VALUE}})),
    );
    let submitted = phase_under_umask_077(&p, &["submit", "keeps.json", "fails.json"]);
    assert!(submitted.status.success(), "{submitted:?}");
    let out = phase_under_umask_077(&p, &["run", "--once"]);
    assert_eq!(
        p.status_of("keeps").as_deref(),
        Some("succeeded"),
        "{out:?}"
    );
    assert_eq!(p.read("token.txt"), VALUE, "the command got the value");

    // … but no state file holds it, except the task files themselves.
    let task_files = [
        p.state().join("tasks/keeps.json"),
        p.state().join("tasks/fails.json"),
    ];
    for file in files_under(&p.state()) {
        let bytes = std::fs::read(&file).expect("read");
        let holds = String::from_utf8_lossy(&bytes).contains(VALUE);
        assert_eq!(
            holds,
            task_files.contains(&file),
            "{} and the env value",
            file.display()
        );
    }
    let decisions = p.json("routing_decisions.json");
    let env = &decisions["decisions"][0]["task"]["env"];
    assert_eq!(env, &json!({"API_TOKEN": "<redacted>"}), "{decisions}");

    // Every file the engine wrote is private to its owner under umask 077.
    for file in files_under(&p.state()) {
        let mode = std::fs::metadata(&file).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} has mode {mode:o}", file.display());
    }
}
