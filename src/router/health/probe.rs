//! Running one health check: a tool is unhealthy when its program is not on PATH (or not
//! executable) or when its `health_check` fails, cannot start, or runs past
//! [`HEALTH_CHECK_TIMEOUT`] (then its process group is killed).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use super::Health;
use crate::config::ToolConfig;
use crate::process::{self, Spec};

/// How long a health check may run before it is killed and counted as failed.
const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Checks `tool` now, in `project_root`, with the tool's env and nothing on stdin/stdout.
pub(super) fn probe(tool: &ToolConfig, project_root: &Path) -> Health {
    if let Some(program) = tool.command.first().filter(|p| is_literal(p)) {
        find_program(program, project_root)?;
    }
    // An agent preset whose API key is not set cannot run (src/agent/home.rs).
    if let Some(var) = crate::agent::missing_key(tool) {
        return Err(format!(
            "the API key variable {var} is not set (api_key_env)"
        ));
    }
    let Some(argv) = &tool.health_check else {
        return Ok(());
    };
    if argv.is_empty() {
        return Err("health_check is empty".to_string());
    }
    let spec = Spec {
        argv: argv.clone(),
        cwd: project_root.to_path_buf(),
        env: tool
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        timeout: Some(HEALTH_CHECK_TIMEOUT),
        kill_grace: Duration::from_millis(200),
        ..Spec::default()
    };
    match process::run(&spec) {
        Ok(finished) if finished.success() => Ok(()),
        Ok(finished) => Err(format!(
            "health check {argv:?} failed: {}",
            finished.describe(Some(HEALTH_CHECK_TIMEOUT))
        )),
        Err(e) => Err(format!("health check {argv:?} cannot start: {e}")),
    }
}

/// A template element with no placeholder in it names a real program.
fn is_literal(element: &str) -> bool {
    !element.contains(['{', '}'])
}

/// Finds `program` the way `execvp` would: a name with a `/` is a path (relative to the
/// project root), anything else is looked up on PATH.
fn find_program(program: &str, project_root: &Path) -> Health {
    if program.contains('/') {
        let path = project_root.join(program);
        return if is_executable_file(&path) {
            Ok(())
        } else if path.exists() {
            Err(format!("{program:?} is not an executable file"))
        } else {
            Err(format!("{program:?} does not exist"))
        };
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path_var)
        .filter(|dir| !dir.as_os_str().is_empty())
        .any(|dir| is_executable_file(&dir.join(program)));
    if found {
        Ok(())
    } else {
        Err(format!("{program:?} not found on PATH"))
    }
}

fn is_executable_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_not_programs() {
        assert!(is_literal("ruff"));
        assert!(!is_literal("{command}"));
        assert!(!is_literal("--id={task_id}"));
    }

    #[test]
    fn programs_are_found_on_path_or_by_path() {
        let root = Path::new("/");
        assert!(find_program("sh", root).is_ok());
        assert!(find_program("/bin/sh", root).is_ok());
        let missing = find_program("no-such-program-xyz", root).unwrap_err();
        assert!(missing.contains("not found on PATH"), "{missing}");
        let not_exec = find_program("/etc/passwd", root).unwrap_err();
        assert!(not_exec.contains("not an executable file"), "{not_exec}");
    }
}
