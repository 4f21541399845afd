//! Scope: the part of the project a task's recovery may look at and change, and the part
//! another task's attempt may change. An [`Area`] is a set of absolute, lexically
//! normalised paths, each standing for itself and everything under it; a task's `files`
//! (directories included) and a workdir are both areas.

use std::path::{Path, PathBuf};

use super::snapshot;

/// A set of files and directory trees, as absolute paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Area {
    roots: Vec<PathBuf>,
}

impl Area {
    /// The files (or directories) `files`, relative to `workdir`.
    pub(super) fn of_files<S: AsRef<str>>(workdir: &Path, files: &[S]) -> Area {
        Area {
            roots: files
                .iter()
                .map(|f| normalize(&workdir.join(f.as_ref())))
                .collect(),
        }
    }

    /// A whole directory tree.
    pub(super) fn tree(dir: &Path) -> Area {
        Area {
            roots: vec![normalize(dir)],
        }
    }

    /// What a task's attempt may change: its `files`, or its whole workdir when it names
    /// none.
    pub(super) fn of_task(workdir: &Path, files: &[String]) -> Area {
        if files.is_empty() {
            Area::tree(workdir)
        } else {
            Area::of_files(workdir, files)
        }
    }

    /// Its paths: each a file, or a directory standing for everything under it.
    pub(super) fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// Adds `other`'s paths.
    pub(super) fn extend(&mut self, other: Area) {
        self.roots.extend(other.roots);
    }

    /// Whether `path` (absolute) is one of its files or under one of its directories.
    pub(super) fn contains(&self, path: &Path) -> bool {
        let path = normalize(path);
        self.roots.iter().any(|r| path.starts_with(r))
    }

    /// Whether the two share a file: one's path is (under) one of the other's.
    pub(super) fn overlaps(&self, other: &Area) -> bool {
        self.roots.iter().any(|a| {
            other
                .roots
                .iter()
                .any(|b| a.starts_with(b) || b.starts_with(a))
        })
    }
}

pub(super) use crate::workdir::normalize;

/// `path` (absolute) relative to `dir` (absolute), with `..` when it is not under it:
/// how a patch names a file relative to the task's workdir.
pub(super) fn relative_to(path: &Path, dir: &Path) -> String {
    let (path, dir) = (normalize(path), normalize(dir));
    let mut base = dir.as_path();
    let mut ups = 0;
    loop {
        if let Ok(rest) = path.strip_prefix(base) {
            let mut out: Vec<String> = vec!["..".to_string(); ups];
            out.extend(
                rest.components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned()),
            );
            return out.join("/");
        }
        match base.parent() {
            Some(parent) => {
                base = parent;
                ups += 1;
            }
            None => return path.to_string_lossy().into_owned(),
        }
    }
}

/// The task's `files` with each directory replaced by the files under it (relative to
/// `workdir`, with the snapshot's skip and size rules); other entries, missing files
/// included, are kept as given. In order, without duplicates.
pub(super) fn expand_files(workdir: &Path, files: &[String], skip: &Path) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for entry in files {
        let path = workdir.join(entry);
        if path.is_dir() {
            let prefix = entry.trim_end_matches('/');
            for rel in snapshot::list_files(&path, skip) {
                out.push(if prefix.is_empty() || prefix == "." {
                    rel
                } else {
                    format!("{prefix}/{rel}")
                });
            }
        } else {
            out.push(entry.clone());
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|f| seen.insert(f.clone()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_hold_files_and_trees() {
        let files = Area::of_files(Path::new("/p/w"), &["a.py", "api/", "../x.txt"]);
        assert!(files.contains(Path::new("/p/w/a.py")));
        assert!(files.contains(Path::new("/p/w/api/b/c.py")));
        assert!(files.contains(Path::new("/p/x.txt")));
        assert!(!files.contains(Path::new("/p/w/a.pyc")));
        assert!(!files.contains(Path::new("/p/w/b.py")));
        let tree = Area::tree(Path::new("/p/w"));
        assert!(tree.overlaps(&files) && files.overlaps(&tree));
        assert!(!Area::tree(Path::new("/q")).overlaps(&files));
        assert!(Area::of_files(Path::new("/p"), &["w/api/z.py"]).overlaps(&files));
        assert!(!Area::default().overlaps(&tree));
    }

    #[test]
    fn relative_paths_climb_out_of_the_workdir() {
        let rel = |p: &str, d: &str| relative_to(Path::new(p), Path::new(d));
        assert_eq!(rel("/p/w/a/b.py", "/p/w"), "a/b.py");
        assert_eq!(rel("/p/other.txt", "/p/w"), "../other.txt");
        assert_eq!(rel("/p/x/y.txt", "/p/w/v"), "../../x/y.txt");
    }

    #[test]
    fn directories_in_files_expand_to_their_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for f in [
            "api/a.py",
            "api/sub/b.py",
            "api/__pycache__/a.pyc",
            "top.py",
        ] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, "x\n").expect("write");
        }
        let files = ["api/", "top.py", "missing.py", "api/a.py"].map(String::from);
        assert_eq!(
            expand_files(root, &files, &root.join(".state")),
            ["api/a.py", "api/sub/b.py", "top.py", "missing.py"]
        );
    }
}
