//! Moving a finished run's records into `archive/<run_id>/` (`phase archive`): entries of
//! the JSON state files, and the files and directories of its tasks. Nothing is deleted:
//! each entry is written to the archive's copy of its file before it leaves the live one
//! (a crash in between leaves it in both), and files are renamed, never copied.
//!
//! The live files are changed like any hand edit, under their sidecar locks and onto the
//! version on disk (read-merge-write), so running phases adopt the change.

use std::path::{Path, PathBuf};

use super::contain::dir_below;
use super::lock::LockWait;
use super::{StateDir, StateFile};
use crate::model::StateDoc;
use crate::{Error, Result};

/// `archive/`.
pub fn archive_root(state: &StateDir) -> PathBuf {
    state.root().join("archive")
}

/// `archive/<run_id>/`, made if missing (no symbolic link on the way is followed). An
/// id that is not one path component is refused.
pub fn archive_dir(state: &StateDir, run_id: &str) -> Result<PathBuf> {
    let valid = !run_id.is_empty()
        && run_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !run_id.starts_with('.');
    if !valid {
        return Err(Error::invalid(
            archive_root(state),
            format!("{run_id:?} is not a run id"),
        ));
    }
    let dir = archive_root(state).join(run_id);
    dir_below(&dir, 2, true)?;
    Ok(dir)
}

/// Moves what `split` takes out of the live state file `T` into `dir/<T::FILE>`, where
/// `merge` adds it to what an earlier archiving put there. `split` returns `None` when
/// nothing is to move (then nothing is written). Both files are written under their own
/// locks; the live one last.
pub fn move_entries<T: StateDoc>(
    state: &StateDir,
    dir: &Path,
    run_id: &str,
    wait: LockWait,
    split: impl FnOnce(&mut T) -> Option<T>,
    merge: impl FnOnce(&mut T, T),
) -> Result<bool> {
    let mut live_file = StateFile::<T>::new(state);
    let mut live_lock = live_file.lock(wait)?;
    let mut live = match live_lock.take_external() {
        Some(doc) => doc,
        None => StateFile::<T>::new(state).read()?,
    };
    let Some(moved) = split(&mut live) else {
        return Ok(false);
    };
    let lock_name = format!("archive.{}", T::FILE);
    let mut copy_file = StateFile::<T>::at(dir.join(T::FILE), state.lock_path(&lock_name));
    let mut copy_lock = copy_file.lock(wait)?;
    let mut copy = match copy_lock.take_external() {
        Some(doc) => doc,
        None => StateFile::<T>::at(dir.join(T::FILE), state.lock_path(&lock_name)).read()?,
    };
    merge(&mut copy, moved);
    copy_lock.commit(&mut copy, run_id)?;
    live_lock.commit(&mut live, run_id)?;
    Ok(true)
}

/// Renames `from` (a file or a directory, which need not exist) to `to`, making `to`'s
/// parent. When `to` is taken (an earlier, interrupted archiving), `to.1`, `to.2`, … is
/// used: nothing is overwritten. Returns where it went, or `None` if `from` was absent.
pub fn move_path(from: &Path, to: &Path) -> Result<Option<PathBuf>> {
    match std::fs::symlink_metadata(from) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(from, "stat", e)),
    }
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, "create directory", e))?;
    }
    let mut target = to.to_path_buf();
    let mut n = 0;
    while std::fs::symlink_metadata(&target).is_ok() {
        n += 1;
        let mut name = to.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".{n}"));
        target = to.with_file_name(name);
    }
    std::fs::rename(from, &target).map_err(|e| Error::io(from, "move into the archive", e))?;
    Ok(Some(target))
}

/// Removes `archive/<run_id>/` and everything in it (`state.retention_days`): the only
/// deletion the engine ever makes of a run's records.
pub fn remove_archive(state: &StateDir, run_id: &str) -> Result<()> {
    let dir = archive_root(state).join(run_id);
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(&dir, "remove", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_name_gets_a_number_and_nothing_is_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a.md");
        std::fs::write(&a, "one").expect("write");
        let to = dir.path().join("archive/x/a.md");
        assert_eq!(move_path(&a, &to).expect("move"), Some(to.clone()));
        std::fs::write(&a, "two").expect("write");
        let second = move_path(&a, &to).expect("move").expect("moved");
        assert_eq!(second, dir.path().join("archive/x/a.md.1"));
        assert_eq!(std::fs::read_to_string(&to).expect("read"), "one");
        assert_eq!(std::fs::read_to_string(&second).expect("read"), "two");
        assert_eq!(move_path(&a, &to).expect("absent"), None);
    }

    #[test]
    fn a_run_id_is_one_path_component() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::new(dir.path().join(".state"));
        std::fs::create_dir_all(state.root()).expect("mkdir");
        assert!(archive_dir(&state, "../x").is_err());
        assert!(archive_dir(&state, "").is_err());
        let made = archive_dir(&state, "0190-abc").expect("dir");
        assert!(made.is_dir());
    }
}
