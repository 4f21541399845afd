//! `files_modified`: what an attempt changed, by a documented method (docs/EXECUTION.md):
//! the task's `files` when it lists some (size, mtime and content hash compared before
//! and after; a directory stands for the files under it, file by file, with recovery's
//! skip rules: version-control, cache and build directories and the state directory are
//! not walked); else, in a git work tree, `git status` before and after (the same
//! comparison for every path it lists); else nothing. Paths are relative to the workdir.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hasher};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::process::{self, Sink, Spec};

/// Files larger than this are compared by size and mtime only.
const MAX_HASHED_BYTES: u64 = 64 * 1024 * 1024;
/// At most this many files are looked at under one directory of a task's `files`.
const MAX_LISTED: usize = 2000;

/// How to find what an attempt changed.
#[derive(Debug, Clone)]
pub(in crate::executor) enum Probe {
    /// No method applies: `files_modified` is empty.
    None,
    /// The task's own `files`, relative to `base` (the workdir); a directory among them
    /// is expanded into its files each time it is looked at, never walking into `skip`
    /// (the state directory).
    Listed {
        base: PathBuf,
        files: Vec<String>,
        skip: PathBuf,
    },
    /// `git status` of `workdir`, whose path inside the work tree is `prefix`; paths
    /// under `exclude` (the state directory) are not the task's doing.
    Git {
        workdir: PathBuf,
        prefix: PathBuf,
        exclude: Option<PathBuf>,
    },
}

/// What a probe saw, by path.
#[derive(Debug, Default)]
pub(in crate::executor) struct Snapshot(BTreeMap<String, Mark>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Mark {
    /// git's two-letter status (empty for listed files).
    status: String,
    /// `None`: the file does not exist.
    size: Option<u64>,
    mtime_ns: i128,
    hash: Option<u64>,
}

impl Probe {
    /// Chooses the method for a task.
    pub(in crate::executor) fn choose(
        files: &[String],
        workdir: &Path,
        state_root: &Path,
        git_roots: &mut HashMap<PathBuf, Option<PathBuf>>,
    ) -> Probe {
        if !files.is_empty() {
            return Probe::Listed {
                base: workdir.to_path_buf(),
                files: files.to_vec(),
                skip: state_root.to_path_buf(),
            };
        }
        let Some(root) = git_root(workdir, git_roots) else {
            return Probe::None;
        };
        let Ok(real) = std::fs::canonicalize(workdir) else {
            return Probe::None;
        };
        let prefix = real
            .strip_prefix(&root)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let exclude = std::fs::canonicalize(state_root)
            .ok()
            .and_then(|s| s.strip_prefix(&root).ok().map(Path::to_path_buf));
        Probe::Git {
            workdir: workdir.to_path_buf(),
            prefix,
            exclude,
        }
    }

    /// Looks at the files now.
    pub(in crate::executor) fn snapshot(&self) -> Snapshot {
        let mut marks = BTreeMap::new();
        for (name, path, status) in self.listing() {
            let (size, mtime_ns) = meta(&path);
            let hash = size.and_then(|s| hash_file(&path, s));
            marks.insert(
                name,
                Mark {
                    status,
                    size,
                    mtime_ns,
                    hash,
                },
            );
        }
        Snapshot(marks)
    }

    /// Paths whose existence, size or content differs from `before` (sorted).
    pub(in crate::executor) fn changed_since(&self, before: &Snapshot) -> Vec<String> {
        let mut changed = BTreeSet::new();
        let mut now_listed = BTreeSet::new();
        for (name, path, status) in self.listing() {
            let (size, mtime_ns) = meta(&path);
            let same = match before.0.get(&name) {
                None => size.is_none() && status.is_empty(),
                Some(old) if old.status != status || old.size != size => false,
                // Content decides; mtime alone cannot (it moves in coarse ticks, and a
                // rewrite with the same bytes is not a change). Too large to hash: mtime.
                Some(old) => match (old.hash, size.and_then(|s| hash_file(&path, s))) {
                    (Some(a), Some(b)) => a == b,
                    _ => old.mtime_ns == mtime_ns,
                },
            };
            if !same {
                changed.insert(name.clone());
            }
            now_listed.insert(name);
        }
        // Listed before, gone from `git status` now (reverted, or committed).
        for name in before.0.keys() {
            if !now_listed.contains(name) {
                changed.insert(name.clone());
            }
        }
        changed.into_iter().collect()
    }

    /// (name in the result, path on disk, git status) for every path to compare.
    fn listing(&self) -> Vec<(String, PathBuf, String)> {
        match self {
            Probe::None => Vec::new(),
            Probe::Listed { base, files, skip } => expand(base, files, skip)
                .into_iter()
                .map(|(name, path)| (name, path, String::new()))
                .collect(),
            Probe::Git {
                workdir,
                prefix,
                exclude,
            } => git_status(workdir)
                .into_iter()
                .filter(|(path, _)| {
                    exclude
                        .as_ref()
                        .is_none_or(|x| !Path::new(path).starts_with(x))
                })
                .map(|(path, status)| {
                    let inside = Path::new(&path)
                        .strip_prefix(prefix)
                        .map(Path::to_path_buf)
                        .unwrap_or_else(|_| PathBuf::from(&path));
                    let on_disk = workdir.join(&inside);
                    (inside.to_string_lossy().into_owned(), on_disk, status)
                })
                .collect(),
        }
    }
}

/// `files` with each directory replaced by the regular files under it (named with the
/// entry as prefix: `api/` gives `api/a.py`), in order, without duplicates. A file that
/// was under a directory and is gone now is found by comparing with the listing before.
fn expand(base: &Path, files: &[String], skip: &Path) -> Vec<(String, PathBuf)> {
    let skip = std::path::absolute(skip).unwrap_or_else(|_| skip.to_path_buf());
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    let mut seen = BTreeSet::new();
    for entry in files {
        let path = base.join(entry);
        // A symbolic link is not followed, as recovery's walk does not follow one.
        let is_dir = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
        if !is_dir {
            if seen.insert(entry.clone()) {
                out.push((entry.clone(), path));
            }
            continue;
        }
        let prefix = entry.trim_end_matches('/');
        let walk = walkdir::WalkDir::new(&path)
            .max_depth(32)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| {
                if e.depth() == 0 || !e.file_type().is_dir() {
                    return true;
                }
                let name = e.file_name().to_string_lossy();
                let abs = std::path::absolute(e.path()).unwrap_or_else(|_| e.path().into());
                !crate::workdir::SKIP_DIRS.contains(&name.as_ref()) && abs != skip
            })
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .take(MAX_LISTED);
        for e in walk {
            let Ok(rel) = e.path().strip_prefix(&path) else {
                continue;
            };
            let rel = rel.to_string_lossy();
            let name = if prefix.is_empty() || prefix == "." {
                rel.into_owned()
            } else {
                format!("{prefix}/{rel}")
            };
            if seen.insert(name.clone()) {
                out.push((name, e.path().to_path_buf()));
            }
        }
    }
    out
}

/// [`git_work_tree`] of `dir`, remembered in `git_roots`.
pub(in crate::executor) fn git_root(
    dir: &Path,
    git_roots: &mut HashMap<PathBuf, Option<PathBuf>>,
) -> Option<PathBuf> {
    git_roots
        .entry(dir.to_path_buf())
        .or_insert_with(|| git_work_tree(dir))
        .clone()
}

/// The root of the git work tree containing `dir`, if any (a `.git` entry in it or an
/// ancestor).
fn git_work_tree(dir: &Path) -> Option<PathBuf> {
    let real = std::fs::canonicalize(dir).ok()?;
    real.ancestors()
        .find(|a| a.join(".git").exists())
        .map(Path::to_path_buf)
}

/// `git status` of `workdir` as (path from the work tree root, XY status). Empty if git
/// is missing or fails.
fn git_status(workdir: &Path) -> Vec<(String, String)> {
    let spec = Spec {
        argv: [
            "git",
            "-c",
            "core.quotepath=off",
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            "--no-renames",
            "--",
            ".",
        ]
        .map(String::from)
        .to_vec(),
        cwd: workdir.to_path_buf(),
        // No index refresh, no index.lock: never in the way of the task's own git use.
        env: vec![("GIT_OPTIONAL_LOCKS".to_string(), "0".to_string())],
        stdout: Sink::Capture,
        stderr: Sink::Null,
        timeout: Some(Duration::from_secs(30)),
        kill_grace: Duration::from_millis(500),
    };
    let Ok(finished) = process::run(&spec) else {
        return Vec::new();
    };
    if !finished.success() {
        return Vec::new();
    }
    finished
        .stdout
        .split(|b| *b == 0)
        .filter(|entry| entry.len() > 3)
        .map(|entry| {
            let status = String::from_utf8_lossy(&entry[..2]).into_owned();
            let path = String::from_utf8_lossy(&entry[3..]).into_owned();
            (path, status)
        })
        .collect()
}

fn meta(path: &Path) -> (Option<u64>, i128) {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => (
            Some(m.len()),
            i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        ),
        _ => (None, 0),
    }
}

fn hash_file(path: &Path, size: u64) -> Option<u64> {
    if size > MAX_HASHED_BYTES {
        return None;
    }
    let mut file = std::fs::File::open(path).ok()?;
    let mut hasher = DefaultHasher::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        hasher.write(&buf[..n]);
    }
    Some(hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_files_report_content_changes_creations_and_deletions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().to_path_buf();
        std::fs::write(base.join("same.txt"), "x").expect("write");
        std::fs::write(base.join("edit.txt"), "old").expect("write");
        std::fs::write(base.join("gone.txt"), "x").expect("write");
        let files = ["same.txt", "edit.txt", "gone.txt", "new.txt"]
            .map(String::from)
            .to_vec();
        let probe = Probe::Listed {
            base: base.clone(),
            files,
            skip: base.join(".state"),
        };
        let before = probe.snapshot();
        std::fs::write(base.join("edit.txt"), "new").expect("write");
        std::fs::remove_file(base.join("gone.txt")).expect("rm");
        std::fs::write(base.join("new.txt"), "n").expect("write");
        assert_eq!(
            probe.changed_since(&before),
            ["edit.txt", "gone.txt", "new.txt"]
        );
    }

    #[test]
    fn a_directory_in_files_reports_the_files_changed_under_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().to_path_buf();
        for f in ["api/a.py", "api/sub/b.py", "api/same.py", "api/gone.py"] {
            let p = base.join(f);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, "x\n").expect("write");
        }
        std::fs::create_dir_all(base.join("api/__pycache__")).expect("mkdir");
        std::fs::create_dir_all(base.join(".state")).expect("mkdir");
        let probe = Probe::Listed {
            base: base.clone(),
            files: vec!["api/".to_string(), "top.txt".to_string()],
            skip: base.join(".state"),
        };
        let before = probe.snapshot();
        std::fs::write(base.join("api/a.py"), "y\n").expect("write");
        std::fs::write(base.join("api/sub/b.py"), "y\n").expect("write");
        std::fs::write(base.join("api/sub/new.py"), "n\n").expect("write");
        std::fs::remove_file(base.join("api/gone.py")).expect("rm");
        std::fs::write(base.join("api/__pycache__/a.pyc"), "c").expect("write");
        std::fs::write(base.join("top.txt"), "t").expect("write");
        assert_eq!(
            probe.changed_since(&before),
            [
                "api/a.py",
                "api/gone.py",
                "api/sub/b.py",
                "api/sub/new.py",
                "top.txt"
            ]
        );
    }
}
