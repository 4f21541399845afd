//! Details of the atomic write and of change detection: file mode, no temp files left,
//! `read_if_changed` against our own, another process's and a person's writes, and broken
//! files reported precisely and never overwritten.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use phase_coordinator::Error;
use phase_coordinator::model::{ExecutionResults, StateDoc, Status, TaskResult};
use phase_coordinator::store::{LockWait, StateDir, StateFile, write_atomic};

use crate::support::procs;
use crate::support::store::temp_state;
use crate::test_path;

const COMMITTER: &str = "committer";
const VALUE_VAR: &str = "PHASE_TEST_VALUE";

fn doc_with(attempt: u32) -> ExecutionResults {
    ExecutionResults {
        results: vec![TaskResult {
            task_id: "build-1".to_string(),
            attempt,
            status: Status::Running,
            ..TaskResult::default()
        }],
        ..ExecutionResults::default()
    }
}

fn attempt_of(doc: &ExecutionResults) -> u32 {
    doc.results.first().map_or(0, |r| r.attempt)
}

fn commit(file: &mut StateFile<ExecutionResults>, attempt: u32) {
    let locked = file.lock(LockWait::Forever).expect("lock");
    locked
        .commit(&mut doc_with(attempt), "parent")
        .expect("commit");
}

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("list")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-"))
        .collect()
}

/// Child: one commit through the protocol, setting `attempt` to `PHASE_TEST_VALUE`.
#[test]
fn committer_child() {
    if !procs::is_role(COMMITTER) {
        return;
    }
    let state = StateDir::new(procs::child_dir().join(".state"));
    let value: u32 = procs::child_env(VALUE_VAR).parse().expect("value");
    let mut file = StateFile::<ExecutionResults>::new(&state);
    let mut locked = file.lock(LockWait::Forever).expect("lock");
    let mut doc = locked.take_external().expect("first lock reports the file");
    doc.results[0].attempt = value;
    locked.commit(&mut doc, "committer").expect("commit");
}

#[test]
fn write_atomic_publishes_mode_0644_and_leaves_no_temp_file() {
    if procs::role().is_some() {
        return;
    }
    let (_tmp, state) = temp_state();
    let target = state.file("plain.json");
    std::fs::write(&target, b"old").expect("write old");
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let old_ino = std::fs::metadata(&target).expect("stat").ino();

    write_atomic(&target, b"{\"new\": true}\n").expect("write_atomic");

    let meta = std::fs::metadata(&target).expect("stat");
    assert_eq!(meta.permissions().mode() & 0o777, 0o644, "mode");
    assert_ne!(meta.ino(), old_ino, "replaced in place instead of renamed");
    assert_eq!(std::fs::read(&target).expect("read"), b"{\"new\": true}\n");
    assert_eq!(temp_files(state.root()), Vec::<String>::new());

    let mut file = StateFile::<ExecutionResults>::new(&state);
    commit(&mut file, 1);
    let meta = std::fs::metadata(file.path()).expect("stat");
    assert_eq!(meta.permissions().mode() & 0o777, 0o644, "committed mode");
    assert_eq!(temp_files(state.root()), Vec::<String>::new());
}

#[test]
fn read_if_changed_ignores_own_commits_and_sees_other_processes_and_people() {
    if procs::role().is_some() {
        return;
    }
    let (tmp, state) = temp_state();
    let mut file = StateFile::<ExecutionResults>::new(&state);
    commit(&mut file, 1);
    assert_eq!(file.read_if_changed().expect("read"), None, "own commit");
    assert_eq!(
        file.read_if_changed().expect("read"),
        None,
        "own commit, again"
    );

    let child = procs::Worker::spawn(
        test_path!(committer_child),
        COMMITTER,
        tmp.path(),
        &[(VALUE_VAR, "7".to_string())],
    );
    child.wait_success(Duration::from_secs(30));
    let theirs = file
        .read_if_changed()
        .expect("read")
        .expect("another process's commit");
    assert_eq!(attempt_of(&theirs), 7);
    assert_eq!(file.read_if_changed().expect("read"), None, "seen already");

    // A person rewrites the file in place, same size, right after a commit — within the
    // same second and usually within the same clock tick.
    let mut same_second = 0;
    for round in 0..20u32 {
        let ours = 10 + 2 * round;
        let person = ours + 1;
        commit(&mut file, ours);
        let before = std::fs::metadata(file.path()).expect("stat");
        let text = std::fs::read_to_string(file.path()).expect("read");
        let edited = text.replace(
            &format!("\"attempt\": {ours},"),
            &format!("\"attempt\": {person},"),
        );
        assert_ne!(
            edited, text,
            "round {round}: the edit found nothing to change"
        );
        std::fs::write(file.path(), &edited).expect("person's edit");
        let after = std::fs::metadata(file.path()).expect("stat");
        assert_eq!(after.ino(), before.ino(), "the edit must be in place");
        assert_eq!(after.len(), before.len(), "the edit must keep the size");
        same_second += usize::from(after.mtime() == before.mtime());
        let seen = file
            .read_if_changed()
            .expect("read")
            .unwrap_or_else(|| panic!("round {round}: a person's same-size edit went unseen"));
        assert_eq!(attempt_of(&seen), person, "round {round}");
        assert_eq!(file.read_if_changed().expect("read"), None, "round {round}");
    }
    assert!(same_second > 0, "no edit fell in the second of its commit");

    // Rewriting identical bytes is no change.
    let bytes = std::fs::read(file.path()).expect("read");
    std::fs::write(file.path(), &bytes).expect("rewrite");
    assert_eq!(
        file.read_if_changed().expect("read"),
        None,
        "identical rewrite"
    );
}

#[test]
fn a_syntax_error_names_file_line_and_column_and_the_file_is_never_overwritten() {
    if procs::role().is_some() {
        return;
    }
    let (_tmp, state) = temp_state();
    let mut file = StateFile::<ExecutionResults>::new(&state);
    commit(&mut file, 1);
    let broken =
        "{\n  \"results\": [\n    {\"task_id\": \"build-1\",, \"status\": \"running\"}\n  ]\n}\n";
    std::fs::write(file.path(), broken).expect("break the file");

    let err = file
        .read_if_changed()
        .expect_err("a broken file is an error");
    match &err {
        Error::Syntax {
            path, line, column, ..
        } => {
            assert_eq!(path, file.path());
            assert_eq!(*line, 3, "{err}");
            assert_eq!(*column, 27, "{err}"); // the second comma
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
    let prefix = format!("{}:3:27: ", file.path().display());
    assert!(err.to_string().starts_with(&prefix), "message: {err}");
    assert_refuses_to_overwrite(&mut file, broken);
}

#[test]
fn a_schema_violation_names_file_and_json_pointer_and_the_file_is_never_overwritten() {
    if procs::role().is_some() {
        return;
    }
    let (_tmp, state) = temp_state();
    let mut file = StateFile::<ExecutionResults>::new(&state);
    commit(&mut file, 1);
    let broken = "{\"results\": [{\"task_id\": \"build-1\", \"status\": \"exploded\"}]}\n";
    std::fs::write(file.path(), broken).expect("break the file");

    let err = file.read().expect_err("a schema violation is an error");
    match &err {
        Error::Schema { path, pointer, .. } => {
            assert_eq!(path, file.path());
            assert_eq!(pointer, "/results/0/status", "{err}");
        }
        other => panic!("expected a schema error, got {other:?}"),
    }
    let prefix = format!("{}: /results/0/status: ", file.path().display());
    assert!(err.to_string().starts_with(&prefix), "message: {err}");
    assert_refuses_to_overwrite(&mut file, broken);
}

/// `lock` must fail on the broken file (every wait mode), leave it byte for byte, and
/// work again once a person repairs it.
fn assert_refuses_to_overwrite(file: &mut StateFile<ExecutionResults>, broken: &str) {
    let err = file
        .try_lock()
        .expect_err("try_lock must refuse a broken file");
    assert!(err.is_content_error(), "try_lock: {err}");
    for wait in [LockWait::Forever, LockWait::AtMost(Duration::from_secs(1))] {
        let err = file.lock(wait).expect_err("lock must refuse a broken file");
        assert!(err.is_content_error(), "{wait:?}: {err}");
    }
    assert_eq!(
        std::fs::read_to_string(file.path()).expect("read"),
        broken,
        "the broken file was changed"
    );

    let mut repaired = doc_with(5);
    repaired.stamp("person");
    let text = serde_json::to_string_pretty(&repaired).expect("serialise");
    std::fs::write(file.path(), text).expect("repair");
    let mut locked = file.try_lock().expect("lock").expect("free");
    let external = locked
        .take_external()
        .expect("the repair is someone else's version");
    assert_eq!(attempt_of(&external), 5);
    locked
        .commit(&mut doc_with(6), "parent")
        .expect("commit after repair");
}
