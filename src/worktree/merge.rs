//! Bringing an isolated attempt's change back into the task's checkout, file by file, as a
//! three-way merge between the branch's base (what the attempt started from), the
//! attempt's commit (theirs) and the checkout as it is now (ours, which may have moved
//! meanwhile). Every file is decided before any is written: a single conflict leaves the
//! checkout untouched. Neither the user's index nor HEAD is touched: the merge lands as
//! uncommitted changes, as if the attempt had run in place.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::git::Git;
use crate::store::{ProjectRoot, StateDir};

/// A file that does not merge, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Conflict {
    /// Relative to the repository.
    pub(super) path: String,
    pub(super) why: String,
}

/// What to do to one file of the checkout.
#[derive(Debug)]
enum Write {
    Put {
        target: PathBuf,
        content: Vec<u8>,
        executable: bool,
    },
    Delete(PathBuf),
}

/// Merges `base..head` into the checkout at `top`. Writes nothing when any file conflicts
/// and returns the conflicts; an error is a git failure.
pub(super) fn merge_back(
    state: &StateDir,
    top: &Path,
    base: &str,
    head: &str,
) -> Result<Vec<Conflict>, String> {
    let git = Git::at(top);
    let listing = git.bytes(["diff", "--name-status", "-z", "--no-renames", base, head])?;
    let project = ProjectRoot::of(state).map_err(|e| e.to_string())?;
    let mut writes = Vec::new();
    let mut conflicts = Vec::new();
    let mut fields = listing.split(|b| *b == 0).filter(|f| !f.is_empty());
    while let (Some(status), Some(path)) = (fields.next(), fields.next()) {
        let path = String::from_utf8_lossy(path).into_owned();
        let status = status.first().copied().unwrap_or(b'M');
        match decide(&git, &project, top, base, head, status, &path)? {
            Ok(Some(w)) => writes.push(w),
            Ok(None) => {}
            Err(why) => conflicts.push(Conflict { path, why }),
        }
    }
    if !conflicts.is_empty() {
        return Ok(conflicts);
    }
    for w in writes {
        apply(&w)?;
    }
    Ok(Vec::new())
}

/// One changed file: what to write (`None`: the checkout already has it), or why it
/// conflicts.
fn decide(
    git: &Git,
    project: &ProjectRoot,
    top: &Path,
    base: &str,
    head: &str,
    status: u8,
    path: &str,
) -> Result<Result<Option<Write>, String>, String> {
    let absolute = top.join(path);
    // The same containment as any path a file names: not outside the project, not into
    // the state directory, not through a symbolic link someone planted (issue 8).
    let target = match project.resolve(None, &absolute.to_string_lossy(), "merge") {
        Ok(c) => c.path().to_path_buf(),
        Err(e) => return Ok(Err(e.to_string())),
    };
    let mode = if status == b'D' {
        None
    } else {
        Some(git.text(["ls-tree", "--format=%(objectmode)", head, "--", path])?)
    };
    if let Some(m) = &mode
        && !m.starts_with("100")
    {
        return Ok(Err(format!(
            "the attempt made it a {} (mode {m}), which is merged by hand",
            if m == "120000" {
                "symbolic link"
            } else {
                "submodule"
            }
        )));
    }
    let theirs = match status {
        b'D' => None,
        _ => Some(git.bytes(["cat-file", "blob", &format!("{head}:{path}")])?),
    };
    let original = match status {
        b'A' => None,
        _ => Some(git.bytes(["cat-file", "blob", &format!("{base}:{path}")])?),
    };
    let ours = match std::fs::symlink_metadata(&target) {
        Ok(m) if m.is_file() => Some(
            std::fs::read(&target).map_err(|e| format!("cannot read {}: {e}", target.display()))?,
        ),
        Ok(_) => {
            return Ok(Err(
                "the workdir has something else than a file there".into()
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("cannot read {}: {e}", target.display())),
    };
    let executable = mode.as_deref() == Some("100755");
    let put = |content: Vec<u8>| {
        Ok(Some(Write::Put {
            target: target.clone(),
            content,
            executable,
        }))
    };
    if ours == theirs {
        return Ok(Ok(None));
    }
    if ours == original {
        return Ok(match theirs {
            Some(content) => put(content),
            None => Ok(Some(Write::Delete(target.clone()))),
        });
    }
    // Both sides changed it since the base.
    match (ours, original, theirs) {
        (Some(ours), Some(original), Some(theirs)) => {
            Ok(three_way(git, &ours, &original, &theirs)?.map_or_else(
                || Err("both the workdir and the attempt changed the same lines".to_string()),
                put,
            ))
        }
        (None, _, _) => Ok(Err("the workdir deleted it meanwhile".to_string())),
        (_, None, _) => Ok(Err(
            "the workdir and the attempt both created it".to_string()
        )),
        (_, _, None) => Ok(Err(
            "the attempt deleted it and the workdir changed it".to_string()
        )),
    }
}

/// `git merge-file`: the merged content, or `None` when the same lines changed on both sides.
fn three_way(
    git: &Git,
    ours: &[u8],
    original: &[u8],
    theirs: &[u8],
) -> Result<Option<Vec<u8>>, String> {
    let temp = |content: &[u8]| -> Result<tempfile::NamedTempFile, String> {
        let mut f = tempfile::NamedTempFile::new().map_err(|e| format!("temp file: {e}"))?;
        f.write_all(content)
            .map_err(|e| format!("temp file: {e}"))?;
        Ok(f)
    };
    let (o, b, t) = (temp(ours)?, temp(original)?, temp(theirs)?);
    let (code, merged) = git.code_and_bytes([
        "merge-file".as_ref(),
        "-p".as_ref(),
        "--quiet".as_ref(),
        o.path().as_os_str(),
        b.path().as_os_str(),
        t.path().as_os_str(),
    ])?;
    match code {
        0 => Ok(Some(merged)),
        c if c > 0 && c < 128 => Ok(None),
        c => Err(format!("git merge-file failed (exit code {c})")),
    }
}

/// Writes one file (through a temporary file and a rename, keeping an existing file's
/// permissions) or deletes it.
fn apply(w: &Write) -> Result<(), String> {
    match w {
        Write::Delete(target) => match std::fs::remove_file(target) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(format!("cannot delete {}: {e}", target.display()))
            }
            _ => Ok(()),
        },
        Write::Put {
            target,
            content,
            executable,
        } => {
            let fail = |e: std::io::Error| format!("cannot write {}: {e}", target.display());
            let dir = target.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir).map_err(fail)?;
            let mode = match std::fs::metadata(target) {
                Ok(m) => m.permissions().mode(),
                Err(_) if *executable => 0o755,
                Err(_) => 0o644,
            };
            let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
            tmp.write_all(content).map_err(fail)?;
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(mode))
                .map_err(fail)?;
            tmp.persist(target).map_err(|e| fail(e.error))?;
            Ok(())
        }
    }
}
