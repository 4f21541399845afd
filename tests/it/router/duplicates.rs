//! Same id twice: identical → skipped (moved to rejected/, never deleted), different →
//! rejected; in one batch the first by name wins; and the crash between committing a
//! decision and moving its file.

use phase_coordinator::model::EventType;

use crate::support::router::Bench;

const TASK: &str = r#"{"id":"t1","kind":"shell","command":["true"]}"#;

#[test]
fn an_identical_resubmission_is_skipped_and_kept_in_rejected() {
    let mut b = Bench::new("");
    b.publish("first.json", TASK);
    b.until_idle();
    b.publish("again.json", TASK);
    b.until_idle();

    assert_eq!(b.decisions().decisions.len(), 1);
    assert_eq!(b.ls("tasks"), vec!["t1.json"]);
    assert_eq!(
        b.ls("rejected"),
        vec!["again.json", "again.json.error.json"]
    );
    let note = b.json("rejected/again.json.error.json");
    let msg = note["error"].as_str().unwrap();
    assert!(msg.starts_with("duplicate of accepted task t1"), "{msg}");
    let skipped = b.events_of(EventType::TaskDuplicateSkipped);
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].task_id.as_deref(), Some("t1"));
    assert_eq!(skipped[0].data["rejected_as"], "rejected/again.json");
    assert_eq!(b.events_of(EventType::TaskRouted).len(), 1);
    assert_eq!(b.events_of(EventType::TaskRejected).len(), 0);
}

#[test]
fn the_same_id_with_different_content_is_rejected_naming_the_fields() {
    let mut b = Bench::new("");
    b.publish("first.json", TASK);
    b.until_idle();
    b.publish(
        "other.json",
        r#"{"id":"t1","kind":"shell","command":["false"],"priority":3}"#,
    );
    b.until_idle();

    assert_eq!(b.decisions().decisions.len(), 1);
    assert_eq!(b.decisions().decisions[0].task.command, vec!["true"]);
    let note = b.json("rejected/other.json.error.json");
    let msg = note["error"].as_str().unwrap();
    assert!(
        msg.contains(
            "\"t1\" is already accepted with different content (differs in: command, priority)"
        ),
        "{msg}"
    );
    assert_eq!(note["task_id"], "t1");
    assert_eq!(b.events_of(EventType::TaskRejected).len(), 1);
    assert_eq!(b.events_of(EventType::TaskDuplicateSkipped).len(), 0);
}

#[test]
fn in_one_batch_the_first_file_by_name_wins() {
    let mut b = Bench::new("");
    b.publish("b-copy.json", r#"{"id":"same","kind":"shell"}"#);
    b.publish("a-orig.json", r#"{"id":"same","kind":"shell"}"#);
    b.publish(
        "c-orig.json",
        r#"{"id":"clash","kind":"shell","description":"one"}"#,
    );
    b.publish(
        "d-other.json",
        r#"{"id":"clash","kind":"shell","description":"two"}"#,
    );
    assert!(b.reconcile().idle, "one pass handles the whole batch");

    let d = b.decisions();
    assert_eq!(d.decisions.len(), 2);
    let clash = d.decisions.iter().find(|d| d.task_id == "clash").unwrap();
    assert_eq!(clash.task.description, "one");
    assert_eq!(b.ls("tasks"), vec!["clash.json", "same.json"]);
    assert_eq!(
        b.ls("rejected"),
        vec![
            "b-copy.json",
            "b-copy.json.error.json",
            "d-other.json",
            "d-other.json.error.json"
        ]
    );
    let complete = b.events_of(EventType::RoutingComplete);
    assert_eq!(complete.len(), 1);
    assert_eq!(complete[0].data["routed"], 2);
    assert_eq!(complete[0].data["rejected"], 1);
    assert_eq!(complete[0].data["duplicates"], 1);
}

/// The router committed the decision, then died before the rename: the file is still in
/// the inbox. A restarted router just finishes the move — no second decision, no event.
#[test]
fn a_crash_between_decision_and_move_is_finished_on_restart() {
    let mut b = Bench::new("");
    b.publish("job.json", TASK);
    b.until_idle();
    // Put the file back where the crash would have left it.
    std::fs::rename(b.path("tasks/t1.json"), b.path("inbox/job.json")).unwrap();
    let events_before = b.events().len();

    b.restart("");
    b.until_idle();

    assert_eq!(b.ls("inbox"), Vec::<String>::new());
    assert_eq!(b.ls("tasks"), vec!["t1.json"]);
    assert!(b.ls("rejected").is_empty());
    assert_eq!(b.decisions().decisions.len(), 1);
    let new_events: Vec<_> = b.events().into_iter().skip(events_before).collect();
    assert!(
        new_events.is_empty(),
        "no event for finishing a move: {new_events:?}"
    );

    // Once moved, the same content again is a duplicate.
    b.publish("again.json", TASK);
    b.until_idle();
    assert_eq!(
        b.ls("rejected"),
        vec!["again.json", "again.json.error.json"]
    );
    assert_eq!(b.events_of(EventType::TaskDuplicateSkipped).len(), 1);
}

/// The same recovery when the decision was written by someone else (a hand-made file).
#[test]
fn an_inbox_file_with_a_matching_hand_written_decision_is_just_moved() {
    let mut b = Bench::new("");
    let decisions = serde_json::json!({
        "schema_version": 1,
        "decisions": [{
            "task_id": "t1",
            "task_kind": "shell",
            "selected_tool": "shell",
            "strategy": "fixed",
            "candidates": ["shell"],
            "reason": "routing.default_tool",
            "decided_at": "2026-01-01T00:00:00.000Z",
            "submission_seq": 7,
            "metadata": {},
            "task": {"id": "t1", "kind": "shell", "command": ["true"]}
        }]
    });
    std::fs::write(b.path("routing_decisions.json"), decisions.to_string()).unwrap();
    b.publish("t1.json", TASK);
    b.until_idle();
    assert_eq!(b.ls("tasks"), vec!["t1.json"]);
    assert!(b.ls("rejected").is_empty());
    assert_eq!(b.decisions().decisions.len(), 1);
    assert_eq!(b.events_of(EventType::TaskRouted).len(), 0);
    // The next new task continues the numbering.
    b.publish("t2.json", r#"{"kind":"shell"}"#);
    b.until_idle();
    let seqs: Vec<u64> = b
        .decisions()
        .decisions
        .iter()
        .map(|d| d.submission_seq)
        .collect();
    assert_eq!(seqs, vec![7, 8]);
}
