//! The fence log, `claims/fences.jsonl`: one JSON line per fence written, appended, so
//! starting an attempt creates no file. A task's fence is its last line (docs/ATTEMPTS.md).
//!
//! - **Appends** take an exclusive `flock` on the log (held for one `write`), so they never
//!   interleave with a compaction; a tail torn by a crash mid-`write` is ended with a
//!   newline first, and the fragment is skipped by readers (it was a fence written before
//!   its spawn, or the pid of an attempt whose earlier line stands).
//! - **Reading** needs no lock: each process keeps an index (task → its last line) and
//!   reads only what was appended since, complete lines only. A task's claim holder sees
//!   every earlier fence of that task: they were appended before the claim was released.
//! - **Compaction**: when the log holds four times what its last lines need (and more
//!   than 4 MiB), the appender rewrites it with only those, atomically (temp file, `fsync`,
//!   rename). Readers notice the new inode and read it whole.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::Deserialize;

use super::{Access, StateDir, open_below};
use crate::store::Fence;
use crate::{Error, Result};

/// A log larger than this, and four times larger than its tasks' last lines, is compacted.
const COMPACT_AT: u64 = 4 << 20;

/// How many state directories' indexes a process keeps (tests open many).
const KEPT: usize = 8;

/// The indexes of this process, by state directory.
static INDEXES: Mutex<Vec<(PathBuf, Index)>> = Mutex::new(Vec::new());

/// What this process has read of one state directory's log.
#[derive(Debug, Default)]
struct Index {
    /// The log as opened to read; `None` while there is no log.
    file: Option<File>,
    /// The log as opened to append, kept between appends.
    append: Option<File>,
    /// Where this process's last append ended (`u64::MAX`: unknown).
    appended_to: u64,
    /// Everything before this offset is read (it ends a line).
    read_to: u64,
    /// Each task's last line.
    last: HashMap<Box<str>, Line>,
    /// The sum of the last lines' lengths: what a compacted log would hold.
    live_bytes: u64,
}

/// Where a task's last line is.
#[derive(Debug, Clone, Copy)]
struct Line {
    at: u64,
    len: u32,
}

/// The two fields an index needs from a line.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    task: std::borrow::Cow<'a, str>,
}

/// `task_id`'s fence: its last line in the log, `Ok(None)` when it has none.
pub(super) fn last_fence(state: &StateDir, task_id: &str) -> Result<Option<Fence>> {
    let path = state.fence_log_path();
    with_index(state, |index| {
        index.refresh(&path)?;
        let (Some(line), Some(file)) = (index.last.get(task_id), &index.file) else {
            return Ok(None);
        };
        let mut buf = vec![0; line.len as usize];
        file.read_exact_at(&mut buf, line.at)
            .map_err(|e| Error::io(&path, "read the fence", e))?;
        let fence: Fence = serde_json::from_slice(&buf).map_err(|e| Error::Syntax {
            path: path.clone(),
            line: 1,
            column: e.column(),
            message: format!(
                "invalid attempt fence of {task_id:?} at byte {}: {e}",
                line.at
            ),
        })?;
        Ok(Some(fence))
    })
}

/// The tasks with a fence.
pub(super) fn fenced_tasks(state: &StateDir) -> Result<Vec<String>> {
    let path = state.fence_log_path();
    with_index(state, |index| {
        index.refresh(&path)?;
        Ok(index.last.keys().map(|k| k.to_string()).collect())
    })
}

/// Appends `line` (one JSON object, no newline) to the log; compacts it when due.
pub(super) fn append(state: &StateDir, line: &[u8]) -> Result<()> {
    let path = state.fence_log_path();
    with_index(state, |index| {
        let (file, len) = index.locked_for_append(&path)?;
        let written = append_locked(&file, &path, line, len, index.appended_to);
        let end = len + line.len() as u64 + 2;
        index.appended_to = written.as_ref().map_or(u64::MAX, |&n| len + n);
        if written.is_ok() && end > COMPACT_AT {
            let due = index
                .refresh(&path)
                .map(|()| end > 4 * index.live_bytes)
                .unwrap_or(false);
            if due && let Err(e) = index.compact(&path) {
                tracing::warn!("{e}");
            }
        }
        // Unlocked for the next appender; kept open for this process's next append.
        let _ = file.unlock();
        index.append = Some(file);
        written.map(|_| ())
    })
}

/// One `write` of `line` and its newline, after ending a torn tail; returns the bytes
/// written. `len` is the log's length; `ours` where this process's last append ended (a
/// newline there needs no look).
fn append_locked(file: &File, path: &Path, line: &[u8], len: u64, ours: u64) -> Result<u64> {
    let mut bytes = Vec::with_capacity(line.len() + 2);
    if len > 0 && len != ours {
        let mut last = [0u8];
        file.read_exact_at(&mut last, len - 1)
            .map_err(|e| Error::io(path, "read the fence log", e))?;
        if last[0] != b'\n' {
            bytes.push(b'\n');
        }
    }
    bytes.extend_from_slice(line);
    bytes.push(b'\n');
    (&*file)
        .write_all(&bytes)
        .map_err(|e| Error::io(path, "write the fence", e))?;
    Ok(bytes.len() as u64)
}

impl Index {
    /// The log open to append (kept from the last append when it still is the log), with
    /// its exclusive lock, and its length. A compaction may have renamed a new log in while
    /// this waited: the old inode then has no name left, and the new one is opened.
    fn locked_for_append(&mut self, path: &Path) -> Result<(File, u64)> {
        loop {
            let file = match self.append.take() {
                Some(file) => file,
                None => {
                    self.appended_to = u64::MAX;
                    open_regular(path, Access::ReadAppend)?
                }
            };
            file.lock().map_err(|e| Error::io(path, "lock", e))?;
            let meta = file.metadata().map_err(|e| Error::io(path, "stat", e))?;
            if meta.nlink() > 0 {
                return Ok((file, meta.len()));
            }
        }
    }

    /// Reads what was appended since the last look (all of it after a compaction).
    fn refresh(&mut self, path: &Path) -> Result<()> {
        // The open log still has its name (a compaction or a person's editor replaces it
        // by a rename, which leaves the old inode with none): one `fstat`, no path walk.
        let len = match &self.file {
            Some(file) => match file.metadata() {
                Ok(m) if m.nlink() > 0 => Some(m.len()),
                Ok(_) => None,
                Err(e) => return Err(Error::io(path, "stat", e)),
            },
            None => None,
        };
        let len = match len {
            Some(len) => len,
            None => {
                let append = self.append.take();
                let appended_to = self.appended_to;
                *self = Index::default();
                (self.append, self.appended_to) = (append, appended_to);
                let file = match open_regular(path, Access::Read) {
                    Ok(f) => f,
                    Err(Error::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::NotFound =>
                    {
                        return Ok(());
                    }
                    Err(e) => return Err(e),
                };
                let len = file
                    .metadata()
                    .map_err(|e| Error::io(path, "stat", e))?
                    .len();
                self.file = Some(file);
                len
            }
        };
        if len > self.read_to {
            self.read_new_lines(path, len)?;
        }
        Ok(())
    }

    /// Reads the lines after `read_to`, the log being `len` bytes long as last seen.
    fn read_new_lines(&mut self, path: &Path, len: u64) -> Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let want = (len - self.read_to).clamp(4 << 10, 1 << 20);
        let mut chunk = vec![0u8; want as usize];
        let mut pending: Vec<u8> = Vec::new();
        let mut at = self.read_to;
        loop {
            let n = match file.read_at(&mut chunk, at + pending.len() as u64) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(path, "read the fence log", e)),
            };
            pending.extend_from_slice(&chunk[..n]);
            let Some(end) = pending.iter().rposition(|&b| b == b'\n') else {
                continue;
            };
            for line in pending[..=end].split_inclusive(|&b| b == b'\n') {
                let body = &line[..line.len() - 1];
                match serde_json::from_slice::<Head<'_>>(body) {
                    Ok(head) => {
                        let new = Line {
                            at,
                            len: body.len() as u32,
                        };
                        if let Some(old) = self.last.insert(head.task.into(), new) {
                            self.live_bytes -= u64::from(old.len) + 1;
                        }
                        self.live_bytes += line.len() as u64;
                    }
                    // A fragment torn by a crash, or a hand edit: not a fence.
                    Err(e) if !body.trim_ascii().is_empty() => {
                        tracing::debug!("{}: byte {at}: not a fence, skipped: {e}", path.display())
                    }
                    Err(_) => {}
                }
                at += line.len() as u64;
            }
            pending.drain(..=end);
        }
        self.read_to = at;
        Ok(())
    }

    /// Rewrites the log with each task's last line only. The caller holds the append lock.
    fn compact(&mut self, path: &Path) -> Result<()> {
        self.refresh(path)?;
        let Some(file) = &self.file else {
            return Ok(());
        };
        let mut lines: Vec<Line> = self.last.values().copied().collect();
        lines.sort_by_key(|l| l.at);
        super::write_atomic_with(path, |w| {
            let mut buf = Vec::new();
            for line in &lines {
                buf.resize(line.len as usize, 0);
                file.read_exact_at(&mut buf, line.at)?;
                w.write_all(&buf)?;
                w.write_all(b"\n")?;
            }
            Ok(())
        })?;
        // Read again from the new file at the next look; the next append opens it too.
        *self = Index::default();
        Ok(())
    }
}

/// Runs `f` on this process's index of `state`'s log.
fn with_index<T>(state: &StateDir, f: impl FnOnce(&mut Index) -> Result<T>) -> Result<T> {
    let mut indexes: MutexGuard<'_, _> = INDEXES.lock().unwrap_or_else(|e| e.into_inner());
    let root = state.root();
    let at = match indexes.iter().position(|(r, _)| r == root) {
        Some(at) => at,
        None => {
            if indexes.len() >= KEPT {
                indexes.remove(0);
            }
            indexes.push((root.to_path_buf(), Index::default()));
            indexes.len() - 1
        }
    };
    f(&mut indexes[at].1)
}

/// The log (or `claims/locks`), never through a link, and only if it is a regular file (a
/// named pipe opened to read and write would not fail, and never hold a fence).
pub(super) fn open_regular(path: &Path, access: Access) -> Result<File> {
    let file = open_below(path, 2, access)?;
    match file.metadata() {
        Ok(m) if m.is_file() => Ok(file),
        Ok(_) => Err(Error::invalid(path, "is not a regular file (remove it)")),
        Err(e) => Err(Error::io(path, "stat", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fence_line(task: &str, attempt: u32) -> Vec<u8> {
        format!(
            r#"{{"schema_version":1,"task":"{task}","attempt":{attempt},"runner":"r","pid":null,"pgid":null,"started_at":"2026-01-02T03:04:05.678Z","deadline":null}}"#
        )
        .into_bytes()
    }

    #[test]
    fn the_last_line_of_a_task_is_its_fence_and_a_torn_tail_is_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::new(dir.path());
        assert_eq!(last_fence(&state, "a").unwrap(), None);
        append(&state, &fence_line("a", 1)).unwrap();
        append(&state, &fence_line("b", 1)).unwrap();
        append(&state, &fence_line("a", 2)).unwrap();
        assert_eq!(last_fence(&state, "a").unwrap().map(|f| f.attempt), Some(2));
        // A write torn by a crash: its fragment is skipped, the next append starts a line.
        let log = state.fence_log_path();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .unwrap()
            .write_all(br#"{"schema_version":1,"task":"b","att"#)
            .unwrap();
        assert_eq!(last_fence(&state, "b").unwrap().map(|f| f.attempt), Some(1));
        append(&state, &fence_line("b", 3)).unwrap();
        assert_eq!(last_fence(&state, "b").unwrap().map(|f| f.attempt), Some(3));
        let mut tasks = fenced_tasks(&state).unwrap();
        tasks.sort();
        assert_eq!(tasks, ["a", "b"]);
        // Replaced by a rename (another process's compaction, a person's editor): the
        // index follows the new file, and the next append goes there.
        let mut replaced = fence_line("z", 7);
        replaced.push(b'\n');
        let temp = log.with_extension("new");
        std::fs::write(&temp, &replaced).unwrap();
        std::fs::rename(&temp, &log).unwrap();
        assert_eq!(last_fence(&state, "z").unwrap().map(|f| f.attempt), Some(7));
        assert_eq!(last_fence(&state, "a").unwrap(), None);
        append(&state, &fence_line("a", 4)).unwrap();
        assert_eq!(last_fence(&state, "a").unwrap().map(|f| f.attempt), Some(4));
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
    }

    #[test]
    fn a_compacted_log_keeps_every_last_line_and_readers_follow_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::new(dir.path());
        // Enough rewrites of ten tasks' fences to pass the compaction size.
        let rounds = (COMPACT_AT as usize / (10 * fence_line("t0", 1).len())) + 2;
        for attempt in 1..=rounds as u32 {
            for t in 0..10 {
                append(&state, &fence_line(&format!("t{t}"), attempt)).unwrap();
            }
        }
        let len = std::fs::metadata(state.fence_log_path()).unwrap().len();
        assert!(len < COMPACT_AT, "compacted: {len} bytes");
        for t in 0..10 {
            let fence = last_fence(&state, &format!("t{t}"))
                .unwrap()
                .expect("fence");
            assert_eq!(fence.attempt, rounds as u32);
        }
    }
}
