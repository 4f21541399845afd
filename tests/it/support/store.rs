//! State directories for tests, and state documents read and written through the store as
//! a cooperating tool would (the one place tests use `StateFile`).

use std::path::Path;
use std::time::Duration;

use phase_coordinator::model::{
    AdapterAssignments, Control, ErrorAnalyses, ExecutionResults, FixPatches, RoutingDecisions,
    StateDoc,
};
use phase_coordinator::schema::SchemaName;
use phase_coordinator::store::{LockWait, StateDir, StateFile};
use serde_json::Value;

/// A temp dir holding an initialised state directory at `<tmp>/.state`.
pub(crate) fn temp_state() -> (tempfile::TempDir, StateDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = StateDir::new(dir.path().join(".state"));
    state.ensure_layout().expect("layout");
    (dir, state)
}

/// Reads a state document through the store; it must be valid.
pub(crate) fn read<T: StateDoc>(state: &StateDir) -> T {
    StateFile::<T>::new(state)
        .read()
        .expect("state file is valid")
}

/// Changes a state document under its lock, starting from the newest version.
pub(crate) fn update<T: StateDoc>(state: &StateDir, change: impl FnOnce(&mut T)) {
    let mut file = StateFile::<T>::new(state);
    let mut doc = file.read().expect("state file is valid");
    let mut locked = file
        .lock(LockWait::AtMost(Duration::from_secs(5)))
        .expect("lock");
    if let Some(theirs) = locked.take_external() {
        doc = theirs;
    }
    change(&mut doc);
    locked.commit(&mut doc, "test-run").expect("commit");
}

/// Replaces a state document with `doc`: under the lock, atomically.
pub(crate) fn replace<T: StateDoc>(state: &StateDir, mut doc: T) {
    let mut file = StateFile::<T>::new(state);
    let locked = file.lock(LockWait::Forever).expect("lock");
    locked.commit(&mut doc, "test").expect("commit");
}

/// Every event in `<state>/events.jsonl`; a line that is no JSON (a writer killed
/// mid-line leaves one) is skipped.
pub(crate) fn events(state: &Path) -> Vec<Value> {
    std::fs::read_to_string(state.join("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Every state file and event in `state` is valid against its published schema.
pub(crate) fn assert_valid_state_files(state: &Path) {
    let dir = StateDir::new(state);
    StateFile::<RoutingDecisions>::new(&dir)
        .read()
        .expect("routing_decisions valid");
    StateFile::<AdapterAssignments>::new(&dir)
        .read()
        .expect("adapter_assignments valid");
    StateFile::<ExecutionResults>::new(&dir)
        .read()
        .expect("execution_results valid");
    StateFile::<ErrorAnalyses>::new(&dir)
        .read()
        .expect("error_analysis valid");
    StateFile::<FixPatches>::new(&dir)
        .read()
        .expect("fix_patches valid");
    StateFile::<Control>::new(&dir)
        .read()
        .expect("control valid");
    let log = std::fs::read_to_string(state.join("events.jsonl")).unwrap_or_default();
    for (i, line) in log.lines().enumerate() {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("events line {}: {e}", i + 1));
        SchemaName::Event
            .validate(&v)
            .unwrap_or_else(|e| panic!("events line {} invalid: {e:?}", i + 1));
    }
}

/// Reads a state document through the store; `None` if it cannot be read or is invalid.
pub(crate) fn try_read<T: StateDoc>(state: &StateDir) -> Option<T> {
    StateFile::<T>::new(state).read().ok()
}
