//! The write protocol under contention, with real processes: eight writers each do 200
//! locked read-modify-write increments of one counter in `execution_results.json` while a
//! reader without a lock checks every version it sees against the schema.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use phase_coordinator::model::{ExecutionResults, StateDoc, Status, TaskResult};
use phase_coordinator::store::{LockWait, StateDir, StateFile, parse_state_document};

use crate::support::procs;
use crate::test_path;

const WRITERS: u32 = 8;
const INCREMENTS: u32 = 200;
const ROLE: &str = "counter-writer";
const COUNTER_TASK: &str = "counter";

/// The counter is the `attempt` of the single result.
fn counter_doc(value: u32) -> ExecutionResults {
    ExecutionResults {
        results: vec![TaskResult {
            task_id: COUNTER_TASK.to_string(),
            tool_id: "counter-tool".to_string(),
            attempt: value,
            status: Status::Running,
            started_at: "2026-01-01T00:00:00.000Z".to_string(),
            ..TaskResult::default()
        }],
        ..ExecutionResults::default()
    }
}

fn counter_of(doc: &ExecutionResults) -> Result<u32, String> {
    match doc.results.as_slice() {
        [only] if only.task_id == COUNTER_TASK => Ok(only.attempt),
        other => Err(format!(
            "expected one result {COUNTER_TASK:?}, got {other:?}"
        )),
    }
}

/// Child: increments the counter `INCREMENTS` times through the protocol, noticing other
/// writers' versions the way a phase does (an unlocked `read_if_changed`, then the
/// external version handed over by `lock`).
#[test]
fn counter_writer_child() {
    if !procs::is_role(ROLE) {
        return;
    }
    let state = StateDir::new(procs::child_dir().join(".state"));
    let run_id = format!("counter-writer-{}", std::process::id());
    let mut file = StateFile::<ExecutionResults>::new(&state);
    let mut doc = file.read().expect("first read");
    procs::wait_for_file(&procs::child_dir().join("go"), Duration::from_secs(30));
    for i in 0..INCREMENTS {
        if let Some(newer) = file.read_if_changed().expect("unlocked read_if_changed") {
            doc = newer;
        }
        let mut locked = file.lock(LockWait::Forever).expect("lock");
        if let Some(newer) = locked.take_external() {
            doc = newer;
        }
        let before = counter_of(&doc).unwrap_or_else(|e| panic!("increment {i}: {e}"));
        doc.results[0].attempt = before + 1;
        locked.commit(&mut doc, &run_id).expect("commit");
    }
}

/// What the lock-free reader saw.
#[derive(Debug, Default)]
struct ReaderReport {
    reads: u64,
    last_value: u32,
    errors: Vec<String>,
}

/// Reads, parses and schema-validates the file until `stop`, checking the counter never
/// goes back (every version a reader can see is a committed one).
fn read_continuously(path: &Path, stop: &AtomicBool) -> ReaderReport {
    let mut report = ReaderReport::default();
    while !stop.load(Ordering::Relaxed) && report.errors.len() < 5 {
        let seen = std::fs::read(path)
            .map_err(|e| format!("read {}: {e}", path.display()))
            .and_then(|bytes| {
                parse_state_document::<ExecutionResults>(path, &bytes).map_err(|e| {
                    format!("{e}\n--- content ---\n{}", String::from_utf8_lossy(&bytes))
                })
            })
            .and_then(|doc| counter_of(&doc));
        report.reads += 1;
        match seen {
            Ok(v) if v < report.last_value => report.errors.push(format!(
                "counter went back from {} to {v} (read {})",
                report.last_value, report.reads
            )),
            Ok(v) => report.last_value = v,
            Err(e) => report.errors.push(format!("read {}: {e}", report.reads)),
        }
    }
    report
}

#[test]
fn eight_processes_increment_one_counter_without_losing_an_update() {
    if procs::role().is_some() {
        return;
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = StateDir::new(tmp.path().join(".state"));
    state.ensure_layout().expect("layout");
    let mut file = StateFile::<ExecutionResults>::new(&state);
    let locked = file.lock(LockWait::Forever).expect("lock");
    locked
        .commit(&mut counter_doc(0), "parent")
        .expect("initial commit");
    let path = state.file(ExecutionResults::FILE);

    let workers: Vec<_> = (0..WRITERS)
        .map(|_| procs::Worker::spawn(test_path!(counter_writer_child), ROLE, tmp.path(), &[]))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (path, stop) = (path.clone(), Arc::clone(&stop));
        thread::spawn(move || read_continuously(&path, &stop))
    };
    procs::touch(&tmp.path().join("go"));
    for w in workers {
        w.wait_success(Duration::from_secs(60));
    }
    stop.store(true, Ordering::Relaxed);
    let report = reader.join().expect("reader thread panicked");

    let bytes = std::fs::read(&path).expect("read final file");
    let final_doc = parse_state_document::<ExecutionResults>(&path, &bytes)
        .unwrap_or_else(|e| panic!("final file invalid: {e}"));
    let final_value = counter_of(&final_doc).expect("final counter");
    eprintln!(
        "{} increments by {WRITERS} processes in {:?}; reader made {} reads",
        WRITERS * INCREMENTS,
        started.elapsed(),
        report.reads
    );
    assert!(
        report.errors.is_empty(),
        "the lock-free reader saw bad versions:\n{}",
        report.errors.join("\n")
    );
    assert_eq!(
        final_value,
        WRITERS * INCREMENTS,
        "lost updates: {} of {} increments survived",
        final_value,
        WRITERS * INCREMENTS
    );
    assert!(
        report.reads >= 100,
        "the reader ran only {} times: it did not watch the writers",
        report.reads
    );
    assert!(
        report.last_value > 0,
        "the reader never saw a writer's version"
    );
    let leftovers: Vec<_> = std::fs::read_dir(state.root())
        .expect("list state dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temp files left behind: {leftovers:?}"
    );
}
