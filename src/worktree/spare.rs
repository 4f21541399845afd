//! Worktrees kept for reuse: checking a whole repository out into a new worktree, and
//! deleting it again, is most of what isolation costs (about 1 ms per file on this VM's
//! ext4, docs/PERFORMANCE.md). A settled worktree is put aside instead, in
//! `<state>/worktrees/.spare/<repository key>.<n>` (at most [`MAX_SPARES`] per
//! repository), and the next attempt in the same repository takes it: renamed into place,
//! re-linked (what `git worktree repair` does), reset to its base on its own branch, and cleaned of
//! everything untracked (`git clean -ffdx`) — only the files that differ are written.
//! Anything unexpected falls back to a fresh `git worktree add`.

use std::path::{Path, PathBuf};

use super::git::Git;
use crate::store::StateDir;

/// Worktrees kept per repository: enough for the attempts that run at once.
const MAX_SPARES: usize = 4;

/// `<state>/worktrees/.spare/` (task ids cannot start with a dot).
fn spare_dir(state: &StateDir) -> PathBuf {
    let dir = state.root().join("worktrees").join(".spare");
    std::path::absolute(&dir).unwrap_or(dir)
}

/// The repository `top` as part of a file name: a stable hash of its path (FNV-1a), so
/// a spare is only ever taken for the repository it belongs to.
fn key(top: &Path) -> String {
    let hash = top
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
    format!("{hash:016x}")
}

/// Puts the settled worktree `path` of repository `top` aside for reuse. Its branch must
/// be gone already (the caller deleted the ref). `false`: not kept (no room, or the
/// rename failed); the caller removes it.
pub(super) fn put_aside(state: &StateDir, top: &Path, path: &Path) -> bool {
    let dir = spare_dir(state);
    // One that could not be re-linked later (its repository keeps its git directory
    // elsewhere) is not worth keeping.
    if admin_of(path, top).is_none() || std::fs::create_dir_all(&dir).is_err() {
        return false;
    }
    let k = key(top);
    // A rename onto an existing (non-empty) spare fails, so two settling attempts never
    // take the same slot.
    (0..MAX_SPARES)
        .map(|n| dir.join(format!("{k}.{n}")))
        .any(|spare| {
            !spare.exists() && std::fs::rename(path, &spare).is_ok() && {
                // Re-linked at once, so `git worktree list` shows it where it is and
                // `git worktree prune` leaves it alone.
                relink(&spare, top);
                true
            }
        })
}

/// Takes a spare worktree of repository `top` into `path` and checks `base` out there on
/// the new branch `branch`. `false`: there was none, or it could not be reused (it is
/// then removed); the caller adds a fresh worktree.
pub(super) fn take(
    state: &StateDir,
    git: &Git,
    top: &Path,
    path: &Path,
    branch: &str,
    base: &str,
) -> bool {
    let dir = spare_dir(state);
    let k = key(top);
    let Some(_) = (0..MAX_SPARES)
        .map(|n| dir.join(format!("{k}.{n}")))
        .find(|spare| std::fs::rename(spare, path).is_ok())
    else {
        return false;
    };
    let wt = Git::at(path);
    let reused = relink(path, top)
        // `-b`, not `-B`: a branch kept from a conflict is never reset.
        && wt
            .bytes(["checkout", "--quiet", "--force", "-b", branch, base])
            .is_ok()
        && wt.bytes(["clean", "-ffdxq"]).is_ok();
    if !reused {
        super::start::remove_worktree(git, path);
    }
    reused
}

/// Points the repository's record of the worktree at `path` back at it, as `git worktree
/// repair` does, without a git run: `$GIT_DIR/worktrees/<id>/gitdir` holds the absolute
/// path of the worktree's `.git` file (gitrepository-layout(5)). `false` when the
/// worktree is not one of `top`'s (its `.git` file names no directory under
/// `top/.git/worktrees/`) or the record cannot be written.
fn relink(path: &Path, top: &Path) -> bool {
    let Some(admin) = admin_of(path, top) else {
        return false;
    };
    let dot_git = format!("{}\n", path.join(".git").display());
    std::fs::write(admin.join("gitdir"), dot_git).is_ok()
}

/// The repository's directory for the worktree at `path`, `top/.git/worktrees/<id>`, as
/// its `.git` file names it; `None` when it names none of `top`'s.
fn admin_of(path: &Path, top: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(path.join(".git")).ok()?;
    let admin = PathBuf::from(text.trim().strip_prefix("gitdir: ")?);
    (admin.starts_with(top.join(".git").join("worktrees")) && admin.is_dir()).then_some(admin)
}
