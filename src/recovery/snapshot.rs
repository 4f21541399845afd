//! What a fix step changed: every file under a base directory (the project root) before
//! and after, as unified diffs.
//!
//! The walk skips version-control, build and cache directories and the state directory,
//! and sees at most [`MAX_WALK`] files. Text files up to 1 MiB are kept whole (and
//! diffed); other files — binary, bigger, or past the content budget — are compared by
//! size and content hash (or modification time), so a change to them is still found.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hasher};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use similar::TextDiff;

use super::scope::{normalize, relative_to};

/// Files bigger than this are not kept as text (and so not diffed).
const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// At most this much text is kept per snapshot; later files are compared by size and time.
const MAX_CONTENT_BYTES: u64 = 64 * 1024 * 1024;
/// At most this many files are seen per snapshot.
pub(super) const MAX_WALK: usize = 20_000;
/// At most this many files are listed when a directory in `files` is expanded.
const MAX_LISTED: usize = 2000;

/// The files under a base directory, by absolute path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Snapshot {
    files: BTreeMap<PathBuf, Seen>,
}

/// One file as seen.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// UTF-8 text without NUL bytes, at most [`MAX_FILE_BYTES`].
    Text(String),
    /// Anything else: its size, content hash when it was read, and modification time.
    Opaque {
        len: u64,
        hash: Option<u64>,
        mtime_ns: i128,
    },
}

impl Seen {
    fn same_as(&self, other: &Seen) -> bool {
        match (self, other) {
            (Seen::Text(a), Seen::Text(b)) => a == b,
            (
                Seen::Opaque {
                    len: a,
                    hash: Some(x),
                    ..
                },
                Seen::Opaque {
                    len: b,
                    hash: Some(y),
                    ..
                },
            ) => a == b && x == y,
            (
                Seen::Opaque {
                    len: a,
                    mtime_ns: x,
                    ..
                },
                Seen::Opaque {
                    len: b,
                    mtime_ns: y,
                    ..
                },
            ) => a == b && x == y,
            _ => false,
        }
    }

    fn text(&self) -> Option<&str> {
        match self {
            Seen::Text(t) => Some(t),
            Seen::Opaque { .. } => None,
        }
    }
}

/// One changed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FileChange {
    /// Its absolute path.
    pub path: PathBuf,
    /// Relative to the task's workdir (`../` when outside it).
    pub file: String,
    /// Unified diff with `--- a/<file>` / `+++ b/<file>` headers, or a one-line note when
    /// the file is not text.
    pub diff: String,
}

impl Snapshot {
    /// Every file under `base` (skipping `skip`, the state directory), plus `extra`
    /// (absolute paths outside the walk's rules, such as a task's named files).
    pub(super) fn take(base: &Path, extra: &[PathBuf], skip: &Path) -> Snapshot {
        let mut budget = MAX_CONTENT_BYTES;
        let mut files = BTreeMap::new();
        let base = normalize(&std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf()));
        for path in walk(&base, skip, MAX_WALK) {
            if let Some(seen) = look(&path, &mut budget) {
                files.insert(path, seen);
            }
        }
        for path in extra {
            let path = normalize(path);
            if !files.contains_key(&path)
                && let Some(seen) = look(&path, &mut budget)
            {
                files.insert(path, seen);
            }
        }
        Snapshot { files }
    }

    /// What changed from `self` to `after`, file by file in path order, named relative to
    /// `workdir`.
    pub(super) fn changes(&self, after: &Snapshot, workdir: &Path) -> Vec<FileChange> {
        let mut paths: Vec<&PathBuf> = self.files.keys().chain(after.files.keys()).collect();
        paths.sort();
        paths.dedup();
        paths
            .into_iter()
            .filter_map(|path| {
                let (old, new) = (self.files.get(path), after.files.get(path));
                let changed = match (old, new) {
                    (Some(a), Some(b)) => !a.same_as(b),
                    (None, None) => false,
                    _ => true,
                };
                if !changed {
                    return None;
                }
                let file = relative_to(path, workdir);
                let diff = match (text_of(old), text_of(new)) {
                    (Some(a), Some(b)) => unified_diff(&file, a, b),
                    _ => format!(
                        "Files a/{file} and b/{file} differ (not text, or too big to diff)\n"
                    ),
                };
                Some(FileChange {
                    path: path.clone(),
                    file,
                    diff,
                })
            })
            .collect()
    }
}

/// A file's text for a diff: empty when it is missing, `None` when it is not text.
fn text_of(seen: Option<&Seen>) -> Option<&str> {
    seen.map_or(Some(""), Seen::text)
}

/// A unified diff of `file` from `old` to `new`, three lines of context, in the form
/// `diffy` (and `patch -p1`, `git apply`) read back.
pub(super) fn unified_diff(file: &str, old: &str, new: &str) -> String {
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .missing_newline_hint(true)
        .header(&format!("a/{file}"), &format!("b/{file}"))
        .to_string()
}

/// The regular files under `dir` (at most 1 MiB each, at most [`MAX_LISTED`]), relative
/// to it, sorted: how a directory in a task's `files` is expanded.
pub(super) fn list_files(dir: &Path, skip: &Path) -> Vec<String> {
    walk(dir, skip, MAX_LISTED * 4)
        .into_iter()
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() <= MAX_FILE_BYTES))
        .filter_map(|p| {
            p.strip_prefix(dir)
                .ok()
                .map(|r| r.to_string_lossy().into_owned())
        })
        .take(MAX_LISTED)
        .collect()
}

/// How the file at `path` looks now; `None` when it is not a regular file (a symbolic
/// link is not followed, as the walk does not follow one).
fn look(path: &Path, budget: &mut u64) -> Option<Seen> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    let len = meta.len();
    let mtime_ns = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
    let opaque = |hash| Seen::Opaque {
        len,
        hash,
        mtime_ns,
    };
    if len > MAX_FILE_BYTES || len > *budget {
        return Some(opaque(None));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    let read =
        std::fs::File::open(path).and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes));
    if read.is_err() {
        return Some(opaque(None));
    }
    *budget = budget.saturating_sub(bytes.len() as u64);
    if !bytes.contains(&0) {
        match String::from_utf8(bytes) {
            Ok(text) => return Some(Seen::Text(text)),
            Err(e) => bytes = e.into_bytes(),
        }
    }
    let mut hasher = DefaultHasher::new();
    hasher.write(&bytes);
    Some(opaque(Some(hasher.finish())))
}

/// Absolute paths of the regular files under `dir`, sorted, at most `limit`.
fn walk(dir: &Path, skip: &Path, limit: usize) -> Vec<PathBuf> {
    let skip = normalize(&std::path::absolute(skip).unwrap_or_else(|_| skip.to_path_buf()));
    let dir = normalize(&std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()));
    walkdir::WalkDir::new(&dir)
        .max_depth(32)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            if e.depth() == 0 || !e.file_type().is_dir() {
                return true;
            }
            let name = e.file_name().to_string_lossy();
            !crate::workdir::SKIP_DIRS.contains(&name.as_ref()) && e.path() != skip
        })
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().to_path_buf())
        .take(limit)
        .collect()
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
