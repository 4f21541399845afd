//! `fixes_in_progress.json`: the recovery fix steps running now, each with the files it
//! may change. Recovery records a step here before it runs a fixer or an agent and removes
//! it when the step's changes are recorded; the executor holds back a new attempt of any
//! other task whose files overlap a fix in progress until the fix ends (docs/RECOVERY.md,
//! "Scope"). Phases never call each other: this file is how they agree.
//!
//! A record outlives a recovery process that died mid-fix; it counts only while the claim
//! it names (the one the recovery job holds) is held, so a stale record holds nothing back.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::atomic::{Durability, replace_with};
use super::{Claim, LockGuard, LockWait, StateDir};
use crate::schema::SchemaName;
use crate::{Error, Result};

/// The file's name in the state directory.
pub const FIXES_IN_PROGRESS: &str = "fixes_in_progress.json";

/// The lock writers of the file hold (readers need none: it is replaced by a rename).
const LOCK: &str = "fixes_in_progress.json";

/// One fix step running now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixInProgress {
    /// The task whose failure is being fixed.
    pub task_id: String,
    /// Its failed attempt.
    pub attempt: u32,
    /// The ladder step (`mechanical_fix`, an agent tier).
    pub step: String,
    /// What the step may change: absolute paths, each a file or a directory tree.
    pub paths: Vec<PathBuf>,
    /// When it started (RFC 3339 UTC).
    pub started_at: String,
    /// The claim (`claims/<name>.lock`) the fixing process holds while it works: the
    /// record counts only while it is held.
    pub claim: String,
}

impl FixInProgress {
    /// Whether any of `paths` (absolute, lexically normal) is one of this fix's paths, is
    /// under one of its directories, or holds one of them: prefixes both ways, so a
    /// directory in a task's `files` overlaps a fix of a file inside it and the reverse.
    pub fn overlaps(&self, paths: &[PathBuf]) -> bool {
        self.paths
            .iter()
            .any(|a| paths.iter().any(|b| a.starts_with(b) || b.starts_with(a)))
    }
}

/// The file's content (`schemas/fixes_in_progress.schema.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixesInProgress {
    /// Always 1 for this format.
    pub schema_version: u32,
    /// One entry per task being fixed, oldest first.
    pub fixes: Vec<FixInProgress>,
}

fn path(state: &StateDir) -> PathBuf {
    state.file(FIXES_IN_PROGRESS)
}

/// Every recorded fix, live or stale; none when the file does not exist.
fn read_all(state: &StateDir) -> Result<Vec<FixInProgress>> {
    Ok(read_fixes_in_progress(&path(state))?.fixes)
}

/// Reads and schema-checks a fixes-in-progress file (a missing one records no fix). A file
/// that does not parse or fit the schema is an error naming it and the field.
pub fn read_fixes_in_progress(path: &Path) -> Result<FixesInProgress> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(FixesInProgress::default()),
        Err(e) => return Err(Error::io(path, "read", e)),
    };
    super::parse_json_document(path, &bytes, SchemaName::FixesInProgress)
}

/// Rewrites the file under its lock with `change` applied to the recorded fixes.
fn edit(state: &StateDir, change: impl FnOnce(&mut Vec<FixInProgress>)) -> Result<()> {
    let _lock = LockGuard::acquire(
        &state.lock_path(LOCK),
        LockWait::AtMost(std::time::Duration::from_secs(10)),
    )?;
    let path = path(state);
    // A broken file is replaced: it holds nothing back anyway (see [`live_fixes`]).
    let mut fixes = read_all(state).unwrap_or_default();
    change(&mut fixes);
    let doc = FixesInProgress {
        schema_version: 1,
        fixes,
    };
    let mut bytes = Vec::new();
    super::outline::to_writer_outlined(&mut bytes, &doc)
        .map_err(|e| Error::invalid(&path, format!("cannot encode the record: {e}")))?;
    bytes.push(b'\n');
    // Not durable on purpose: a record only counts while its recovery job's claim is
    // held, and after a crash none is, so a lost write loses nothing, and the fix step's
    // critical path saves two `fsync`s of file and directory (docs/PERFORMANCE.md).
    replace_with(&path, |w| w.write_all(&bytes), Durability::Unsynced).map(drop)
}

/// Records `fix` (readers see it before this returns), replacing an earlier record
/// of the same task.
pub fn begin_fix(state: &StateDir, fix: &FixInProgress) -> Result<()> {
    edit(state, |fixes| {
        fixes.retain(|f| f.task_id != fix.task_id);
        fixes.push(fix.clone());
    })
}

/// Removes the record of `task_id`'s fix (nothing if there is none).
pub fn end_fix(state: &StateDir, task_id: &str) -> Result<()> {
    edit(state, |fixes| fixes.retain(|f| f.task_id != task_id))
}

/// The fixes running now: the recorded ones whose claim is held. A file that cannot be
/// read or parsed is an error naming it.
pub fn live_fixes(state: &StateDir) -> Result<Vec<FixInProgress>> {
    let mut fixes = read_all(state)?;
    fixes.retain(|f| Claim::is_held(state, &f.claim).unwrap_or(true));
    Ok(fixes)
}

/// The file's path, for change detection by a reader (a `stat` per look).
pub fn fixes_in_progress_path(state: &StateDir) -> PathBuf {
    path(state)
}

/// Whether `path` (relative to the state directory, as wake-ups name it) is the file.
pub fn is_fixes_in_progress(path: &Path) -> bool {
    path == Path::new(FIXES_IN_PROGRESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fix(task: &str, claim: &str, paths: &[&str]) -> FixInProgress {
        FixInProgress {
            task_id: task.to_string(),
            attempt: 1,
            step: "mechanical_fix".to_string(),
            paths: paths.iter().map(PathBuf::from).collect(),
            started_at: crate::model::now_rfc3339(),
            claim: claim.to_string(),
        }
    }

    #[test]
    fn a_fix_counts_while_its_claim_is_held_and_until_it_ends() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::new(dir.path().join(".state"));
        state.ensure_layout().expect("layout");
        assert_eq!(live_fixes(&state).expect("read"), Vec::new());
        let claim = Claim::try_acquire(&state, "_recovery-a")
            .expect("claim")
            .expect("free");
        begin_fix(&state, &fix("a", "_recovery-a", &["/p/a.txt"])).expect("begin");
        begin_fix(&state, &fix("b", "_recovery-b", &["/p/b.txt"])).expect("begin");
        let live = live_fixes(&state).expect("read");
        assert_eq!(live.len(), 1, "b's claim is not held: {live:?}");
        assert_eq!(live[0].task_id, "a");
        drop(claim);
        assert!(live_fixes(&state).expect("read").is_empty(), "stale");
        end_fix(&state, "a").expect("end");
        end_fix(&state, "b").expect("end");
        assert!(read_all(&state).expect("read").is_empty());
    }

    #[test]
    fn overlap_is_by_prefix_both_ways() {
        let f = fix("a", "c", &["/p/api", "/p/x.txt"]);
        assert!(f.overlaps(&[PathBuf::from("/p/api/m.py")]));
        assert!(f.overlaps(&[PathBuf::from("/p")]));
        assert!(f.overlaps(&[PathBuf::from("/p/x.txt")]));
        assert!(!f.overlaps(&[PathBuf::from("/p/x.txt2")]));
        assert!(!f.overlaps(&[PathBuf::from("/p/apis")]));
        assert!(!f.overlaps(&[]));
    }

    #[test]
    fn a_broken_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::new(dir.path().join(".state"));
        state.ensure_layout().expect("layout");
        std::fs::write(path(&state), "{").expect("write");
        let e = live_fixes(&state).expect_err("broken").to_string();
        assert!(e.contains(FIXES_IN_PROGRESS), "{e}");
    }
}
