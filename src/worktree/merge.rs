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

/// One file `git diff --raw` lists between the base and the attempt's commit.
#[derive(Debug)]
struct Listed {
    /// The attempt's mode (`None` when it deleted the file).
    mode: Option<String>,
    /// Whether both sides are blobs (a file or a link), not a submodule's commit.
    blobs: bool,
    /// The blobs at the base and in the attempt's commit (`None`: absent there).
    original: Option<String>,
    theirs: Option<String>,
    /// Relative to the repository.
    path: String,
}

/// Merges `base..head` into the checkout at `top`. Writes nothing when any file conflicts
/// and returns the conflicts; an error is a git failure. Two git runs whatever the number
/// of files: the listing with modes and blob ids, and every blob in one `cat-file --batch`.
pub(super) fn merge_back(
    state: &StateDir,
    top: &Path,
    base: &str,
    head: &str,
) -> Result<Vec<Conflict>, String> {
    let git = Git::at(top);
    let listing = git.bytes([
        "diff",
        "--raw",
        "-z",
        "--no-renames",
        "--no-abbrev",
        base,
        head,
    ])?;
    let listed = parse_raw(&listing);
    let wanted: Vec<&str> = listed
        .iter()
        .filter(|l| l.blobs)
        .flat_map(|l| [l.original.as_deref(), l.theirs.as_deref()])
        .flatten()
        .collect();
    let mut blobs = read_blobs(&git, &wanted)?.into_iter();
    let project = ProjectRoot::of(state).map_err(|e| e.to_string())?;
    let mut writes = Vec::new();
    let mut conflicts = Vec::new();
    for l in listed {
        if !l.blobs {
            let why = "a submodule, which is merged by hand".to_string();
            conflicts.push(Conflict { path: l.path, why });
            continue;
        }
        let original = l
            .original
            .as_ref()
            .map(|_| blobs.next().unwrap_or_default());
        let theirs = l.theirs.as_ref().map(|_| blobs.next().unwrap_or_default());
        match decide(&git, &project, top, &l, original, theirs)? {
            Ok(Some(w)) => writes.push(w),
            Ok(None) => {}
            Err(why) => conflicts.push(Conflict { path: l.path, why }),
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

/// `git diff --raw -z` records: `:<old mode> <new mode> <old id> <new id> <status>`, NUL,
/// the path, NUL. An all-zero id or mode stands for a side where the file does not exist.
fn parse_raw(listing: &[u8]) -> Vec<Listed> {
    let mut listed = Vec::new();
    let mut fields = listing.split(|b| *b == 0).filter(|f| !f.is_empty());
    while let (Some(meta), Some(path)) = (fields.next(), fields.next()) {
        let meta = String::from_utf8_lossy(meta);
        let parts: Vec<&str> = meta.trim_start_matches(':').split(' ').collect();
        let [old_mode, new_mode, old_id, new_id, _status] = parts.as_slice() else {
            continue;
        };
        let present = |id: &str| (!id.bytes().all(|b| b == b'0')).then(|| id.to_string());
        listed.push(Listed {
            mode: present(new_mode),
            blobs: ![old_mode, new_mode].iter().any(|m| m.starts_with("16")),
            original: present(old_id),
            theirs: present(new_id),
            path: String::from_utf8_lossy(path).into_owned(),
        });
    }
    listed
}

/// The contents of the blobs `ids`, in order, from one `git cat-file --batch`.
fn read_blobs(git: &Git, ids: &[&str]) -> Result<Vec<Vec<u8>>, String> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let input: Vec<u8> = ids
        .iter()
        .flat_map(|id| format!("{id}\n").into_bytes())
        .collect();
    let out = git.bytes_with_input(["cat-file", "--batch"], input)?;
    let mut blobs = Vec::with_capacity(ids.len());
    let mut rest = out.as_slice();
    for id in ids {
        // `<id> <type> <size>\n<content>\n`, or `<id> missing\n`.
        let end = rest
            .iter()
            .position(|b| *b == b'\n')
            .ok_or_else(|| format!("git cat-file --batch: no answer for {id}"))?;
        let header = String::from_utf8_lossy(&rest[..end]).into_owned();
        let size: usize = header
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .filter(|_| !header.ends_with(" missing"))
            .ok_or_else(|| format!("git cat-file --batch: {header}"))?;
        let content = rest
            .get(end + 1..end + 1 + size)
            .ok_or_else(|| format!("git cat-file --batch: {id} is cut short"))?;
        blobs.push(content.to_vec());
        rest = rest.get(end + 2 + size..).unwrap_or_default();
    }
    Ok(blobs)
}

/// One changed file: what to write (`None`: the checkout already has it), or why it
/// conflicts.
fn decide(
    git: &Git,
    project: &ProjectRoot,
    top: &Path,
    listed: &Listed,
    original: Option<Vec<u8>>,
    theirs: Option<Vec<u8>>,
) -> Result<Result<Option<Write>, String>, String> {
    let absolute = top.join(&listed.path);
    // The same containment as any path a file names: not outside the project, not into
    // the state directory, not through a symbolic link someone planted (issue 8).
    let target = match project.resolve(None, &absolute.to_string_lossy(), "merge") {
        Ok(c) => c.path().to_path_buf(),
        Err(e) => return Ok(Err(e.to_string())),
    };
    let mode = listed.mode.clone();
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
