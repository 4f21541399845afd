//! Sidecar locks: an exclusive `flock` on `locks/<file>.lock`, never on the data file
//! (its inode changes at every rename).
//!
//! Two ways to take one, with honest types: [`LockGuard::acquire`] waits (forever or up
//! to a limit, then [`Error::LockTimeout`]) and always returns the lock;
//! [`LockGuard::try_acquire`] does not wait and says `None` when someone holds it.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::contain::{Access, open_below};
use crate::{Error, Result};

/// How long [`LockGuard::acquire`] waits for a lock.
#[derive(Debug, Clone, Copy)]
pub enum LockWait {
    /// Block until it is free.
    Forever,
    /// Give up after this long with [`Error::LockTimeout`].
    AtMost(Duration),
}

/// A held exclusive lock; dropping it (or the process dying) releases it.
#[derive(Debug)]
pub struct LockGuard {
    // Kept open: the flock lives as long as this descriptor.
    _file: File,
    path: PathBuf,
}

impl LockGuard {
    /// Takes the exclusive lock on `path`, creating the lock file if needed, waiting as
    /// `wait` says.
    pub fn acquire(path: &Path, wait: LockWait) -> Result<LockGuard> {
        let file = open_lock_file(path)?;
        match wait {
            LockWait::Forever => file.lock().map_err(|e| Error::io(path, "lock", e))?,
            LockWait::AtMost(limit) => wait_at_most(&file, path, limit)?,
        }
        Ok(LockGuard::holding(file, path))
    }

    /// Takes the exclusive lock on `path` if it is free; `Ok(None)` when someone else
    /// holds it (the answer to "is its holder alive?").
    pub fn try_acquire(path: &Path) -> Result<Option<LockGuard>> {
        let file = open_lock_file(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(LockGuard::holding(file, path))),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(Error::io(path, "lock", e)),
        }
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn holding(file: File, path: &Path) -> LockGuard {
        LockGuard {
            _file: file,
            path: path.to_path_buf(),
        }
    }
}

/// Polls with a growing pause (200 µs up to 10 ms): `flock` itself has no timeout.
fn wait_at_most(file: &File, path: &Path, limit: Duration) -> Result<()> {
    let start = Instant::now();
    let mut pause = Duration::from_micros(200);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => return Err(Error::io(path, "lock", e)),
        }
        if start.elapsed() >= limit {
            return Err(Error::LockTimeout {
                path: path.to_path_buf(),
                waited_ms: limit.as_millis() as u64,
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}

/// Opens (creating) the lock file: neither it nor its directory (`locks/`) may
/// be a symbolic link, so a planted link never makes the engine create or write a file
/// elsewhere. A missing state directory above them is made, as before.
fn open_lock_file(path: &Path) -> Result<File> {
    match open_below(path, 2, Access::Lock) {
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().and_then(Path::parent) {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, "create directory", e))?;
            }
            open_below(path, 2, Access::Lock)
        }
        other => other,
    }
}
