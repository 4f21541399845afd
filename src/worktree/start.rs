//! Making an attempt's worktree: the base commit (HEAD plus the uncommitted work, built in
//! an index of its own), the branch, the checkout; and removing what a crash left behind.

use std::path::{Path, PathBuf};

use super::git::Git;
use super::{branch_for, task_dir};
use crate::model::WorktreeRun;
use crate::store::StateDir;

/// An isolated attempt ready to start.
#[derive(Debug, Clone)]
pub struct Started {
    /// What the attempt record keeps.
    pub run: WorktreeRun,
    /// Where the attempt runs: the workdir's place in the worktree.
    pub cwd: PathBuf,
}

/// Makes the worktree of `attempt` of `task_id`, whose workdir is `workdir` and whose
/// files are `files` (relative to it). The error is the reason of an attempt that cannot
/// start (it starts with `cannot start`).
pub fn start(
    state: &StateDir,
    task_id: &str,
    attempt: u32,
    workdir: &Path,
    files: &[String],
) -> Result<Started, String> {
    start_named(state, task_id, &attempt.to_string(), workdir, files)
}

/// [`start`] for a worktree named `name` (`<attempt>`, or `<attempt>.<tier>` for a ladder
/// tier's fix): its directory `<state>/worktrees/<task>/<name>` and branch
/// `phase/<task>/<name>`.
pub(crate) fn start_named(
    state: &StateDir,
    task_id: &str,
    name: &str,
    workdir: &Path,
    files: &[String],
) -> Result<Started, String> {
    let fail = |why: String| format!("cannot start: isolation = \"worktree\": {why}");
    // One git run answers what used to take four (each run costs 3–10 ms here): the
    // repository, its index, HEAD and HEAD's tree. It fails outside a repository or
    // before the first commit; the runs below then say which.
    let facts = Git::at(workdir).text([
        "rev-parse",
        "--show-toplevel",
        "--path-format=absolute",
        "--git-path",
        "index",
        "HEAD^{commit}",
        "HEAD^{tree}",
    ]);
    let facts = match facts {
        Ok(text) => text.lines().map(str::to_string).collect::<Vec<_>>(),
        Err(_) => return Err(fail(why_not_a_repository(workdir))),
    };
    let [top, index, head, head_tree] = facts.as_slice() else {
        return Err(fail(format!("git rev-parse said {facts:?}")));
    };
    let top = std::fs::canonicalize(top).map_err(|e| fail(format!("{top}: {e}")))?;
    let git = Git::at(&top);
    let real_workdir = std::fs::canonicalize(workdir).map_err(|e| fail(e.to_string()))?;
    let inside = real_workdir
        .strip_prefix(&top)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let dir = task_dir(state, task_id);
    let path = dir.join(name);
    let branch = branch_for(task_id, name);
    remove_leftovers(&git, &dir);
    std::fs::create_dir_all(&dir).map_err(|e| fail(format!("{}: {e}", dir.display())))?;
    let base = base_commit(
        &git,
        &dir.join(format!("{name}.index")),
        Path::new(index),
        (head, head_tree),
        workdir,
        files,
    )
    .map_err(fail)?;
    // A spare worktree of this repository, reset to the base, saves checking out (and
    // later deleting) every file (src/worktree/spare.rs).
    let p = path.to_string_lossy();
    let added = match super::spare::take(state, &git, &top, &path, &branch, &base) {
        true => Ok(Vec::new()),
        false => git.bytes([
            "worktree",
            "add",
            "--quiet",
            "-b",
            &branch,
            p.as_ref(),
            &base,
        ]),
    };
    if let Err(e) = added {
        return Err(fail(match git.has_branch(&branch) {
            true => format!(
                "the branch {branch} already exists (kept from a merge conflict?): merge or \
                 delete it (git branch -D {branch}), then retry the task"
            ),
            false => e,
        }));
    }
    Ok(Started {
        // `join("")` would add a trailing slash to the path the attempt records.
        cwd: if inside.as_os_str().is_empty() {
            path.clone()
        } else {
            path.join(inside)
        },
        run: WorktreeRun {
            branch,
            base,
            path: path.to_string_lossy().into_owned(),
            repository: top.to_string_lossy().into_owned(),
            ..WorktreeRun::default()
        },
    })
}

/// Why `workdir` has no repository with a commit to start from.
fn why_not_a_repository(workdir: &Path) -> String {
    match Git::at(workdir).text(["rev-parse", "--show-toplevel"]) {
        Err(_) => format!(
            "the task's workdir {} is not in a git repository",
            workdir.display()
        ),
        Ok(top) => format!("the repository {top} has no commit yet"),
    }
}

/// HEAD plus the uncommitted changes to tracked files and the task's files, as a commit
/// (HEAD itself when there are none), built in the index file `index`, starting from a
/// copy of the repository's own index `theirs`.
fn base_commit(
    git: &Git,
    index: &Path,
    theirs: &Path,
    (head, head_tree): (&str, &str),
    workdir: &Path,
    files: &[String],
) -> Result<String, String> {
    let staged = git.with_index(index);
    // Start from the user's index (its stat data saves rehashing every file), else HEAD.
    if copy_index(theirs, index).is_err() {
        staged.bytes(["read-tree", head])?;
    }
    let result = (|| {
        staged.bytes(["add", "--update", "--", "."])?;
        let own: Vec<&String> = files.iter().filter(|f| workdir.join(f).exists()).collect();
        if !own.is_empty() {
            let mut args = vec!["add", "--force", "--"];
            args.extend(own.iter().map(|f| f.as_str()));
            staged.in_dir(workdir).bytes(args)?;
        }
        let tree = staged.text(["write-tree"])?;
        if tree == head_tree {
            return Ok(head.to_string());
        }
        git.text([
            "commit-tree",
            &tree,
            "-p",
            head,
            "-m",
            "phase: the workdir's uncommitted changes, base of an isolated attempt",
        ])
    })();
    let _ = std::fs::remove_file(index);
    result
}

/// Copies an index file with its modification time: git trusts an entry's stat data only
/// when the file changed before the index was written ("racy git"); a fresh copy would
/// make a file changed in the same second as the index look unchanged.
fn copy_index(from: &Path, to: &Path) -> std::io::Result<()> {
    let modified = std::fs::metadata(from)?.modified()?;
    std::fs::copy(from, to)?;
    std::fs::File::options()
        .write(true)
        .open(to)?
        .set_modified(modified)
}

/// Worktrees a crash left in `dir` (the task's): removed, with their branches (nothing of
/// theirs was merged or kept).
fn remove_leftovers(git: &Git, dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        // Only a worktree has a `.git` file; elsewhere git would answer for the
        // repository around the state directory.
        let branch = path
            .join(".git")
            .is_file()
            .then(|| {
                Git::at(&path)
                    .text(["symbolic-ref", "--quiet", "--short", "HEAD"])
                    .ok()
            })
            .flatten();
        remove_worktree(git, &path);
        if let Some(branch) = branch.filter(|b| b.starts_with("phase/")) {
            let _ = git.bytes(["branch", "-D", &branch]);
        }
        let _ = std::fs::remove_file(&path);
    }
    let _ = git.bytes(["worktree", "prune"]);
}

pub(super) fn remove_worktree(git: &Git, path: &Path) {
    let p = path.to_string_lossy();
    if git
        .bytes(["worktree", "remove", "--force", p.as_ref()])
        .is_err()
        && path.is_dir()
    {
        let _ = std::fs::remove_dir_all(path);
        let _ = git.bytes(["worktree", "prune"]);
    }
}
