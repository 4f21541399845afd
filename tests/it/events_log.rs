//! The event log with real processes: four writers appending at once get one gap-free
//! `seq`, numbering survives restarts, a torn last line (cut off and reported) and very
//! long lines.

mod disk_full;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use phase_coordinator::events::{EVENTS_FILE, EventLog};
use phase_coordinator::model::{Event, EventType};
use phase_coordinator::schema::SchemaName;
use phase_coordinator::store::StateDir;
use serde_json::{Value, json};

use crate::support::procs;
use crate::support::store::temp_state;
use crate::test_path;

const EMITTER: &str = "event-emitter";
const PROCESSES: u64 = 4;
const EVENTS_EACH: u64 = 250;

/// Child: 250 events, each emitted and flushed on its own (one locked append each).
#[test]
fn event_emitter_child() {
    if !procs::is_role(EMITTER) {
        return;
    }
    let dir = procs::child_dir();
    let state = StateDir::new(dir.join(".state"));
    let log = EventLog::new(&state, &format!("run-{}", std::process::id()));
    procs::wait_for_file(&dir.join("go"), Duration::from_secs(30));
    for i in 0..EVENTS_EACH {
        log.emit(
            EventType::TaskStarted,
            "executor",
            Some("build-1"),
            Some(1),
            json!({ "i": i }),
        );
        log.flush().expect("flush");
    }
}

/// Every line of the log: `Ok(event)` if it parses and fits the schema, else the line.
fn read_lines(path: &Path) -> Vec<Result<Event, String>> {
    let text = std::fs::read_to_string(path).expect("read events.jsonl");
    assert!(text.ends_with('\n'), "the log must end with a newline");
    text.lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).map_err(|e| format!("{e}: {line}"))?;
            SchemaName::Event
                .validate(&value)
                .map_err(|v| format!("{v:?}: {line}"))?;
            serde_json::from_value(value).map_err(|e| format!("{e}: {line}"))
        })
        .collect()
}

fn valid(lines: &[Result<Event, String>]) -> Vec<&Event> {
    lines.iter().filter_map(|l| l.as_ref().ok()).collect()
}

fn emit_one(log: &EventLog, data: Value) {
    log.emit(EventType::RunStarted, "cli", None, None, data);
    log.flush().expect("flush");
}

#[test]
fn four_processes_get_one_gap_free_sequence_that_survives_restarts_and_torn_lines() {
    if procs::role().is_some() {
        return;
    }
    let (tmp, state) = temp_state();
    let path = state.file(EVENTS_FILE);
    let workers: Vec<_> = (0..PROCESSES)
        .map(|_| procs::Worker::spawn(test_path!(event_emitter_child), EMITTER, tmp.path(), &[]))
        .collect();
    procs::touch(&tmp.path().join("go"));
    for w in workers {
        w.wait_success(Duration::from_secs(60));
    }

    let lines = read_lines(&path);
    let bad: Vec<_> = lines.iter().filter_map(|l| l.as_ref().err()).collect();
    assert!(bad.is_empty(), "invalid lines: {bad:#?}");
    let total = PROCESSES * EVENTS_EACH;
    assert_eq!(lines.len() as u64, total, "line count");
    let events = valid(&lines);
    let mut seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=total).collect::<Vec<_>>(),
        "seq must be 1..={total}, once each"
    );
    assert!(
        events.windows(2).all(|w| w[0].seq < w[1].seq),
        "seq must grow down the file"
    );
    // Each process's events are in its emit order and all there.
    let mut per_run: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for e in &events {
        per_run
            .entry(&e.run_id)
            .or_default()
            .push(e.data["i"].as_u64().expect("data.i"));
    }
    assert_eq!(
        per_run.len() as u64,
        PROCESSES,
        "runs: {:?}",
        per_run.keys()
    );
    for (run, is) in &per_run {
        assert_eq!(*is, (0..EVENTS_EACH).collect::<Vec<_>>(), "events of {run}");
    }

    // A restart: a new log continues the numbering.
    let log = EventLog::new(&state, "restarted");
    emit_one(&log, json!({}));
    let last = read_lines(&path).pop().expect("a line").expect("valid");
    assert_eq!((last.seq, last.run_id.as_str()), (total + 1, "restarted"));

    // A writer died mid-line: half a line, no newline.
    let full = std::fs::read_to_string(&path).expect("read");
    let some_line = full.lines().next().expect("a line");
    let fragment = &some_line[..some_line.len() / 2];
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open for append");
    f.write_all(fragment.as_bytes()).expect("append fragment");
    drop(f);

    // The same process writes on (its cached end is stale now), then another restart.
    emit_one(&log, json!({ "after": "fragment" }));
    emit_one(&EventLog::new(&state, "restarted-again"), json!({}));

    // The fragment is cut off, not kept as a line that is not an event: every line is
    // valid, and an EVENT_LOG_REPAIRED event holds the fragment and says where it was.
    let lines = read_lines(&path);
    let bad: Vec<_> = lines.iter().filter_map(|l| l.as_ref().err()).collect();
    assert!(bad.is_empty(), "invalid lines after the repair: {bad:#?}");
    let events = valid(&lines);
    let n = events.len();
    assert_eq!(n as u64, total + 4, "one repair report, two new events");
    let repair = events[n - 3];
    assert_eq!(repair.kind, EventType::EventLogRepaired);
    assert_eq!(repair.data["problem"], "torn_line");
    assert_eq!(
        repair.data["fragment"], fragment,
        "the fragment is kept in the report"
    );
    let tail: Vec<u64> = events[n - 3..].iter().map(|e| e.seq).collect();
    assert_eq!(
        tail,
        vec![total + 2, total + 3, total + 4],
        "numbering goes on after the torn line"
    );
    assert_eq!(events[n - 2].data["after"], "fragment");
}

/// A line longer than the tail window the log reads back must not reset the numbering.
#[test]
fn a_very_long_last_line_does_not_reset_the_numbering() {
    if procs::role().is_some() {
        return;
    }
    let (_tmp, state) = temp_state();
    let path = state.file(EVENTS_FILE);
    emit_one(&EventLog::new(&state, "first"), json!({}));
    emit_one(
        &EventLog::new(&state, "big"),
        json!({ "stderr": "x".repeat(300 * 1024) }),
    );
    emit_one(&EventLog::new(&state, "after-restart"), json!({}));

    let seqs: Vec<u64> = valid(&read_lines(&path)).iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3]);
}
