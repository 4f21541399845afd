//! Tool health: a tool is unhealthy when its program is not on PATH (or not executable)
//! or when its `health_check` fails. Results are cached per tool for the life of the
//! router and re-checked at most every [`RECHECK_AFTER`].

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::ToolConfig;
use crate::process::{self, Spec};

/// How long a health result is trusted.
pub(super) const RECHECK_AFTER: Duration = Duration::from_secs(30);

/// How long a health check may run before it is killed and counted as failed.
const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// A tool's health; `Err` says why it is unusable.
pub(super) type Health = std::result::Result<(), String>;

/// The cache of health results.
#[derive(Debug)]
pub(super) struct HealthBook {
    project_root: PathBuf,
    results: HashMap<String, (Instant, Health)>,
}

impl HealthBook {
    /// Relative program paths and health checks resolve against `project_root`.
    pub(super) fn new(project_root: PathBuf) -> Self {
        Self {
            project_root,
            results: HashMap::new(),
        }
    }

    /// The health of tool `name`, checked now unless a result younger than
    /// [`RECHECK_AFTER`] is cached.
    pub(super) fn check(&mut self, name: &str, tool: &ToolConfig) -> Health {
        if let Some((at, health)) = self.results.get(name)
            && at.elapsed() < RECHECK_AFTER
        {
            return health.clone();
        }
        let health = probe(tool, &self.project_root);
        if let Err(why) = &health {
            tracing::warn!(tool = %name, reason = %why, "tool is unhealthy");
        }
        self.results
            .insert(name.to_string(), (Instant::now(), health.clone()));
        health
    }

    /// The last known health of `name`, without checking.
    pub(super) fn known(&self, name: &str) -> Option<&Health> {
        self.results.get(name).map(|(_, h)| h)
    }
}

fn probe(tool: &ToolConfig, project_root: &Path) -> Health {
    if let Some(program) = tool.command.first().filter(|p| is_literal(p)) {
        find_program(program, project_root)?;
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
