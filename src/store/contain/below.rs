//! Opening files inside the state directory without following a symbolic link someone
//! planted there: every directory on the way is opened with `O_NOFOLLOW` through a cap-std
//! handle, then the file itself (`O_NOFOLLOW` too). A link is refused with an error naming
//! it, so nothing is ever read from, or written to, wherever it points.
//!
//! "Inside" is the last `depth` components of a path (`logs/<task>/1.out` is 3): what is
//! above them — the state directory itself, as `--state-dir` names it — is the user's
//! choice and is followed like any path.

use std::ffi::OsStr;
use std::fs::File;
use std::path::{Component, Path, PathBuf};

use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt, OpenOptionsSyncExt};
use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions};

use crate::{Error, Result};

/// How a file below the state directory is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read only; the file must exist.
    Read,
    /// Read and write, created if missing, never truncated: lock and claim files.
    Lock,
    /// Append, created if missing (with its directories): `events.jsonl`, engine notes.
    Append,
    /// Read and append, created if missing (with its directories): the fence log.
    ReadAppend,
    /// Write from the start, created if missing (with its directories), truncated.
    Truncate,
}

impl Access {
    fn creates(self) -> bool {
        self != Access::Read
    }

    fn options(self) -> OpenOptions {
        let mut o = OpenOptions::new();
        match self {
            Access::Read => o.read(true),
            Access::Lock => o.read(true).write(true).create(true),
            Access::Append => o.append(true).create(true),
            Access::ReadAppend => o.read(true).append(true).create(true),
            Access::Truncate => o.write(true).create(true).truncate(true),
        };
        // New files get 0666 minus the umask, as `File::create` gives (cap-std's default).
        o.follow(FollowSymlinks::No);
        // A named pipe planted where a file should be must not block the open forever
        // (the caller then finds it is not a regular file). No effect on regular files.
        o.nonblock(true);
        o
    }

    fn action(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Lock => "open lock file",
            Access::Append | Access::ReadAppend => "open for appending",
            Access::Truncate => "create",
        }
    }
}

/// Opens `path`, whose last `depth` components lie inside the state directory: none of
/// them may be a symbolic link (an error naming it, [`Error::Invalid`]). With a creating
/// [`Access`], missing directories among them are made. A missing file or directory is
/// an [`Error::Io`] of kind `NotFound` naming `path`.
pub fn open_below(path: &Path, depth: usize, access: Access) -> Result<File> {
    let (anchor, inner) = split(path, depth)?;
    let Some((name, dirs)) = inner.split_last() else {
        return Err(Error::invalid(path, "names no file"));
    };
    let (dir, at) = walk(&anchor, dirs, access.creates())?;
    dir.open_with(name, &access.options())
        .map(cap_std::fs::File::into_std)
        .map_err(|e| refusal(&dir, &at, name, e, access.action()))
}

/// The directory `path` (last `depth` components inside the state directory, none a
/// symbolic link) as a handle; made with its missing parents when `create`. `Ok(None)`
/// when it is missing and `create` is false.
pub fn dir_below(path: &Path, depth: usize, create: bool) -> Result<Option<Dir>> {
    let (anchor, inner) = split(path, depth)?;
    match walk(&anchor, &inner, create) {
        Ok((dir, _)) => Ok(Some(dir)),
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// `path` cut into the trusted part above and the last `depth` names below it.
fn split(path: &Path, depth: usize) -> Result<(PathBuf, Vec<&OsStr>)> {
    let parts: Vec<Component<'_>> = path.components().collect();
    let mut cut = parts.len().saturating_sub(depth);
    // A path shorter than `depth` below the file-system root keeps the root as its anchor.
    while matches!(
        parts.get(cut),
        Some(Component::RootDir | Component::Prefix(_))
    ) {
        cut += 1;
    }
    let mut inner = Vec::with_capacity(depth);
    for c in &parts[cut..] {
        match c {
            Component::Normal(n) => inner.push(*n),
            _ => {
                return Err(Error::invalid(
                    path,
                    "a path inside the state directory must be plain names (no `..`, `.` or root)",
                ));
            }
        }
    }
    let anchor: PathBuf = parts[..cut].iter().collect();
    let anchor = if anchor.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        anchor
    };
    Ok((anchor, inner))
}

/// Opens `anchor`, then each of `dirs` below it without following links (making missing
/// ones when `create`); returns the last handle and its path.
fn walk(anchor: &Path, dirs: &[&OsStr], create: bool) -> Result<(Dir, PathBuf)> {
    let mut dir = Dir::open_ambient_dir(anchor, ambient_authority())
        .map_err(|e| Error::io(anchor, "open directory", e))?;
    let mut at = anchor.to_path_buf();
    for name in dirs {
        let next = match dir.open_dir_nofollow(name) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                match dir.create_dir(name) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(Error::io(at.join(name), "create directory", e)),
                }
                dir.open_dir_nofollow(name)
            }
            other => other,
        };
        dir = next.map_err(|e| refusal(&dir, &at, name, e, "open directory"))?;
        at.push(name);
    }
    Ok((dir, at))
}

/// The error for a failed open of `name` in `dir` (at path `at`): a symbolic link is
/// refused by name; anything else is the OS error, naming the path.
fn refusal(dir: &Dir, at: &Path, name: &OsStr, e: std::io::Error, action: &'static str) -> Error {
    if dir
        .symlink_metadata(name)
        .is_ok_and(|m| m.file_type().is_symlink())
    {
        return symlink_error(&at.join(name));
    }
    Error::io(at.join(name), action, e)
}

/// "`path` is a symbolic link": the refusal every state-directory open shares.
pub fn symlink_error(path: &Path) -> Error {
    Error::invalid(
        path,
        "is a symbolic link; the engine never reads or writes the state directory through one \
         (remove it)",
    )
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn files_and_directories_are_made_and_reopened() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("st/logs/t/1.out");
        std::fs::create_dir(dir.path().join("st")).unwrap();
        open_below(&log, 3, Access::Append)
            .unwrap()
            .write_all(b"hi")
            .unwrap();
        let mut text = String::new();
        open_below(&log, 3, Access::Read)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "hi");
        let missing = open_below(&dir.path().join("st/nope"), 1, Access::Read).unwrap_err();
        assert!(
            matches!(&missing, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
            "{missing}"
        );
        assert!(
            dir_below(&dir.path().join("st/a/b"), 2, false)
                .unwrap()
                .is_none()
        );
        assert!(
            dir_below(&dir.path().join("st/a/b"), 2, true)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn a_planted_link_is_refused_by_name_and_nothing_is_written_through_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::create_dir_all(dir.path().join("st/logs/t")).unwrap();
        // The file itself (dangling, so a create would make the target), then a directory.
        symlink(outside.join("x"), dir.path().join("st/logs/t/1.out")).unwrap();
        let err = open_below(&dir.path().join("st/logs/t/1.out"), 3, Access::Truncate)
            .unwrap_err()
            .to_string();
        assert!(err.contains("logs/t/1.out: is a symbolic link"), "{err}");
        symlink(&outside, dir.path().join("st/claims")).unwrap();
        let err = open_below(&dir.path().join("st/claims/t.lock"), 2, Access::Lock)
            .unwrap_err()
            .to_string();
        assert!(err.contains("st/claims: is a symbolic link"), "{err}");
        assert!(dir_below(&dir.path().join("st/claims"), 1, true).is_err());
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    }

    #[test]
    fn dot_dot_never_counts_as_inside() {
        let err = open_below(Path::new("st/../x"), 2, Access::Read).unwrap_err();
        assert!(err.to_string().contains("plain names"), "{err}");
    }
}
