//! Sweep of temp files left by writers that died between create and rename.

use std::path::Path;
use std::time::{Duration, SystemTime};

use super::StateDir;
use super::atomic::TEMP_PREFIX;
use crate::{Error, Result};

/// A temp file this old is removed whatever its name says about its writer.
const ORPHAN_AGE: Duration = Duration::from_secs(3600);

/// Removes `.tmp-<pid>-…` files whose writer process is gone, and any older than an
/// hour, from the state directory and its `inbox/`, `tasks/`, `rejected/`, `escalations/`.
/// Returns how many were removed. Temp files of live writers are left alone.
pub fn sweep_stale_temp_files(state: &StateDir) -> Result<usize> {
    let mut removed = 0;
    let dirs = [
        state.root().to_path_buf(),
        state.inbox(),
        state.tasks(),
        state.rejected(),
        state.escalations(),
    ];
    for dir in dirs {
        removed += sweep_dir(&dir)?;
    }
    Ok(removed)
}

fn sweep_dir(dir: &Path) -> Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(dir, "list", e)),
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(TEMP_PREFIX)) else {
            continue;
        };
        let writer_alive = rest
            .split('-')
            .next()
            .and_then(|pid| pid.parse::<i32>().ok())
            .map(process_alive);
        // A write takes milliseconds, so an hour-old temp file is stale even when its pid
        // is alive: pids are reused (in a container the engine may get the same pid
        // after every restart).
        let stale = writer_alive == Some(false) || is_older_than(&entry.path(), ORPHAN_AGE);
        if stale && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

fn process_alive(pid: i32) -> bool {
    if pid == std::process::id() as i32 {
        return true;
    }
    let Some(pid) = rustix::process::Pid::from_raw(pid) else {
        return false;
    };
    // EPERM means it exists but is not ours: alive.
    !matches!(
        rustix::process::test_kill_process(pid),
        Err(rustix::io::Errno::SRCH)
    )
}

fn is_older_than(path: &Path, age: Duration) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|d| d > age)
}
