//! Sidecar locks: an exclusive `flock` on `locks/<file>.lock`, never on the data file
//! (its inode changes at every rename).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// How long to wait for a lock.
#[derive(Debug, Clone, Copy)]
pub enum LockWait {
    /// Block until it is free.
    Forever,
    /// Give up after this long with [`Error::LockTimeout`].
    AtMost(Duration),
    /// Do not wait: `Ok(None)` if it is held.
    NoWait,
}

/// A held exclusive lock; dropping it (or the process dying) releases it.
#[derive(Debug)]
pub struct LockGuard {
    // Kept open: the flock lives as long as this descriptor.
    _file: File,
    path: PathBuf,
}

impl LockGuard {
    /// Takes the exclusive lock on `path`, creating the lock file if needed.
    /// `Ok(None)` only with [`LockWait::NoWait`] when someone else holds it.
    pub fn acquire(path: &Path, wait: LockWait) -> Result<Option<LockGuard>> {
        let file = open_lock_file(path)?;
        let guard = |file| LockGuard {
            _file: file,
            path: path.to_path_buf(),
        };
        match wait {
            LockWait::Forever => {
                file.lock().map_err(|e| Error::io(path, "lock", e))?;
                Ok(Some(guard(file)))
            }
            LockWait::NoWait => match file.try_lock() {
                Ok(()) => Ok(Some(guard(file))),
                Err(TryLockError::WouldBlock) => Ok(None),
                Err(TryLockError::Error(e)) => Err(Error::io(path, "lock", e)),
            },
            LockWait::AtMost(limit) => {
                let start = Instant::now();
                let mut pause = Duration::from_micros(200);
                loop {
                    match file.try_lock() {
                        Ok(()) => return Ok(Some(guard(file))),
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
        }
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn open_lock_file(path: &Path) -> Result<File> {
    let open = || {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
    };
    match open() {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, "create directory", e))?;
            }
            open().map_err(|e| Error::io(path, "open lock file", e))
        }
        Err(e) => Err(Error::io(path, "open lock file", e)),
    }
}
