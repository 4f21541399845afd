//! The worktree module against real git repositories in temporary directories.

use std::process::Command;

use super::*;

/// A project that is a git repository with `calc.py` and `other.py` committed, and its
/// state directory (ignored by git, as a project would have it).
struct Repo {
    _dir: tempfile::TempDir,
    root: PathBuf,
    state: StateDir,
}

const CALC: &str = "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n";

impl Repo {
    fn new() -> Repo {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = std::fs::canonicalize(dir.path()).expect("canonical");
        let repo = Repo {
            state: StateDir::new(root.join(".state")),
            root,
            _dir: dir,
        };
        repo.git(&["init", "--quiet", "--initial-branch=main"]);
        repo.write("calc.py", CALC);
        repo.write("other.py", "x = 1\n");
        repo.write(".gitignore", ".state/\n");
        repo.git(&["add", "."]);
        repo.git(&["commit", "--quiet", "-m", "first"]);
        std::fs::create_dir_all(repo.state.root()).expect("state dir");
        repo
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .current_dir(&self.root)
            .output()
            .expect("git");
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.root.join(rel), text).expect("write");
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root.join(rel)).unwrap_or_default()
    }

    fn start(&self, attempt: u32) -> Started {
        start(&self.state, "t1", attempt, &self.root, &["calc.py".into()]).expect("started")
    }
}

#[test]
fn a_succeeded_attempt_is_merged_with_what_changed_meanwhile() {
    let repo = Repo::new();
    // Uncommitted work the attempt must see.
    repo.write("other.py", "x = 2\n");
    let started = repo.start(1);
    assert_eq!(started.run.branch, "phase/t1/1");
    assert_eq!(
        std::fs::read_to_string(started.cwd.join("other.py")).expect("in the worktree"),
        "x = 2\n"
    );
    let calc = started.cwd.join("calc.py");
    std::fs::write(&calc, CALC.replacen("a - b", "a + b", 1)).expect("agent edits");
    // Meanwhile someone changes another part of the same file in the checkout.
    repo.write("calc.py", &CALC.replace("def sub", "def subtract"));

    let settled = settle(&repo.state, "t1", 1, &started.run, true);
    assert_eq!(settled.failure, None);
    assert_eq!(settled.run.merge, MergeOutcome::Merged);
    let merged = repo.read("calc.py");
    assert!(
        merged.contains("return a + b") && merged.contains("def subtract"),
        "{merged}"
    );
    assert_eq!(repo.read("other.py"), "x = 2\n", "uncommitted work is kept");
    let patch = std::fs::read_to_string(repo.state.root().join("logs/t1/1.patch")).expect("patch");
    assert!(patch.contains("+    return a + b"), "{patch}");
    assert!(
        !patch.contains("other.py"),
        "the base holds the uncommitted work: {patch}"
    );
    assert!(
        !Path::new(&started.run.path).exists(),
        "the worktree is removed"
    );
    assert!(
        !Git::at(&repo.root).has_branch("phase/t1/1"),
        "the branch is deleted"
    );
    assert_eq!(repo.git(&["rev-parse", "--abbrev-ref", "HEAD"]), "main");
    assert!(
        repo.git(&["status", "--porcelain"])
            .lines()
            .any(|l| l.trim() == "M calc.py"),
        "a change in the checkout, not a commit"
    );
}

#[test]
fn a_conflict_writes_nothing_and_keeps_the_branch() {
    let repo = Repo::new();
    let started = repo.start(1);
    std::fs::write(
        started.cwd.join("calc.py"),
        CALC.replacen("a - b", "a + b", 1),
    )
    .expect("edit");
    std::fs::write(started.cwd.join("new.py"), "y = 1\n").expect("new file");
    let theirs = CALC.replacen("a - b", "b + a", 1);
    repo.write("calc.py", &theirs);

    let settled = settle(&repo.state, "t1", 1, &started.run, true);
    assert_eq!(settled.run.merge, MergeOutcome::Conflict);
    assert_eq!(settled.run.conflicts, ["calc.py"]);
    let why = settled.failure.expect("a failure");
    assert!(
        why.starts_with(CANNOT_MERGE) && why.contains("phase/t1/1"),
        "{why}"
    );
    assert_eq!(repo.read("calc.py"), theirs, "nothing written");
    assert!(
        !repo.root.join("new.py").exists(),
        "not even the files that would merge"
    );
    assert!(
        Git::at(&repo.root).has_branch("phase/t1/1"),
        "the branch is kept"
    );
    assert!(!Path::new(&started.run.path).exists());
    let shown = repo.git(&["show", "phase/t1/1:calc.py"]);
    assert!(
        shown.contains("return a + b"),
        "the change is on the branch: {shown}"
    );

    // The same attempt number again (a rerun from scratch) would reuse the kept branch.
    let err = start(&repo.state, "t1", 1, &repo.root, &[]).expect_err("branch exists");
    assert!(
        err.starts_with("cannot start") && err.contains("git branch -D phase/t1/1"),
        "{err}"
    );
    assert!(start(&repo.state, "t1", 2, &repo.root, &[]).is_ok());
}

#[test]
fn a_failed_attempt_leaves_only_its_patch() {
    let repo = Repo::new();
    let started = repo.start(1);
    std::fs::write(started.cwd.join("calc.py"), "broken\n").expect("edit");
    let settled = settle(&repo.state, "t1", 1, &started.run, false);
    assert_eq!(settled.failure, None);
    assert_eq!(settled.run.merge, MergeOutcome::NotMerged);
    assert_eq!(settled.run.patch.as_deref(), Some("logs/t1/1.patch"));
    assert_eq!(repo.read("calc.py"), CALC);
    assert!(!Git::at(&repo.root).has_branch("phase/t1/1"));

    let started = repo.start(2);
    let settled = settle(&repo.state, "t1", 2, &started.run, true);
    assert_eq!(settled.run.merge, MergeOutcome::NothingChanged);
    assert_eq!(settled.run.patch, None);
    assert!(!task_dir(&repo.state, "t1").exists(), "nothing left behind");
}

#[test]
fn leftovers_of_a_crash_are_removed_and_untracked_task_files_come_along() {
    let repo = Repo::new();
    let crashed = repo.start(1);
    repo.write("calc.py", "untracked change\n");
    repo.git(&["rm", "--quiet", "--cached", "calc.py"]);
    let started = repo.start(2);
    assert!(
        !Path::new(&crashed.run.path).exists(),
        "the crashed attempt's worktree"
    );
    assert!(!Git::at(&repo.root).has_branch("phase/t1/1"));
    assert_eq!(
        std::fs::read_to_string(started.cwd.join("calc.py")).expect("task file"),
        "untracked change\n"
    );
}

#[test]
fn outside_a_repository_it_cannot_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = StateDir::new(dir.path().join(".state"));
    let err = start(&state, "t1", 1, dir.path(), &[]).expect_err("not a repo");
    assert!(
        err.starts_with("cannot start: isolation = \"worktree\""),
        "{err}"
    );
    assert!(err.contains("is not in a git repository"), "{err}");
}

#[test]
fn branch_names_are_valid_refs() {
    assert_eq!(branch_name("fix-1", 3), "phase/fix-1/3");
    assert_eq!(branch_name("a..b", 1), "phase/a__b/1");
    assert_eq!(branch_name("x.lock", 1), "phase/x_lock/1");
    assert_eq!(branch_name("v1.", 1), "phase/v1_/1");
}

#[test]
fn a_settled_worktree_is_reused_reset_to_the_next_base() {
    let repo = Repo::new();
    let first = repo.start(1);
    std::fs::write(first.cwd.join("calc.py"), "broken by attempt 1\n").expect("edit");
    std::fs::write(first.cwd.join("scratch.txt"), "left over\n").expect("untracked");
    let settled = settle(&repo.state, "t1", 1, &first.run, false);
    assert_eq!(settled.run.merge, MergeOutcome::NotMerged);
    let spares = repo.state.root().join("worktrees/.spare");
    assert_eq!(
        std::fs::read_dir(&spares).map(|d| d.count()).unwrap_or(0),
        1,
        "kept for reuse"
    );
    // The workdir moved on meanwhile: the next attempt starts from there.
    repo.write("other.py", "x = 3\n");
    let second = repo.start(2);
    assert_eq!(
        std::fs::read_dir(&spares).map(|d| d.count()).unwrap_or(0),
        0,
        "the spare was taken"
    );
    let read = |rel: &str| std::fs::read_to_string(second.cwd.join(rel)).unwrap_or_default();
    assert_eq!(read("calc.py"), CALC, "attempt 1's change is gone");
    assert_eq!(read("other.py"), "x = 3\n", "the new base");
    assert!(!second.cwd.join("scratch.txt").exists(), "cleaned");
    let wt = Git::at(&second.cwd);
    assert_eq!(
        wt.text(["symbolic-ref", "--short", "HEAD"])
            .expect("branch"),
        "phase/t1/2"
    );
    std::fs::write(
        second.cwd.join("calc.py"),
        CALC.replacen("a - b", "a + b", 1),
    )
    .expect("edit");
    let settled = settle(&repo.state, "t1", 2, &second.run, true);
    assert_eq!(settled.run.merge, MergeOutcome::Merged, "{settled:?}");
    assert!(repo.read("calc.py").contains("return a + b"));
    assert!(!Git::at(&repo.root).has_branch("phase/t1/1"));
    assert!(!Git::at(&repo.root).has_branch("phase/t1/2"));
}
