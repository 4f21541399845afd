//! Finding the project as git does: the nearest `.state` at or above the current
//! directory, its config relative to that root, and an error (exit 2) when there is none.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use super::FAST;
use crate::support::Project;
use crate::support::procs::output_within;

/// `phase ARGS` in `dir`, with no `--state-dir`/`--config` and none in the environment.
fn phase_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = output_within(
        Command::new(env!("CARGO_BIN_EXE_phase"))
            .current_dir(dir)
            .env_remove("PHASE_STATE_DIR")
            .env_remove("PHASE_CONFIG")
            .env_remove("RUST_LOG")
            .args(args),
        Duration::from_secs(60),
        &format!("phase {}", args.join(" ")),
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_subdirectory_finds_the_project_and_its_config() {
    let p = Project::with_config(FAST);
    p.drop_task("hello", json!({"kind": "shell", "command": ["true"]}));
    let sub = p.path("src/deep/er");
    std::fs::create_dir_all(&sub).expect("mkdir");
    let (code, out, err) = phase_in(&sub, &["run", "--once"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = phase_in(&sub, &["status", "--json"]);
    assert_eq!(code, 0, "{err}");
    let status: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(status["tasks"][0]["id"], "hello", "{out}");
    assert_eq!(status["tasks"][0]["state"], "succeeded", "{out}");
    // The config found is the project's: a broken one there is reported.
    p.write(
        "config/coordinator.toml",
        "[execution]\nmax_parallel = \"x\"\n",
    );
    let (code, _, err) = phase_in(&sub, &["validate"]);
    assert_ne!(code, 0);
    assert!(err.contains("coordinator.toml"), "{err}");
}

#[test]
fn no_state_directory_is_an_error_except_for_init() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (code, out, err) = phase_in(tmp.path(), &["status"]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(
        err.starts_with("error: no .state directory here or above ")
            && err.contains("run `phase init`"),
        "{err}"
    );
    let (code, _, err) = phase_in(tmp.path(), &["init"]);
    assert_eq!(code, 0, "{err}");
    assert!(tmp.path().join(".state").is_dir());
    let (code, _, err) = phase_in(tmp.path(), &["status"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = phase_in(tmp.path(), &["--config", "nope.toml", "validate"]);
    assert!(
        code != 0 && err.contains("nope.toml"),
        "an explicit missing config is an error: {code} {err}"
    );
}
