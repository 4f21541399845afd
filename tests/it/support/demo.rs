//! The shipped example (`examples/demo/`) as tests run it: copied to a temp directory,
//! driven through the real binary with its own state directory and config.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use super::procs::output_within;

/// Copies the tree `from` to `to` (files and directories only).
pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// `phase ARGS` on the demo copied to `demo`, its state and config named explicitly (the
/// environment's `PHASE_STATE_DIR`/`PHASE_CONFIG` ignored), within two minutes.
pub(crate) fn phase(demo: &Path, args: &[&str]) -> Output {
    output_within(
        Command::new(env!("CARGO_BIN_EXE_phase"))
            .arg("--state-dir")
            .arg(demo.join(".state"))
            .arg("--config")
            .arg(demo.join("coordinator.toml"))
            .env_remove("PHASE_STATE_DIR")
            .env_remove("PHASE_CONFIG")
            .args(args),
        Duration::from_secs(120),
        &format!("phase {}", args.join(" ")),
    )
}
