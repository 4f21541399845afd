//! Which phases are running anywhere on this state directory: each running phase holds an
//! `flock` on `locks/phase.<name>.<pid>.lock`. Like claims, the kernel drops it when the
//! process dies, so the answer is true after a crash. `--once` uses it to know whether a
//! task waiting on, say, recovery will ever be picked up.

use super::{LockGuard, LockWait, StateDir};
use crate::{Error, Result};

/// A phase's registration; dropping it unregisters.
#[derive(Debug)]
pub struct Presence {
    _guard: LockGuard,
    path: std::path::PathBuf,
}

impl Presence {
    /// Registers phase `name` of this process.
    pub fn register(state: &StateDir, name: &str) -> Result<Presence> {
        let path = state
            .root()
            .join("locks")
            .join(format!("phase.{name}.{}.lock", std::process::id()));
        let guard = LockGuard::acquire(&path, LockWait::Forever)?;
        Ok(Presence {
            _guard: guard,
            path,
        })
    }

    /// Whether some live process (this one included) runs phase `name`. Registrations of
    /// dead processes are removed on the way.
    pub fn is_alive(state: &StateDir, name: &str) -> Result<bool> {
        let dir = state.root().join("locks");
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::io(&dir, "list", e)),
        };
        let prefix = format!("phase.{name}.");
        let mut alive = false;
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let Some(file_name) = file_name.to_str() else {
                continue;
            };
            if !file_name.starts_with(&prefix) || !file_name.ends_with(".lock") {
                continue;
            }
            match LockGuard::try_acquire(&entry.path())? {
                None => alive = true,
                Some(_stale) => {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(alive)
    }
}

impl Drop for Presence {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
