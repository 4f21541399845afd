//! Atomic replace: temp file in the same directory, write, fsync, rename, fsync the dir.

use std::fs::{File, Permissions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::{Error, Result};

/// Identity of one version of a file, cheap to compare: a rename gives a new inode, an
/// in-place edit a new size or mtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

impl Fingerprint {
    /// The fingerprint of the file at `path`; `Ok(None)` if there is none.
    pub fn of_path(path: &Path) -> Result<Option<Fingerprint>> {
        match std::fs::metadata(path) {
            Ok(m) => Ok(Some(Self::of_metadata(&m))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, "stat", e)),
        }
    }

    fn of_metadata(m: &std::fs::Metadata) -> Fingerprint {
        Fingerprint {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime_ns: m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
        }
    }
}

/// Prefix of every temp file the engine writes; swept at start when its writer is dead.
pub const TEMP_PREFIX: &str = ".tmp-";

/// Writes `bytes` to `target` atomically: readers see the old file or the new one, never
/// a torn one, also across a crash. The result has mode 0644. Returns the new file's
/// fingerprint. Callers writing a shared state file must hold its sidecar lock.
pub fn write_atomic(target: &Path, bytes: &[u8]) -> Result<Fingerprint> {
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!("{TEMP_PREFIX}{}-", std::process::id()))
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, "create temp file", e))?;
    let tmp_path = tmp.path().to_path_buf();
    let file = tmp.as_file_mut();
    file.write_all(bytes)
        .map_err(|e| Error::io(&tmp_path, "write", e))?;
    file.set_permissions(Permissions::from_mode(0o644))
        .map_err(|e| Error::io(&tmp_path, "chmod", e))?;
    file.sync_all()
        .map_err(|e| Error::io(&tmp_path, "fsync", e))?;
    let meta = file
        .metadata()
        .map_err(|e| Error::io(&tmp_path, "stat", e))?;
    tmp.persist(target)
        .map_err(|e| Error::io(target, "rename into place", e.error))?;
    sync_dir(dir)?;
    Ok(Fingerprint::of_metadata(&meta))
}

/// Writes `bytes` as a new file `target`, atomically, failing if `target` exists.
pub fn create_atomic(target: &Path, bytes: &[u8]) -> Result<()> {
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!("{TEMP_PREFIX}{}-", std::process::id()))
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, "create temp file", e))?;
    let tmp_path = tmp.path().to_path_buf();
    let file = tmp.as_file_mut();
    file.write_all(bytes)
        .map_err(|e| Error::io(&tmp_path, "write", e))?;
    file.set_permissions(Permissions::from_mode(0o644))
        .map_err(|e| Error::io(&tmp_path, "chmod", e))?;
    file.sync_all()
        .map_err(|e| Error::io(&tmp_path, "fsync", e))?;
    tmp.persist_noclobber(target)
        .map_err(|e| Error::io(target, "publish", e.error))?;
    sync_dir(dir)
}

/// fsyncs a directory, so a rename in it survives a power cut.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, "fsync directory", e))
}
