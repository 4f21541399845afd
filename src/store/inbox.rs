//! The inbox and its two exits: `tasks/<id>.json` for accepted files, `rejected/<file>`
//! (with `<file>.error.json` saying why) for the rest. Files are moved, never deleted,
//! and a rejected file never overwrites another (`inbox/reject.rs`).

mod reject;

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use cap_std::fs::Dir;

use super::atomic::{Fingerprint, sync_dir};
use super::contain::{dir_below, symlink_error};
use super::file_name::{escaped, task_file_stem};
use super::task_file::{parse_task_bytes, read_task_bytes_in};
use super::{LockGuard, StateDir};
use crate::model::TaskSpec;
use crate::{Error, Result};

pub use reject::{RejectionNote, reject_task_file};

/// One candidate task file in `inbox/`, as listed.
#[derive(Debug, Clone)]
pub struct InboxFile {
    /// Its path.
    pub path: PathBuf,
    /// Its name inside `inbox/`.
    pub file_name: OsString,
    /// Identity of this version (inode, size, mtime, ctime).
    pub fingerprint: Fingerprint,
    /// Its modification time: submission order.
    pub modified: SystemTime,
    /// What it was as listed (`lstat`: a symbolic link is one).
    pub file_type: std::fs::FileType,
}

impl InboxFile {
    /// The file name for messages (a byte that is not UTF-8 as `\xNN`).
    pub fn name(&self) -> String {
        match self.file_name.to_str() {
            Some(name) => name.to_string(),
            None => escaped(&self.file_name),
        }
    }
}

/// Whether `name` is a task file the router takes: `*.json`, not hidden (which also
/// skips temp files such as `.tmp-…` and `.a.json.tmp`).
pub fn is_inbox_candidate(name: &OsStr) -> bool {
    let bytes = name.as_bytes();
    bytes.ends_with(b".json") && !bytes.starts_with(b".")
}

/// Whether `inbox/` holds a task file the router would take; stops at the first one. A
/// missing or unreadable inbox holds none. Read-only.
pub fn inbox_has_task_files(state: &StateDir) -> bool {
    let Ok(entries) = std::fs::read_dir(state.inbox()) else {
        return false;
    };
    entries
        .flatten()
        .any(|e| is_inbox_candidate(&e.file_name()))
}

/// The task files in `inbox/`, oldest first (by mtime, then name). A missing inbox is
/// empty; a file that vanishes while listing is skipped.
pub fn list_inbox(state: &StateDir) -> Result<Vec<InboxFile>> {
    list_inbox_reusing(state, &mut HashMap::new())
}

/// [`list_inbox`], taking the entries of `known` (listed before) as they were instead of
/// `stat`ing them again; `known` is emptied.
fn list_inbox_reusing(
    state: &StateDir,
    known: &mut HashMap<OsString, InboxFile>,
) -> Result<Vec<InboxFile>> {
    let dir = state.inbox();
    refuse_link(&dir)?;
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&dir, "list", e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&dir, "list", e))?;
        let file_name = entry.file_name();
        if !is_inbox_candidate(&file_name) {
            continue;
        }
        if let Some(file) = known.remove(&file_name) {
            files.push(file);
            continue;
        }
        // lstat: a symlink is listed as itself, and rejected by the reader.
        let meta = match entry.metadata() {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(entry.path(), "stat", e)),
        };
        files.push(InboxFile {
            path: entry.path(),
            fingerprint: Fingerprint::of_metadata(&meta),
            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            file_type: meta.file_type(),
            file_name,
        });
    }
    // Not `clear()`: the table a drop of 100,000 files needed would stay for the run.
    *known = HashMap::new();
    files.sort_by(|a, b| (a.modified, &a.file_name).cmp(&(b.modified, &b.file_name)));
    Ok(files)
}

/// Lists `inbox/` only when it may hold something new: a `stat` of the directory per look
/// while it is quiet, instead of a `readdir` over every entry it ever held (an ext4
/// directory keeps its size after its files leave; at 10,000 tasks that listing was the
/// router's largest cost). A rename, creation or removal moves the directory's
/// fingerprint. A listing within a timestamp granule of the last change is not trusted
/// (a rename in that same tick would not move it): the next look lists again, and the
/// watcher's event for such a rename brings that look.
#[derive(Debug, Default)]
pub struct InboxWatch {
    /// The directory's fingerprint at the last listing whose files were all handled,
    /// unless that listing was racy.
    listed: Option<Option<Fingerprint>>,
    /// The same for the last listing, until [`InboxWatch::handled`] says so.
    pending: Option<Option<Fingerprint>>,
    /// Files a pass left for the next one, as listed: the next listing reads the names
    /// and `stat`s only the others. A large drop is routed in several passes, and each
    /// used to `stat` every file still waiting.
    deferred: HashMap<OsString, InboxFile>,
}

impl InboxWatch {
    /// Whether the inbox is as it was at the last listing (a `stat`, nothing listed).
    pub fn is_unchanged(&self, state: &StateDir) -> Result<bool> {
        Ok(self.listed.is_some() && self.listed == Some(inbox_dir_fingerprint(state)?))
    }

    /// The inbox's task files (as [`list_inbox`]). Until [`InboxWatch::handled`], the next
    /// look lists again.
    pub fn list(&mut self, state: &StateDir) -> Result<Vec<InboxFile>> {
        let observed_at = SystemTime::now();
        let fingerprint = inbox_dir_fingerprint(state)?;
        let files = list_inbox_reusing(state, &mut self.deferred)?;
        let racy = fingerprint.is_some_and(|f| f.is_racy(observed_at));
        self.listed = None;
        self.pending = (!racy).then_some(fingerprint);
        Ok(files)
    }

    /// Every file of the last listing was routed or rejected (none failed, none left
    /// for later): until the directory changes, there is nothing new to list.
    pub fn handled(&mut self) {
        self.listed = self.pending.take();
    }

    /// The files of the last listing a pass left untouched for the next (all others were
    /// routed or rejected): the next listing takes them as listed. A file changed in
    /// place meanwhile is caught as the reader catches any change during a read (its
    /// `stat` after the read differs), and the pass that finds it settling does not call
    /// this, so the listing after it `stat`s everything again.
    pub fn defer(&mut self, files: Vec<InboxFile>) {
        self.deferred = files
            .into_iter()
            .map(|f| (f.file_name.clone(), f))
            .collect();
    }
}

/// The fingerprint of `inbox/` itself (`None`: there is none).
fn inbox_dir_fingerprint(state: &StateDir) -> Result<Option<Fingerprint>> {
    let dir = state.inbox();
    match std::fs::symlink_metadata(&dir) {
        Ok(m) => Ok(Some(Fingerprint::of_metadata(&m))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(&dir, "stat", e)),
    }
}

/// The fingerprint of an inbox file as listed (`lstat`: a symlink is itself, not its
/// target); `Ok(None)` if it is gone.
pub fn inbox_fingerprint(path: &Path) -> Result<Option<Fingerprint>> {
    match std::fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(Fingerprint::of_metadata(&m))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, "stat", e)),
    }
}

/// Held while one router pass moves files out of the inbox, so two routers on one state
/// directory never move (or reject) the same file twice. It keeps no-follow handles on
/// `inbox/` and `tasks/` for the pass: each file is read and moved through them, with no
/// path walked again per file.
#[derive(Debug)]
pub struct InboxLock {
    _guard: LockGuard,
    /// `inbox/`, unless it is missing (nothing to read or move then).
    inbox: Option<Dir>,
    /// `tasks/`, made if missing.
    tasks: Dir,
}

/// Takes `locks/inbox.lock` if it is free; `Ok(None)` when another router holds it.
pub fn try_lock_inbox(state: &StateDir) -> Result<Option<InboxLock>> {
    let Some(guard) = LockGuard::try_acquire(&state.lock_path("inbox"))? else {
        return Ok(None);
    };
    Ok(Some(InboxLock {
        _guard: guard,
        inbox: dir_below(&state.inbox(), 1, false)?,
        tasks: tasks_dir(state)?,
    }))
}

impl InboxLock {
    /// A listed inbox file, read through the pass's handle on `inbox/` and validated as
    /// [`super::read_task_file`] does, with the hash of its bytes when they could be read
    /// (the router's "same content" test).
    pub fn read_task(&self, file: &InboxFile) -> (Option<u64>, Result<TaskSpec>) {
        // The name first: a file whose name cannot be shown is rejected for that reason.
        let stem = match task_file_stem(&file.path) {
            Ok(stem) => stem,
            Err(e) => return (None, Err(e)),
        };
        let bytes = match &self.inbox {
            Some(inbox) => read_task_bytes_in(inbox, &file.path, file.file_type),
            None => Err(Error::io(
                &file.path,
                "read",
                std::io::ErrorKind::NotFound.into(),
            )),
        };
        match bytes {
            Ok(bytes) => {
                let mut hasher = DefaultHasher::new();
                bytes.hash(&mut hasher);
                let spec = parse_task_bytes(&file.path, &bytes, stem);
                (Some(hasher.finish()), spec)
            }
            Err(e) => (None, Err(e)),
        }
    }

    /// Whether `tasks/<id>.json` exists (a dangling symlink too).
    pub fn task_exists(&self, id: &str) -> bool {
        self.tasks.symlink_metadata(format!("{id}.json")).is_ok()
    }
}

/// `tasks/` as a no-follow handle, made if missing.
fn tasks_dir(state: &StateDir) -> Result<Dir> {
    dir_below(&state.tasks(), 1, true)?.ok_or_else(|| {
        Error::io(
            state.tasks(),
            "create directory",
            std::io::ErrorKind::NotFound.into(),
        )
    })
}

/// `tasks/<id>.json`.
pub fn accepted_task_path(state: &StateDir, id: &str) -> PathBuf {
    state.tasks().join(format!("{id}.json"))
}

/// Whether `tasks/<id>.json` exists.
pub fn accepted_task_exists(state: &StateDir, id: &str) -> bool {
    present(&accepted_task_path(state, id))
}

/// Whether anything (a dangling symlink too) is at `path`.
fn present(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// Moves an inbox file to `tasks/<id>.json`. `Ok(false)` if it is no longer there.
/// Not durable until [`sync_intake_dirs`].
pub fn accept_task_file(state: &StateDir, file: &Path, id: &str, lock: &InboxLock) -> Result<bool> {
    // Through the pass's no-follow handles on inbox/ and tasks/: a planted link never
    // sends a task file out of the state directory.
    let Some(inbox) = &lock.inbox else {
        return Ok(false);
    };
    let name = file.file_name().unwrap_or_default();
    let target = format!("{id}.json");
    match inbox.rename(name, &lock.tasks, &target) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !present(file) => Ok(false),
        // A directory was replaced by hand during the pass: both are opened again, once.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let Some(inbox) = dir_below(&state.inbox(), 1, false)? else {
                return Ok(false);
            };
            match inbox.rename(name, &tasks_dir(state)?, &target) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !present(file) => Ok(false),
                Err(e) => Err(Error::io(file, "move to tasks/", e)),
            }
        }
        Err(e) => Err(Error::io(file, "move to tasks/", e)),
    }
}

/// A symbolic link where a state directory should be is refused by name.
fn refuse_link(dir: &Path) -> Result<()> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => Err(symlink_error(dir)),
        _ => Ok(()),
    }
}

/// fsyncs `inbox/`, `tasks/` and `rejected/`: once per batch, not once per file.
pub fn sync_intake_dirs(state: &StateDir) -> Result<()> {
    for dir in [state.tasks(), state.rejected(), state.inbox()] {
        if dir.is_dir() {
            sync_dir(&dir)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_are_visible_json_files() {
        assert!(is_inbox_candidate(OsStr::new("a.json")));
        assert!(!is_inbox_candidate(OsStr::new(".a.json")));
        assert!(!is_inbox_candidate(OsStr::new(".tmp-1-a.json")));
        assert!(!is_inbox_candidate(OsStr::new("a.json.tmp")));
        assert!(!is_inbox_candidate(OsStr::new("a.txt")));
        assert!(!is_inbox_candidate(OsStr::new(".json")));
    }

    /// Past the timestamp granule of the inbox's last change (see `Fingerprint::is_racy`).
    fn age_past_granule() {
        std::thread::sleep(std::time::Duration::from_millis(150));
    }

    #[test]
    fn the_inbox_is_listed_again_only_when_it_changed_or_was_not_handled() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().join(".state"));
        std::fs::create_dir_all(state.inbox()).unwrap();
        let mut watch = InboxWatch::default();
        assert!(!watch.is_unchanged(&state).unwrap(), "never listed");
        age_past_granule();
        assert!(watch.list(&state).unwrap().is_empty());
        assert!(
            !watch.is_unchanged(&state).unwrap(),
            "listed, not handled yet"
        );
        watch.handled();
        assert!(watch.is_unchanged(&state).unwrap(), "handled, nothing new");

        std::fs::write(state.inbox().join("a.json"), "{}").unwrap();
        assert!(!watch.is_unchanged(&state).unwrap(), "a file arrived");
        // Listed within the granule of that change: not trusted, even once handled.
        assert_eq!(watch.list(&state).unwrap().len(), 1);
        watch.handled();
        assert!(
            !watch.is_unchanged(&state).unwrap(),
            "a racy listing is repeated"
        );
        age_past_granule();
        assert_eq!(watch.list(&state).unwrap().len(), 1);
        // The pass failed (no `handled`): the file is looked at again.
        assert!(
            !watch.is_unchanged(&state).unwrap(),
            "a failed pass lists again"
        );
        watch.handled();
        assert!(watch.is_unchanged(&state).unwrap());
    }

    #[test]
    fn a_deferred_file_is_not_stated_again_and_a_gone_one_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().join(".state"));
        std::fs::create_dir_all(state.inbox()).unwrap();
        for name in ["a.json", "b.json", "c.json"] {
            std::fs::write(state.inbox().join(name), "{}").unwrap();
        }
        let mut watch = InboxWatch::default();
        let mut files = watch.list(&state).unwrap();
        assert_eq!(files.len(), 3);
        let rest = files.split_off(1);
        // Marked, so the next listing shows whether it took them as they were.
        let marked: Vec<InboxFile> = rest
            .into_iter()
            .map(|mut f| {
                f.modified = SystemTime::UNIX_EPOCH;
                f
            })
            .collect();
        watch.defer(marked);
        std::fs::rename(state.inbox().join("a.json"), dir.path().join("a.json")).unwrap();
        std::fs::remove_file(state.inbox().join("c.json")).unwrap();
        std::fs::write(state.inbox().join("d.json"), "{}").unwrap();
        let files = watch.list(&state).unwrap();
        let seen: Vec<(String, bool)> = files
            .iter()
            .map(|f| (f.name(), f.modified == SystemTime::UNIX_EPOCH))
            .collect();
        assert_eq!(
            seen,
            vec![("b.json".to_string(), true), ("d.json".to_string(), false)],
            "b as deferred (and first, by its time), c gone, d new"
        );
        // Used once: the listing after that `stat`s everything again.
        let files = watch.list(&state).unwrap();
        assert!(files.iter().all(|f| f.modified != SystemTime::UNIX_EPOCH));
    }

    #[test]
    fn a_pass_moves_into_tasks_even_if_it_was_removed_during_the_pass() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().join(".state"));
        std::fs::create_dir_all(state.inbox()).unwrap();
        std::fs::create_dir_all(state.root().join("locks")).unwrap();
        std::fs::write(state.inbox().join("a.json"), "{}").unwrap();
        std::fs::write(state.inbox().join("b.json"), "{}").unwrap();
        let lock = try_lock_inbox(&state).unwrap().expect("free");
        let file = |n: &str| state.inbox().join(n);
        assert!(accept_task_file(&state, &file("a.json"), "a", &lock).unwrap());
        assert!(lock.task_exists("a"));
        std::fs::remove_file(state.tasks().join("a.json")).unwrap();
        std::fs::remove_dir(state.tasks()).unwrap();
        assert!(accept_task_file(&state, &file("b.json"), "b", &lock).unwrap());
        assert!(state.tasks().join("b.json").is_file());
        // Gone from the inbox: nothing to move.
        assert!(!accept_task_file(&state, &file("b.json"), "b", &lock).unwrap());
    }
}
