//! External programs: the fake tools under `tests/tools/`, and real ones (ruff, git, …)
//! that a test needs on PATH.

use std::path::{Path, PathBuf};

/// A fake tool script under `tests/tools/` (`"executor/stamp.sh"`), as an absolute path.
pub(crate) fn tool(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/tools")
        .join(rel)
        .display()
        .to_string()
}

/// Whether the real program `name` is on PATH, for a test that needs it.
///
/// When it is missing: in CI (`CI=true`) the test fails, saying how to install it, so CI
/// never passes without running the test; elsewhere this prints why to stderr and returns
/// `false`, and the test returns early (a skip). Use: `if !require_tool("ruff") { return; }`.
#[track_caller]
pub(crate) fn require_tool(name: &str) -> bool {
    if on_path(name).is_some() {
        return true;
    }
    let install = how_to_install(name);
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{name} is not on PATH, and CI must run this test: install it with `{install}`");
    }
    eprintln!("skipped: {name} is not on PATH (install it with `{install}` to run this test)");
    false
}

/// The first executable `name` in the directories of PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The install command for a tool; ruff's version is the one `.ci/run` pins.
fn how_to_install(name: &str) -> String {
    match name {
        "ruff" => format!("pip install ruff=={}", ci_pin("RUFF_VERSION")),
        "check-jsonschema" => format!(
            "pip install check-jsonschema=={}",
            ci_pin("CHECK_JSONSCHEMA_VERSION")
        ),
        "flock" => "apt-get install util-linux".to_string(),
        "promtool" => "apt-get install prometheus".to_string(),
        other => format!("apt-get install {other}"),
    }
}

/// A `NAME="value"` pin from `.ci/run`, so the hint cannot drift from what CI installs.
fn ci_pin(name: &str) -> &'static str {
    const CI_RUN: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/run"));
    let prefix = format!("{name}=\"");
    CI_RUN
        .lines()
        .find_map(|l| l.trim().strip_prefix(prefix.as_str())?.strip_suffix('"'))
        .unwrap_or_else(|| panic!(".ci/run pins no {name}"))
}
