//! The log's repairs and its behaviour when an append fails, on real files.

use serde_json::{Value, json};

use super::*;
use crate::store::FileEvents;

fn setup() -> (tempfile::TempDir, StateDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = StateDir::new(dir.path().join(".state"));
    std::fs::create_dir_all(state.root().join("locks")).expect("mkdir");
    (dir, state)
}

fn lines(state: &StateDir) -> Vec<Value> {
    let text = std::fs::read_to_string(state.file(EVENTS_FILE)).expect("read log");
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "no torn line: {text:?}"
    );
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or(Value::Null))
        .collect()
}

fn emit(log: &EventLog, i: u64) {
    log.emit(EventType::RunStarted, "cli", None, None, json!({ "i": i }));
}

#[test]
fn a_torn_last_line_is_cut_off_and_reported_with_its_bytes() {
    let (_dir, state) = setup();
    let log = EventLog::new(&state, "r1");
    emit(&log, 1);
    log.flush().expect("flush");
    let path = state.file(EVENTS_FILE);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open");
    f.write_all(br#"{"ts":"2026-01-01T00:00:00.000Z","seq":2,"ru"#)
        .expect("tear");
    drop(f);
    let restarted = EventLog::new(&state, "r2");
    emit(&restarted, 2);
    restarted.flush().expect("flush");
    let all = lines(&state);
    let seqs: Vec<u64> = all.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert_eq!(seqs, vec![1, 2, 3], "{all:#?}");
    assert_eq!(all[1]["type"], "EVENT_LOG_REPAIRED");
    assert_eq!(all[1]["data"]["problem"], "torn_line");
    assert!(
        all[1]["data"]["fragment"]
            .as_str()
            .is_some_and(|f| f.ends_with("\"ru")),
        "{}",
        all[1]
    );
    assert_eq!(all[2]["data"]["i"], 2);
}

#[test]
fn garbage_at_the_end_is_reported_once_and_numbering_continues() {
    let (_dir, state) = setup();
    let path = state.file(EVENTS_FILE);
    let first = EventLog::new(&state, "r1");
    for i in 0..5 {
        emit(&first, i);
    }
    first.flush().expect("flush");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open");
    f.write_all(b"\x00\x00garbage\n").expect("corrupt");
    drop(f);
    let second = EventLog::new(&state, "r2");
    emit(&second, 5);
    second.flush().expect("flush");
    // A third process reads the tail again: the damage is no longer at the end.
    let third = EventLog::new(&state, "r3");
    emit(&third, 6);
    third.flush().expect("flush");
    let all = lines(&state);
    let seqs: Vec<u64> = all.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5, 6, 7, 8], "never restarts");
    let reports: Vec<&Value> = all
        .iter()
        .filter(|e| e["type"] == "EVENT_LOG_REPAIRED")
        .collect();
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0]["data"]["invalid_lines"], 1);
    assert_eq!(reports[0]["seq"], 6);
}

#[test]
fn a_failed_append_keeps_its_events_in_order_for_the_next_one() {
    let (_dir, state) = setup();
    let log = EventLog::new(&state, "r1");
    emit(&log, 0);
    log.flush().expect("flush");
    // The lock cannot be taken while its path is a directory: every append fails.
    let lock_path = state.lock_path(EVENTS_FILE);
    std::fs::remove_file(&lock_path).expect("rm lock");
    std::fs::create_dir_all(lock_path.join("x")).expect("block the lock");
    emit(&log, 1);
    assert!(log.flush().is_err());
    emit(&log, 2);
    assert!(log.flush().is_err());
    assert_eq!(log.waiting(), 2);
    std::fs::remove_dir_all(&lock_path).expect("unblock");
    emit(&log, 3);
    log.flush().expect("flush works again");
    let is: Vec<u64> = lines(&state)
        .iter()
        .filter_map(|e| e["data"]["i"].as_u64())
        .collect();
    assert_eq!(is, vec![0, 1, 2, 3]);
    assert_eq!(log.waiting(), 0);
}

#[test]
fn broken_files_are_tracked_until_reported_valid() {
    let (_dir, state) = setup();
    let log = EventLog::new(&state, "r");
    let invalid = |phase: &str| {
        log.emit_file_event(
            EventType::StateFileInvalid,
            phase,
            json!({"file": "fix_patches.json", "error": "bad"}),
        );
    };
    invalid("executor");
    invalid("recovery");
    let broken = log.broken_files();
    assert_eq!(broken.len(), 1, "one entry per file");
    assert_eq!(broken[0].error, "bad");
    log.emit_file_event(
        EventType::StateFileRecovered,
        "executor",
        json!({"file": "fix_patches.json"}),
    );
    assert_eq!(log.broken_files().len(), 1, "recovery still sees it broken");
    log.emit_file_event(
        EventType::StateFileRecovered,
        "recovery",
        json!({"file": "fix_patches.json"}),
    );
    assert!(log.broken_files().is_empty());
}
