//! Hand edits of the router's output files: a broken `routing_decisions.json` stops
//! routing (reported once, never overwritten) until it is fixed; a valid edit is adopted
//! and never reverted.

use phase_coordinator::model::EventType;

use crate::support::router::Bench;

const CONFIG: &str = r#"
[tools.shell]
command = ["{command}"]
[tools.other]
command = ["{command}"]
"#;

#[test]
fn a_broken_decisions_file_is_reported_once_never_overwritten_and_routing_resumes_when_fixed() {
    let mut b = Bench::new(CONFIG);
    b.publish("a.json", r#"{"kind":"shell"}"#);
    b.until_idle();
    let good = std::fs::read_to_string(b.path("routing_decisions.json")).unwrap();

    let broken = good.replacen("\"decisions\": [", "\"decisions\": [,", 1);
    std::fs::write(b.path("routing_decisions.json"), &broken).unwrap();
    b.publish("n.json", r#"{"kind":"shell"}"#);
    for _ in 0..5 {
        let outcome = b.reconcile();
        assert!(
            outcome.idle,
            "nothing the router can do while the file is broken"
        );
    }
    assert_eq!(
        std::fs::read_to_string(b.path("routing_decisions.json")).unwrap(),
        broken
    );
    assert_eq!(
        b.ls("inbox"),
        vec!["n.json"],
        "no routing while the decisions file is broken"
    );
    let invalid = b.events_of(EventType::StateFileInvalid);
    assert_eq!(invalid.len(), 1, "once per distinct content: {invalid:?}");
    assert!(
        invalid[0].data["file"]
            .as_str()
            .unwrap()
            .ends_with("routing_decisions.json")
    );
    let msg = invalid[0].data["error"].as_str().unwrap();
    assert!(
        msg.contains("routing_decisions.json:") && msg.contains("invalid JSON"),
        "{msg}"
    );

    // Broken differently (valid JSON, wrong shape): reported again, naming the field.
    std::fs::write(b.path("routing_decisions.json"), r#"{"decisions": 5}"#).unwrap();
    b.reconcile();
    b.reconcile();
    let invalid = b.events_of(EventType::StateFileInvalid);
    assert_eq!(invalid.len(), 2);
    assert!(
        invalid[1].data["error"]
            .as_str()
            .unwrap()
            .contains("/decisions"),
        "{:?}",
        invalid[1]
    );

    std::fs::write(b.path("routing_decisions.json"), &good).unwrap();
    b.until_idle();
    assert_eq!(b.ls("inbox"), Vec::<String>::new());
    let ids: Vec<String> = b
        .decisions()
        .decisions
        .iter()
        .map(|d| d.task_id.clone())
        .collect();
    assert_eq!(ids, vec!["a", "n"]);
    assert_eq!(b.events_of(EventType::StateFileRecovered).len(), 1);
}

#[test]
fn a_broken_file_at_startup_is_reported_and_left_alone() {
    let mut b = Bench::new(CONFIG);
    std::fs::write(b.path("routing_decisions.json"), "garbage").unwrap();
    b.publish("a.json", r#"{"kind":"shell"}"#);
    b.until_idle();
    b.until_idle();
    assert_eq!(
        std::fs::read_to_string(b.path("routing_decisions.json")).unwrap(),
        "garbage"
    );
    assert_eq!(b.ls("inbox"), vec!["a.json"]);
    assert_eq!(b.events_of(EventType::StateFileInvalid).len(), 1);
}

#[test]
fn a_hand_edited_decision_is_adopted_and_never_reverted() {
    let mut b = Bench::new(CONFIG);
    b.publish("a.json", r#"{"kind":"shell"}"#);
    b.until_idle();

    // A person re-routes task a and adds a decision of their own.
    let mut doc = b.json("routing_decisions.json");
    doc["decisions"][0]["selected_tool"] = "other".into();
    let mut extra = doc["decisions"][0].clone();
    extra["task_id"] = "manual".into();
    extra["task"]["id"] = "manual".into();
    extra["submission_seq"] = 40.into();
    doc["decisions"].as_array_mut().unwrap().push(extra);
    std::fs::write(
        b.path("routing_decisions.json"),
        serde_json::to_string_pretty(&doc).unwrap(),
    )
    .unwrap();
    b.until_idle();

    b.publish("b.json", r#"{"kind":"shell"}"#);
    b.until_idle();

    let d = b.decisions();
    let summary: Vec<(&str, &str, u64)> = d
        .decisions
        .iter()
        .map(|d| {
            (
                d.task_id.as_str(),
                d.selected_tool.as_str(),
                d.submission_seq,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("a", "other", 1),
            ("manual", "other", 40),
            ("b", "shell", 41)
        ]
    );
    let a = b.json("adapter_assignments.json");
    assert_eq!(
        a["adapters"]["other"]["task_ids"],
        serde_json::json!(["a", "manual"])
    );
    assert_eq!(a["adapters"]["shell"]["task_ids"], serde_json::json!(["b"]));
    assert_eq!(b.events_of(EventType::StateFileInvalid).len(), 0);
}

#[test]
fn a_broken_assignments_file_is_reported_and_not_overwritten() {
    let mut b = Bench::new(CONFIG);
    b.until_idle();
    std::fs::write(b.path("adapter_assignments.json"), "{").unwrap();
    b.publish("a.json", r#"{"kind":"shell"}"#);
    b.until_idle();
    assert_eq!(
        b.ls("tasks"),
        vec!["a.json"],
        "routing goes on: the file is only a view"
    );
    assert_eq!(
        std::fs::read_to_string(b.path("adapter_assignments.json")).unwrap(),
        "{"
    );
    assert_eq!(b.events_of(EventType::StateFileInvalid).len(), 1);
}
