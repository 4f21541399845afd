//! Outcome records `attempts/<task>/<attempt>.json` (schemas/attempt_outcome.schema.json):
//! how an attempt ended, written by whatever ran it when the engine was not there to record
//! it. Written atomically and durably *before* the writer releases the task's claim, so
//! "claim free and no record" proves the attempt's supervisor died with it.

use std::path::{Path, PathBuf};

use super::{StateDir, parse_json_document, sync_dir, write_atomic};
use crate::model::{AttemptOutcome, is_valid_task_id};
use crate::schema::SchemaName;
use crate::{Error, Result};

/// `attempts/`: where outcome records live.
pub fn attempts_dir(state: &StateDir) -> PathBuf {
    state.root().join("attempts")
}

/// `attempts/<task>/<attempt>.json`. An invalid task id is an error: it never becomes a
/// path (it could name `..`).
pub fn outcome_path(state: &StateDir, task_id: &str, attempt: u32) -> Result<PathBuf> {
    if !is_valid_task_id(task_id) {
        return Err(Error::invalid(
            attempts_dir(state),
            format!("{task_id:?} is not a valid task id"),
        ));
    }
    Ok(attempts_dir(state)
        .join(task_id)
        .join(format!("{attempt}.json")))
}

/// Publishes `outcome` at its path: temp file, fsync, rename, fsync of the directory (and
/// of the directories it had to create). Replaces an older record of the same attempt.
pub fn write_outcome(state: &StateDir, outcome: &AttemptOutcome) -> Result<PathBuf> {
    let path = outcome_path(state, &outcome.task_id, outcome.attempt)?;
    let task_dir = path.parent().unwrap_or(Path::new("."));
    // attempts/ and attempts/<task>/ must be real directories: no write through a link.
    super::dir_below(&attempts_dir(state), 1, false)?;
    let created = create_dirs(state, task_dir)?;
    super::dir_below(task_dir, 2, false)?;
    let mut bytes = serde_json::to_vec_pretty(outcome)
        .map_err(|e| Error::invalid(&path, format!("cannot encode the outcome: {e}")))?;
    bytes.push(b'\n');
    write_atomic(&path, &bytes)?;
    // A new directory's entry lives in its parent: sync that too, deepest first.
    for dir in created.iter().rev() {
        if let Some(parent) = dir.parent() {
            sync_dir(parent)?;
        }
    }
    Ok(path)
}

/// The record of `task_id`'s `attempt`, validated against its schema; `Ok(None)` if there
/// is none. A record whose `task_id` or `attempt` disagrees with its path is an error.
pub fn read_outcome(
    state: &StateDir,
    task_id: &str,
    attempt: u32,
) -> Result<Option<AttemptOutcome>> {
    let path = outcome_path(state, task_id, attempt)?;
    // `attempts/<task>/<n>.json`: never read through a planted link (issue 8).
    let mut bytes = Vec::new();
    match super::open_below(&path, 3, super::Access::Read) {
        Ok(mut f) => std::io::Read::read_to_end(&mut f, &mut bytes)
            .map_err(|e| Error::io(&path, "read", e))?,
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let outcome: AttemptOutcome = parse_json_document(&path, &bytes, SchemaName::AttemptOutcome)?;
    let mismatch = |pointer: &str, found: String, expected: String| Error::Schema {
        path: path.clone(),
        pointer: pointer.into(),
        message: format!("{found} does not match the file's path ({expected})"),
    };
    if outcome.task_id != task_id {
        return Err(mismatch("/task_id", outcome.task_id, task_id.into()));
    }
    if outcome.attempt != attempt {
        let (found, expected) = (outcome.attempt.to_string(), attempt.to_string());
        return Err(mismatch("/attempt", found, expected));
    }
    Ok(Some(outcome))
}

/// Every record present, as `(task, attempt)`, sorted. Names that are not records
/// (temp files, a stray `notes.txt`) are skipped.
pub fn list_outcomes(state: &StateDir) -> Result<Vec<(String, u32)>> {
    list_attempt_records(state, ".json")
}

/// Every `attempts/<task>/<n><suffix>` present, as `(task, n)`, sorted; other names are
/// skipped.
pub(super) fn list_attempt_records(state: &StateDir, suffix: &str) -> Result<Vec<(String, u32)>> {
    let mut found = Vec::new();
    for task_dir in read_dir_or_empty(&attempts_dir(state))? {
        let Some(task) = task_dir.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !is_valid_task_id(task) || !task_dir.is_dir() {
            continue;
        }
        for file in read_dir_or_empty(&task_dir)? {
            let attempt = file
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(suffix))
                .and_then(|n| n.parse::<u32>().ok());
            if let Some(attempt) = attempt.filter(|a| *a > 0) {
                found.push((task.to_string(), attempt));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Deletes a record once the engine has recorded it durably elsewhere; `Ok(false)` if
/// there was none.
pub fn remove_outcome(state: &StateDir, task_id: &str, attempt: u32) -> Result<bool> {
    remove_record(&outcome_path(state, task_id, attempt)?)
}

/// Deletes the record at `path`; `Ok(false)` if there was none.
pub(super) fn remove_record(path: &Path) -> Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(path, "remove", e)),
    }
}

/// Creates `dir` and its missing ancestors inside the state directory; returns the ones it
/// created, outermost first.
pub(super) fn create_dirs(state: &StateDir, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(d) = at.filter(|d| !d.is_dir() && d.starts_with(state.root())) {
        missing.push(d.to_path_buf());
        at = d.parent();
    }
    missing.reverse();
    for d in &missing {
        match std::fs::create_dir(d) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(d, "create directory", e)),
        }
    }
    Ok(missing)
}

pub(super) fn read_dir_or_empty(dir: &Path) -> Result<Vec<PathBuf>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => Ok(entries.flatten().map(|e| e.path()).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io(dir, "list", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(task: &str, attempt: u32) -> AttemptOutcome {
        AttemptOutcome {
            schema_version: 1,
            task_id: task.into(),
            attempt,
            runner: "runner-1@host".into(),
            host: "host".into(),
            pid: Some(1234),
            started_at: "2026-01-02T03:04:05.678Z".into(),
            finished_at: "2026-01-02T03:04:06.000Z".into(),
            duration_ms: 322,
            exit_code: Some(0),
            ..AttemptOutcome::default()
        }
    }

    #[test]
    fn written_records_read_back_list_and_remove() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::new(dir.path().join("st"));
        std::fs::create_dir_all(state.root()).unwrap();
        assert_eq!(list_outcomes(&state).unwrap(), vec![]);
        let path = write_outcome(&state, &outcome("b", 2)).unwrap();
        write_outcome(&state, &outcome("a", 10)).unwrap();
        assert!(path.ends_with("attempts/b/2.json"), "{}", path.display());
        std::fs::write(path.with_file_name(".tmp-1-x"), "junk").unwrap();
        assert_eq!(
            list_outcomes(&state).unwrap(),
            vec![("a".to_string(), 10), ("b".to_string(), 2)]
        );
        assert_eq!(read_outcome(&state, "b", 2).unwrap(), Some(outcome("b", 2)));
        assert_eq!(read_outcome(&state, "b", 3).unwrap(), None);
        // Every field is written, null where unknown: other tools need no defaults.
        let text = std::fs::read_to_string(&path).unwrap();
        for field in [
            "\"signal\": null",
            "\"log_error\": null",
            "\"timed_out\": false",
        ] {
            assert!(text.contains(field), "{field} in {text}");
        }
        assert!(remove_outcome(&state, "b", 2).unwrap());
        assert!(!remove_outcome(&state, "b", 2).unwrap());
    }

    #[test]
    fn a_record_that_breaks_its_schema_or_its_path_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::new(dir.path());
        let path = write_outcome(&state, &outcome("a", 1)).unwrap();
        std::fs::write(&path, r#"{"schema_version":1,"task_id":"a"}"#).unwrap();
        let err = read_outcome(&state, "a", 1).unwrap_err().to_string();
        assert!(err.contains("attempts/a/1.json"), "{err}");
        let moved = serde_json::to_vec(&outcome("a", 7)).unwrap();
        std::fs::write(&path, moved).unwrap();
        let err = read_outcome(&state, "a", 1).unwrap_err().to_string();
        assert!(
            err.contains("/attempt") && err.contains("7 does not match"),
            "{err}"
        );
        assert!(write_outcome(&state, &outcome("../x", 1)).is_err());
    }
}
