//! `phase init`, `phase schema`, and the global command-line behaviour.

use std::time::Duration;

use crate::support::Project;
use crate::support::procs::wait_output;

const SHIPPED_CONFIG: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/config/coordinator.toml"
));

#[test]
fn init_creates_the_layout_and_a_starter_config() {
    let p = Project::empty();
    p.phase(&["init"]).expect(
        0,
        "created .state/\ncreated .state/inbox/\ncreated .state/tasks/\ncreated .state/rejected/\n\
         created .state/logs/\ncreated .state/escalations/\ncreated .state/locks/\n\
         created .state/claims/\ncreated config/coordinator.toml\n",
        "",
    );
    for dir in [
        "inbox",
        "tasks",
        "rejected",
        "logs",
        "escalations",
        "locks",
        "claims",
    ] {
        assert!(p.path(".state").join(dir).is_dir(), "{dir}");
    }
    assert_eq!(p.read("config/coordinator.toml"), SHIPPED_CONFIG);
    // What init wrote is a valid config and a valid (empty) state directory.
    p.phase(&["validate"]).expect(0, "ok: 1 file valid\n", "");
}

#[test]
fn init_never_overwrites() {
    let p = Project::initialised();
    let edited = "[routing]\nsettle_ms = 7\n";
    p.write("config/coordinator.toml", edited);
    p.phase(&["init"]).expect(
        0,
        "already exists: .state/ (layout complete)\n\
         already exists: config/coordinator.toml (not overwritten)\n",
        "",
    );
    assert_eq!(p.read("config/coordinator.toml"), edited);
}

#[test]
fn init_completes_a_partial_layout_and_honours_the_options() {
    let p = Project::empty();
    std::fs::create_dir_all(p.path("st/inbox")).unwrap();
    let run = p.phase(&["--state-dir", "st", "--config", "cfg/my.toml", "init"]);
    run.expect(
        0,
        "created st/tasks/\ncreated st/rejected/\ncreated st/logs/\ncreated st/escalations/\n\
         created st/locks/\ncreated st/claims/\ncreated cfg/my.toml\n",
        "",
    );
    assert_eq!(p.read("cfg/my.toml"), SHIPPED_CONFIG);
}

#[test]
fn schema_lists_names() {
    Project::empty().phase(&["schema"]).expect(
        0,
        "task\nrouting_decisions\nadapter_assignments\nexecution_results\nerror_analysis\n\
         fix_patches\ncontrol\nevent\nattempt_outcome\nconfig\ntool_health\nplans\nruns\nhooks\n\
         fixes_in_progress\n",
        "",
    );
}

#[test]
fn schema_prints_the_published_file() {
    let p = Project::empty();
    for (name, file) in [
        (
            "task",
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/schemas/task.schema.json"
            )),
        ),
        (
            "config",
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/schemas/config.schema.json"
            )),
        ),
        (
            "execution_results.schema.json",
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/schemas/execution_results.schema.json"
            )),
        ),
    ] {
        let run = p.phase(&["schema", name]);
        assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{name}");
        assert_eq!(run.stdout.trim_end(), file.trim_end(), "{name}");
        let parsed: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert!(parsed.is_object());
    }
}

#[test]
fn unknown_schema_is_a_usage_error_listing_the_names() {
    Project::empty().phase(&["schema", "tasks"]).expect(
        2,
        "",
        "error: unknown schema \"tasks\" (expected one of: task, routing_decisions, \
         adapter_assignments, execution_results, error_analysis, fix_patches, control, event, \
         attempt_outcome, config, tool_health, plans, runs, hooks, fixes_in_progress)\n",
    );
}

#[test]
fn usage_errors_exit_2() {
    let p = Project::empty();
    for args in [
        &[][..],
        &["frobnicate"],
        &["--bogus", "schema"],
        &["submit"],
        &["-v", "-q", "schema"],
    ] {
        let run = p.phase(args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(
            run.stderr.starts_with("error: ") || run.stderr.contains("Usage: phase"),
            "{args:?}: {run:?}"
        );
        assert_eq!(run.stdout, "", "{args:?}");
    }
    let help = p.phase(&["--help"]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("submit"), "{help:?}");
    let version = p.phase(&["--version"]);
    // The commit follows the version (tests/it/cli/talk.rs checks which).
    assert_eq!(
        (version.code, version.stderr.as_str()),
        (0, ""),
        "{version:?}"
    );
    let prefix = format!("phase {} (commit ", env!("CARGO_PKG_VERSION"));
    assert!(version.stdout.starts_with(&prefix), "{version:?}");
}

#[test]
fn state_dir_and_config_come_from_the_environment() {
    let p = Project::empty();
    let output = assert_cmd::Command::new(env!("CARGO_BIN_EXE_phase"))
        .current_dir(p.root())
        .env("PHASE_STATE_DIR", "elsewhere")
        .env("PHASE_CONFIG", "conf.toml")
        .arg("init")
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(p.path("elsewhere/inbox").is_dir());
    assert!(p.path("conf.toml").is_file());
}

#[test]
fn an_explicitly_named_config_must_exist() {
    let p = Project::initialised();
    p.phase(&["--config", "missing.toml", "validate"]).expect(
        1,
        "invalid: 1 of 1 file\n",
        "error: missing.toml: cannot read config: No such file or directory (os error 2)\n",
    );
}

#[test]
fn closed_stdout_is_not_a_crash() {
    let p = Project::empty();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_phase"))
        .current_dir(p.root())
        .args(["schema", "config"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end at once: every write fails with EPIPE.
    drop(child.stdout.take());
    let output = wait_output(child, Duration::from_secs(60), "phase schema config");
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}
