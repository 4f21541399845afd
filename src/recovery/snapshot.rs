//! What a fixer changed: the task's files before and after, as unified diffs.
//!
//! A task's `files` are snapshotted when it names them; otherwise the text files under its
//! workdir, skipping version-control, build and cache directories, binary and big files,
//! and capped in number.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use similar::TextDiff;

/// Files bigger than this are not snapshotted (and so never diffed).
const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// At most this many files are snapshotted when walking a workdir.
const MAX_FILES: usize = 2000;
/// Directories never walked.
const SKIP_DIRS: [&str; 14] = [
    ".git",
    ".hg",
    ".svn",
    ".state",
    "target",
    "node_modules",
    "__pycache__",
    ".venv",
    "venv",
    ".tox",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".cache",
];

/// The text content of a set of files (`None`: missing, binary or too big).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    files: BTreeMap<String, Option<String>>,
}

/// One changed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// Relative to the workdir.
    pub file: String,
    /// Unified diff with `--- a/<file>` / `+++ b/<file>` headers.
    pub diff: String,
}

impl Snapshot {
    /// Snapshots `files` (relative to `workdir`) when given, else walks `workdir`.
    /// `skip` is an absolute directory never walked (the state directory).
    pub fn take(workdir: &Path, files: &[String], skip: &Path) -> Snapshot {
        let mut snapshot = Snapshot::default();
        if files.is_empty() {
            for rel in walk(workdir, skip) {
                let content = read_text(&workdir.join(&rel));
                snapshot.files.insert(rel, content);
            }
        } else {
            for rel in files {
                snapshot
                    .files
                    .insert(rel.clone(), read_text(&workdir.join(rel)));
            }
        }
        snapshot
    }

    /// What changed from `self` to `after`, file by file, in path order.
    pub fn changes(&self, after: &Snapshot) -> Vec<FileChange> {
        let mut names: Vec<&String> = self.files.keys().chain(after.files.keys()).collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .filter_map(|name| {
                let old = self.files.get(name).cloned().flatten();
                let new = after.files.get(name).cloned().flatten();
                if old == new || (old.is_none() && new.is_none()) {
                    return None;
                }
                Some(FileChange {
                    file: name.clone(),
                    diff: unified_diff(
                        name,
                        old.as_deref().unwrap_or(""),
                        new.as_deref().unwrap_or(""),
                    ),
                })
            })
            .collect()
    }
}

/// A unified diff of `file` from `old` to `new`, three lines of context, in the form
/// `diffy` (and `patch -p1`, `git apply`) read back.
pub fn unified_diff(file: &str, old: &str, new: &str) -> String {
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .missing_newline_hint(true)
        .header(&format!("a/{file}"), &format!("b/{file}"))
        .to_string()
}

/// The file as text, if it is a regular file, small, UTF-8 and free of NUL bytes.
fn read_text(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_FILE_BYTES {
        return None;
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path)
        .ok()?
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    if bytes.contains(&0) {
        return None;
    }
    String::from_utf8(bytes).ok()
}

/// Relative paths of the regular files under `workdir`, sorted, at most [`MAX_FILES`].
fn walk(workdir: &Path, skip: &Path) -> Vec<String> {
    let skip = std::path::absolute(skip).unwrap_or_else(|_| skip.to_path_buf());
    let mut out: Vec<String> = walkdir::WalkDir::new(workdir)
        .max_depth(32)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            if e.depth() == 0 || !e.file_type().is_dir() {
                return true;
            }
            let name = e.file_name().to_string_lossy();
            !SKIP_DIRS.contains(&name.as_ref())
                && std::path::absolute(e.path()).map_or(true, |p| p != skip)
        })
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter(|e| e.metadata().is_ok_and(|m| m.len() <= MAX_FILE_BYTES))
        .filter_map(|e| {
            e.path()
                .strip_prefix(workdir)
                .ok()
                .map(|p| p.to_string_lossy().into_owned())
        })
        .take(MAX_FILES)
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_round_trip_through_diffy() {
        let cases = [
            ("a\nb  \nc\n", "a\nb\nc\n"),
            ("no newline", "no newline\nat end\n"),
            ("x\n", "x"),
            ("", "new file\n"),
            (
                "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n",
                "1\n2x\n3\n4\n5\n6\n7\n8\n9\n10\n11x\n12\n",
            ),
        ];
        for (old, new) in cases {
            let diff = unified_diff("d/f.txt", old, new);
            assert!(diff.starts_with("--- a/d/f.txt\n+++ b/d/f.txt\n"), "{diff}");
            let patch = diffy::Patch::from_str(&diff).expect("diffy parses similar's diff");
            assert_eq!(diffy::apply(old, &patch).expect("applies"), new, "{diff}");
        }
    }

    #[test]
    fn snapshot_walks_text_files_and_skips_the_rest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("src")).expect("mkdir");
        std::fs::create_dir_all(root.join(".git")).expect("mkdir");
        std::fs::create_dir_all(root.join(".state")).expect("mkdir");
        std::fs::write(root.join("src/a.txt"), "hello \n").expect("write");
        std::fs::write(root.join(".git/HEAD"), "ref\n").expect("write");
        std::fs::write(root.join(".state/x.json"), "{}").expect("write");
        std::fs::write(root.join("bin.dat"), b"\x00\x01").expect("write");
        let before = Snapshot::take(root, &[], &root.join(".state"));
        assert_eq!(
            before.files.keys().collect::<Vec<_>>(),
            vec!["bin.dat", "src/a.txt"]
        );
        std::fs::write(root.join("src/a.txt"), "hello\n").expect("write");
        std::fs::write(root.join("new.txt"), "n\n").expect("write");
        std::fs::write(root.join("bin.dat"), b"\x00\x02").expect("write");
        let after = Snapshot::take(root, &[], &root.join(".state"));
        let changes = before.changes(&after);
        let files: Vec<&str> = changes.iter().map(|c| c.file.as_str()).collect();
        assert_eq!(files, vec!["new.txt", "src/a.txt"]);
        assert!(
            changes[1].diff.contains("-hello \n+hello\n"),
            "{}",
            changes[1].diff
        );
    }

    #[test]
    fn named_files_are_read_even_when_missing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = vec!["a.txt".to_string()];
        let before = Snapshot::take(dir.path(), &files, dir.path());
        std::fs::write(dir.path().join("a.txt"), "x\n").expect("write");
        std::fs::write(dir.path().join("other.txt"), "y\n").expect("write");
        let changes = before.changes(&Snapshot::take(dir.path(), &files, dir.path()));
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].file, "a.txt");
    }
}
