//! Atomic replace: temp file in the same directory, write, fsync, rename, fsync the dir.

use std::fs::{File, Permissions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{Error, Result};

/// Identity of one version of a file, cheap to compare: a rename gives a new inode, an
/// in-place edit a new size, mtime or ctime (ctime cannot be set back by `touch -d` or
/// `cp -p`). Timestamps come from a coarse kernel clock, so two versions written within
/// one clock tick can share a fingerprint: see [`Fingerprint::is_racy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Fingerprint {
    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.len
    }

    /// The fingerprint of the file at `path`; `Ok(None)` if there is none.
    pub fn of_path(path: &Path) -> Result<Option<Fingerprint>> {
        match std::fs::metadata(path) {
            Ok(m) => Ok(Some(Self::of_metadata(&m))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, "stat", e)),
        }
    }

    pub(super) fn of_metadata(m: &std::fs::Metadata) -> Fingerprint {
        Fingerprint {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime_ns: m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
            ctime_ns: m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128,
        }
    }

    /// Whether a change made after `observed_at` could still carry this fingerprint: the
    /// file was changed less than one timestamp granule before it was observed, so a
    /// same-size in-place edit (or a rename reusing the inode number) in that granule
    /// would look identical. Such a fingerprint must be backed by a content check — the
    /// "racy clean" rule of git's index.
    pub fn is_racy(&self, observed_at: SystemTime) -> bool {
        // Nanosecond timestamps still move in kernel clock ticks (≤ 10 ms); a zero
        // fraction means a file system that stores whole seconds (FAT: two).
        let granule = if self.ctime_ns % 1_000_000_000 == 0 {
            Duration::from_secs(3)
        } else {
            Duration::from_millis(100)
        };
        let observed_ns = match observed_at.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i128,
            Err(e) => -(e.duration().as_nanos() as i128),
        };
        observed_ns < self.ctime_ns + granule.as_nanos() as i128
    }
}

/// Prefix of every temp file the engine writes; swept at start when its writer is dead.
pub const TEMP_PREFIX: &str = ".tmp-";

/// Writes `bytes` to `target` atomically: readers see the old file or the new one, never
/// a torn one, also across a crash. The result has the mode `File::create` would give
/// (0666 less the process umask: 0644 under the usual 022, 0600 under 077). The rename
/// replaces a symbolic link at `target` instead of writing through it. Returns the new
/// file's fingerprint. Callers writing a shared state file must hold its sidecar lock.
pub fn write_atomic(target: &Path, bytes: &[u8]) -> Result<Fingerprint> {
    write_atomic_with(target, |w| w.write_all(bytes))
}

/// Like [`write_atomic`], without `fsync`: for files regenerated from the state files
/// all run long (metrics, the dashboard). A power cut may lose the newest version, never
/// leave a torn one; the next regeneration writes it again.
pub fn write_atomic_unsynced(target: &Path, bytes: &[u8]) -> Result<Fingerprint> {
    replace_with(target, |w| w.write_all(bytes), Durability::Unsynced)
}

/// Like [`write_atomic`], with the content produced by `fill` straight into the temp
/// file (through a buffer), so a large document is never held as one byte string.
pub fn write_atomic_with(
    target: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<Fingerprint> {
    replace_with(target, fill, Durability::Synced)
}

/// Whether a replace waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// The file and the rename are fsynced: the new content survives a power cut.
    Synced,
    /// No `fsync`: readers still see the old or the new content, never a mix, and a
    /// process crash loses nothing; a power cut may bring the previous version back. For
    /// writes whose loss only means work done again.
    Unsynced,
}

/// [`write_atomic_with`] with the choice of [`Durability`].
pub(crate) fn replace_with(
    target: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    durability: Durability,
) -> Result<Fingerprint> {
    let dir = parent_dir(target);
    let tmp = temp_file(dir, fill, durability)?;
    let file = tmp
        .persist(target)
        .map_err(|e| Error::io(target, "rename into place", e.error))?;
    // Stat after the rename (it changes the ctime) and through our descriptor, so the
    // fingerprint is of the version we wrote even if someone replaced it since.
    let meta = file.metadata().map_err(|e| Error::io(target, "stat", e))?;
    if durability == Durability::Synced {
        sync_dir(dir)?;
    }
    Ok(Fingerprint::of_metadata(&meta))
}

/// Writes `bytes` as a new file `target`, atomically, failing if `target` exists.
pub fn create_atomic(target: &Path, bytes: &[u8]) -> Result<()> {
    create_unsynced_dir(target, bytes)?;
    sync_dir(parent_dir(target))
}

/// Like [`create_atomic`] but leaves the directory's fsync to the caller, who publishes
/// a batch of files and syncs the directory once.
pub(crate) fn create_unsynced_dir(target: &Path, bytes: &[u8]) -> Result<()> {
    temp_file(
        parent_dir(target),
        |w| w.write_all(bytes),
        Durability::Synced,
    )?
    .persist_noclobber(target)
    .map_err(|e| Error::io(target, "publish", e.error))?;
    Ok(())
}

/// A temp file `.tmp-<pid>-…` in `dir` holding what `fill` wrote, fsynced unless
/// `durability` says not to: ready to be renamed into place. Created with mode 0666 so the kernel applies the umask, as for
/// any new file (tempfile's own default, 0600, would hide state files from other
/// readers; forcing 0644 would publish secrets whatever the umask says).
fn temp_file(
    dir: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    durability: Durability,
) -> Result<tempfile::NamedTempFile> {
    let mut tmp = tempfile::Builder::new()
        .permissions(Permissions::from_mode(0o666))
        .prefix(&format!("{TEMP_PREFIX}{}-", std::process::id()))
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, "create temp file", e))?;
    let tmp_path = tmp.path().to_path_buf();
    let file = tmp.as_file_mut();
    {
        let mut buffered = std::io::BufWriter::with_capacity(256 * 1024, &mut *file);
        fill(&mut buffered)
            .and_then(|()| buffered.flush())
            .map_err(|e| Error::io(&tmp_path, "write", e))?;
    }
    if durability == Durability::Synced {
        file.sync_all()
            .map_err(|e| Error::io(&tmp_path, "fsync", e))?;
    }
    Ok(tmp)
}

/// The directory a file lives in (`.` for a bare name).
fn parent_dir(target: &Path) -> &Path {
    target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// fsyncs a directory, so a rename in it survives a power cut.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, "fsync directory", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unsynced_replace_publishes_the_whole_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("fix_patches.json");
        write_atomic(&target, b"old\n").expect("first write");
        let fingerprint = replace_with(&target, |w| w.write_all(b"new\n"), Durability::Unsynced)
            .expect("unsynced write");
        assert_eq!(std::fs::read(&target).expect("read"), b"new\n");
        assert_eq!(
            Fingerprint::of_path(&target).expect("stat"),
            Some(fingerprint)
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["fix_patches.json"], "no temp file left behind");
    }
}
