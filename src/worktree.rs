//! `isolation = "worktree"`: each attempt of a task runs in a git worktree of its own, on
//! branch `phase/<task>/<attempt>`, so that parallel agents never write the same checkout.
//!
//! The rules (README "Using AI coding agents", docs/EXECUTION.md):
//! - the task's workdir must be in a git repository with at least one commit;
//! - the branch starts from a *base* commit: HEAD plus the workdir repository's uncommitted
//!   changes to tracked files and the task's own files as they are on disk (made with an
//!   index of its own: the user's index, HEAD and branches are not touched). Other
//!   untracked files are not in the worktree;
//! - the worktree is `<state>/worktrees/<task>/<attempt>/`, and the attempt runs in the
//!   directory there that matches its workdir;
//! - when the attempt ends, what it changed is committed on the branch and written as a
//!   patch, `logs/<task>/<attempt>.patch`; if the attempt succeeded, the change is merged
//!   into the checkout file by file (three-way against the base, so changes made there
//!   meanwhile are kept). A conflict writes nothing, keeps the branch, and fails the
//!   attempt with a reason starting [`CANNOT_MERGE`] (classified `needs_human`);
//! - the branch is deleted unless it is kept for a conflict, and the worktree is kept for
//!   reuse by the next isolated attempt in the same repository (`spare`), else removed.
//!
//! With an acceptance gate the change is merged only once the gate passed: an attempt
//! that exits 0 keeps its worktree, the gate runs there ([`gate_dir`]), and its verdict
//! settles it (merged, or after a failed gate only recorded as a patch, the task's
//! workdir untouched).
//!
//! A ladder tier's fix (an agent during recovery) of an isolated task runs in a worktree
//! of its own too, `<attempt>.<tier>` ([`start_named`]): its change comes back only when
//! the CLI succeeded, so a tier that failed half-way leaves nothing for the next one.

mod git;
mod merge;
mod spare;
mod start;

use std::path::{Path, PathBuf};

use git::Git;
use start::remove_worktree;
pub(crate) use start::start_named;
pub use start::{Started, start};

use crate::model::{Isolation, MergeOutcome, TaskResult, TaskSpec, WorktreeRun};
use crate::store::StateDir;

/// How the reason of an attempt whose change could not be merged starts.
pub const CANNOT_MERGE: &str = "cannot merge";

/// The branch of `attempt` of `task_id`: `phase/<task>/<attempt>`. Task ids are valid
/// ref components except for what git forbids anywhere in a ref (`..`, a trailing `.`
/// or `.lock`), which is replaced by `_`.
pub fn branch_name(task_id: &str, attempt: u32) -> String {
    branch_for(task_id, &attempt.to_string())
}

/// The branch of the worktree named `name` of `task_id`: `phase/<task>/<name>`.
fn branch_for(task_id: &str, name: &str) -> String {
    let mut id = task_id.replace("..", "__");
    if id.ends_with(".lock") {
        id.truncate(id.len() - ".lock".len());
        id.push_str("_lock");
    }
    if id.ends_with('.') {
        id.pop();
        id.push('_');
    }
    format!("phase/{id}/{name}")
}

/// `<state>/worktrees/<task>/`, absolute: the worktrees of one task.
pub fn task_dir(state: &StateDir, task_id: &str) -> PathBuf {
    let dir = state.root().join("worktrees").join(task_id);
    std::path::absolute(&dir).unwrap_or(dir)
}

/// A worktree made for an attempt that has not started yet: removed again, with its
/// branch, when dropped (the attempt could not start after all), unless [`Isolated::keep`]
/// hands its record over to the attempt.
#[derive(Debug)]
pub struct Isolated {
    started: Option<Started>,
}

impl Isolated {
    /// Where the attempt runs.
    pub fn cwd(&self) -> &Path {
        self.started
            .as_ref()
            .map_or(Path::new("."), |s| s.cwd.as_path())
    }

    /// The record the attempt keeps; from now on [`settle`] ends the worktree.
    pub fn keep(mut self) -> Option<WorktreeRun> {
        self.started.take().map(|s| s.run)
    }
}

impl Drop for Isolated {
    fn drop(&mut self) {
        if let Some(s) = self.started.take() {
            let git = Git::at(Path::new(&s.run.repository));
            remove_worktree(&git, Path::new(&s.run.path));
            let _ = git.bytes(["branch", "-D", &s.run.branch]);
        }
    }
}

/// The worktree of `attempt` of `task_id` when the task (else its tool, `tool`) asks for
/// `isolation = "worktree"`; `Ok(None)` when it runs in place. The error is the reason of
/// an attempt that cannot start.
pub fn isolate(
    state: &StateDir,
    tool: Option<Isolation>,
    task: &TaskSpec,
    task_id: &str,
    attempt: u32,
    workdir: &Path,
) -> Result<Option<Isolated>, String> {
    if task.isolation.or(tool) != Some(Isolation::Worktree) {
        return Ok(None);
    }
    let started = start(state, task_id, attempt, workdir, &task.files)?;
    Ok(Some(Isolated {
        started: Some(started),
    }))
}

/// Where the gate of attempt `attempt` (recorded in `result`) runs, for a task whose
/// workdir is `workdir`: the workdir's place in the attempt's worktree, while its change
/// waits there for the verdict; `None` when the attempt was not isolated (the gate runs
/// in the workdir).
pub fn gate_dir(result: &TaskResult, attempt: u32, workdir: &Path) -> Option<PathBuf> {
    let run = result
        .attempts
        .iter()
        .rfind(|a| a.attempt == attempt)?
        .worktree
        .as_ref()
        .filter(|w| w.merge == MergeOutcome::Pending)?;
    let path = Path::new(&run.path);
    let real = std::fs::canonicalize(workdir).ok()?;
    let inside = real.strip_prefix(&run.repository).ok()?;
    let dir = if inside.as_os_str().is_empty() {
        path.to_path_buf()
    } else {
        path.join(inside)
    };
    dir.is_dir().then_some(dir)
}

/// An isolated attempt after [`settle`].
#[derive(Debug, Clone)]
pub struct Settled {
    /// The record, with the commit, the patch and the merge outcome.
    pub run: WorktreeRun,
    /// Why the attempt must count as failed though its process succeeded (the change did
    /// not merge); starts with [`CANNOT_MERGE`].
    pub failure: Option<String>,
}

/// Ends an isolated attempt: commits what it changed on its branch, writes the patch,
/// merges the change into the checkout when `succeeded`, removes the worktree and (unless
/// a conflict keeps it) the branch.
pub fn settle(
    state: &StateDir,
    task_id: &str,
    attempt: u32,
    run: &WorktreeRun,
    succeeded: bool,
) -> Settled {
    let mut run = run.clone();
    let top = PathBuf::from(&run.repository);
    let git = Git::at(&top);
    let path = PathBuf::from(&run.path);
    let branch = run.branch.clone();
    let fail = |why: String| {
        Some(format!(
            "{CANNOT_MERGE}: the change of attempt {attempt} (branch {branch}): {why}"
        ))
    };
    let mut failure = None;
    match commit(state, task_id, attempt, &mut run, &path) {
        Err(e) => {
            run.merge = MergeOutcome::NotMerged;
            failure = succeeded.then(|| fail(e)).flatten();
        }
        Ok(None) => run.merge = MergeOutcome::NothingChanged,
        Ok(Some(_)) if !succeeded => run.merge = MergeOutcome::NotMerged,
        Ok(Some(head)) => match merge::merge_back(state, &top, &run.base, &head) {
            Ok(conflicts) if conflicts.is_empty() => run.merge = MergeOutcome::Merged,
            Ok(conflicts) => {
                run.merge = MergeOutcome::Conflict;
                let kept = git.bytes(["update-ref", &format!("refs/heads/{branch}"), &head]);
                if let Err(e) = kept {
                    tracing::warn!(task = %task_id, "cannot keep the branch {branch}: {e}");
                }
                let list: Vec<String> = conflicts
                    .iter()
                    .map(|c| format!("{} ({})", c.path, c.why))
                    .collect();
                run.conflicts = conflicts.into_iter().map(|c| c.path).collect();
                failure = fail(format!(
                    "it conflicts with the workdir in {}; nothing was merged and the branch \
                     is kept: merge it by hand (git merge {b}) or delete it (git branch -D {b})",
                    list.join(", "),
                    b = run.branch
                ));
            }
            Err(e) => {
                run.merge = MergeOutcome::NotMerged;
                failure = fail(e);
            }
        },
    }
    // Unless a conflict keeps it, the branch goes (the ref alone: the worktree may still
    // have it checked out) and the worktree is kept for the next attempt.
    let kept = run.merge != MergeOutcome::Conflict
        && git
            .bytes(["update-ref", "-d", &format!("refs/heads/{branch}")])
            .is_ok()
        && spare::put_aside(state, &top, &path);
    if !kept {
        remove_worktree(&git, &path);
        if run.merge != MergeOutcome::Conflict {
            let _ = git.bytes(["branch", "-D", &run.branch]);
        }
    }
    // The task's directory goes once its last worktree has.
    let _ = std::fs::remove_dir(task_dir(state, task_id));
    Settled { run, failure }
}

/// Commits the worktree's changes on the branch and writes the patch; the new commit, or
/// `None` when the attempt changed nothing git tracks.
fn commit(
    state: &StateDir,
    task_id: &str,
    attempt: u32,
    run: &mut WorktreeRun,
    path: &Path,
) -> Result<Option<String>, String> {
    if !path.is_dir() {
        return Err(format!("its worktree {} is gone", path.display()));
    }
    let wt = Git::at(path);
    wt.bytes(["add", "--all", "--", "."])?;
    let tree = wt.text(["write-tree"])?;
    // `<attempt>`, or `<attempt>.<tier>` for a ladder tier's fix.
    let name = path
        .file_name()
        .map_or_else(|| attempt.to_string(), |n| n.to_string_lossy().into_owned());
    let message = format!("phase: task {task_id}, {name}");
    // The branch itself moves only when it is kept (a conflict): the commit and the
    // patch are all the other outcomes need, and each git run costs milliseconds.
    let head = wt.text(["commit-tree", &tree, "-p", &run.base, "-m", &message])?;
    let patch = wt.bytes(["diff", "--binary", &run.base, &head])?;
    if patch.is_empty() {
        return Ok(None);
    }
    let rel = format!("logs/{task_id}/{name}.patch");
    let file = state.root().join(&rel);
    // `logs/<task>/<n>.patch`: no planted link on the way is followed (issue 8).
    crate::store::open_below(&file, 3, crate::store::Access::Truncate)
        .and_then(|mut f| {
            std::io::Write::write_all(&mut f, &patch)
                .map_err(|e| crate::Error::io(&file, "write", e))
        })
        .map_err(|e| format!("cannot write the patch: {e}"))?;
    run.head = Some(head.clone());
    run.patch = Some(rel);
    Ok(Some(head))
}

#[cfg(test)]
#[path = "worktree/tests.rs"]
mod tests;
