//! Routing rules: explicit tool, rules with candidates and health, default tool, and the
//! rejections when no tool fits. Real files, real health-check processes.

use std::fs::File;
use std::time::{Duration, SystemTime};

use phase_coordinator::model::EventType;
use phase_coordinator::phase::Phase;

use crate::support::router::Bench;

const CONFIG: &str = r#"
[routing]
default_tool = "shell"

[[routing.rules]]
kind = "lint"
candidates = ["missing", "broken", "linter", "shell"]

[[routing.rules]]
kind = "doc"
candidates = ["missing", "broken"]

[tools.shell]
command = ["{command}"]

[tools.missing]
command = ["no-such-linter-xyz", "{files}"]

[tools.broken]
command = ["{command}"]
health_check = ["sh", "-c", "exit 3"]

[tools.linter]
command = ["sh", "-c", "true"]
kinds = ["lint"]
health_check = ["true"]

[tools.py]
command = ["{command}"]
kinds = ["python"]
"#;

fn decision_of<'a>(
    d: &'a phase_coordinator::model::RoutingDecisions,
    id: &str,
) -> &'a phase_coordinator::model::RoutingDecision {
    d.decisions
        .iter()
        .find(|d| d.task_id == id)
        .unwrap_or_else(|| panic!("no decision for {id}"))
}

#[test]
fn the_router_is_named_and_wakes_on_its_inputs_only() {
    let b = Bench::new(CONFIG);
    assert_eq!(b.router.name(), "router");
    let wakes_on = b.router.wakes_on();
    assert!(wakes_on("inbox/a.json".as_ref()));
    assert!(wakes_on("routing_decisions.json".as_ref()));
    assert!(wakes_on("adapter_assignments.json".as_ref()));
    // The attempts its circuits follow, and its own tool_health.json.
    assert!(wakes_on("execution_results.json".as_ref()));
    assert!(wakes_on("tool_health.json".as_ref()));
    assert!(!wakes_on("fix_patches.json".as_ref()));
}

#[test]
fn explicit_tool_rule_and_default_each_decide() {
    let mut b = Bench::new(CONFIG);
    b.publish(
        "p.json",
        r#"{"kind":"python","tool":"py","command":["python3","-V"]}"#,
    );
    b.publish(
        "l.json",
        r#"{"kind":"lint","command":["true"],"metadata":{"team":"a"}}"#,
    );
    b.publish("x.json", r#"{"kind":"build","command":["make"]}"#);
    b.until_idle();

    let d = b.decisions();
    let p = decision_of(&d, "p");
    assert_eq!(
        (p.selected_tool.as_str(), p.reason.as_str()),
        ("py", "task.tool")
    );
    assert_eq!(p.candidates, vec!["py"]);

    let l = decision_of(&d, "l");
    assert_eq!(l.selected_tool, "linter");
    assert_eq!(l.reason, "routing.rules[0]");
    assert_eq!(l.strategy, "fixed");
    assert_eq!(l.candidates, vec!["missing", "broken", "linter", "shell"]);
    assert_eq!(l.task_kind, "lint");
    assert_eq!(l.metadata.get("team").and_then(|v| v.as_str()), Some("a"));
    assert_eq!(l.task.id.as_deref(), Some("l"));
    let skipped: Vec<(&str, &str)> = l
        .skipped
        .iter()
        .map(|s| (s.tool.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert_eq!(skipped[0].0, "missing");
    assert!(
        skipped[0]
            .1
            .contains("\"no-such-linter-xyz\" not found on PATH"),
        "{skipped:?}"
    );
    assert_eq!(skipped[1].0, "broken");
    assert!(
        skipped[1].1.contains("health check") && skipped[1].1.contains("exit code 3"),
        "{skipped:?}"
    );

    let x = decision_of(&d, "x");
    assert_eq!(
        (x.selected_tool.as_str(), x.reason.as_str()),
        ("shell", "routing.default_tool")
    );

    assert_eq!(b.ls("tasks"), vec!["l.json", "p.json", "x.json"]);
    assert!(b.ls("inbox").is_empty());
    let routed = b.events_of(EventType::TaskRouted);
    assert_eq!(routed.len(), 3);
    let l_event = routed
        .iter()
        .find(|e| e.task_id.as_deref() == Some("l"))
        .expect("TASK_ROUTED l");
    assert_eq!(l_event.data["tool"], "linter");
    assert_eq!(l_event.data["rule"], "routing.rules[0]");
    let complete = b.events_of(EventType::RoutingComplete);
    assert_eq!(complete.len(), 1);
    assert_eq!(complete[0].data["routed"], 3);
    assert_eq!(complete[0].data["rejected"], 0);
}

#[test]
fn no_usable_tool_rejects_with_a_note_naming_kind_and_candidates() {
    let mut b = Bench::new(CONFIG);
    b.publish("d.json", r#"{"kind":"doc","command":["true"]}"#);
    b.publish("u.json", r#"{"kind":"build","tool":"nope"}"#);
    b.publish("k.json", r#"{"kind":"build","tool":"py"}"#);
    b.until_idle();

    assert!(
        !b.path("routing_decisions.json").exists(),
        "nothing was routed"
    );
    assert_eq!(
        b.ls("rejected"),
        vec![
            "d.json",
            "d.json.error.json",
            "k.json",
            "k.json.error.json",
            "u.json",
            "u.json.error.json"
        ]
    );
    let d = b.json("rejected/d.json.error.json");
    let msg = d["error"].as_str().unwrap();
    assert!(
        msg.contains("kind \"doc\"") && msg.contains("routing.rules[1]"),
        "{msg}"
    );
    assert!(
        msg.contains("missing (") && msg.contains("broken (health check"),
        "{msg}"
    );
    assert_eq!(d["file"], "d.json");
    assert_eq!(d["task_id"], "d");
    assert!(d["rejected_at"].is_string());

    let u = b.json("rejected/u.json.error.json");
    let msg = u["error"].as_str().unwrap();
    assert!(
        msg.starts_with("task.tool: no tool named \"nope\" in [tools]"),
        "{msg}"
    );
    let k = b.json("rejected/k.json.error.json");
    let msg = k["error"].as_str().unwrap();
    assert!(
        msg.contains("tool \"py\" does not accept kind \"build\""),
        "{msg}"
    );

    assert_eq!(b.events_of(EventType::TaskRejected).len(), 3);
    assert_eq!(b.events_of(EventType::TaskRouted).len(), 0);
}

#[test]
fn a_default_tool_that_refuses_the_kind_is_no_tool() {
    let config = r#"
[routing]
default_tool = "py"
[tools.py]
command = ["{command}"]
kinds = ["python"]
"#;
    let mut b = Bench::new(config);
    b.publish("a.json", r#"{"kind":"build"}"#);
    b.until_idle();
    let note = b.json("rejected/a.json.error.json");
    let msg = note["error"].as_str().unwrap();
    assert!(
        msg.contains("kind \"build\" (routing.default_tool)")
            && msg.contains("py (does not accept kind"),
        "{msg}"
    );
}

#[test]
fn submission_order_follows_mtime_then_name_and_continues_across_batches() {
    let mut b = Bench::new(CONFIG);
    let base = SystemTime::now() - Duration::from_secs(60);
    for (name, age) in [("a.json", 1), ("b.json", 3), ("c.json", 2), ("d.json", 2)] {
        let tmp = b.path(&format!("inbox/.{name}.tmp"));
        std::fs::write(&tmp, r#"{"kind":"build"}"#).unwrap();
        File::options()
            .write(true)
            .open(&tmp)
            .unwrap()
            .set_modified(base - Duration::from_secs(age))
            .unwrap();
        std::fs::rename(&tmp, b.path(&format!("inbox/{name}"))).unwrap();
    }
    b.until_idle();
    b.publish("e.json", r#"{"kind":"build"}"#);
    b.until_idle();
    let order: Vec<(String, u64)> = b
        .decisions()
        .decisions
        .iter()
        .map(|d| (d.task_id.clone(), d.submission_seq))
        .collect();
    let expected = [("b", 1), ("c", 2), ("d", 3), ("a", 4), ("e", 5)];
    let expected: Vec<(String, u64)> = expected.iter().map(|(i, s)| (i.to_string(), *s)).collect();
    assert_eq!(order, expected);
}

#[test]
fn adapter_assignments_list_tools_health_and_tasks() {
    let mut b = Bench::new(CONFIG);
    b.publish("l.json", r#"{"kind":"lint"}"#);
    b.publish("x.json", r#"{"kind":"build"}"#);
    b.publish("y.json", r#"{"kind":"build"}"#);
    b.until_idle();
    let a = b.json("adapter_assignments.json");
    let adapters = &a["adapters"];
    assert_eq!(adapters["shell"]["task_ids"], serde_json::json!(["x", "y"]));
    assert_eq!(adapters["linter"]["task_ids"], serde_json::json!(["l"]));
    assert_eq!(
        adapters["linter"]["command"],
        serde_json::json!(["sh", "-c", "true"])
    );
    assert_eq!(adapters["linter"]["kinds"], serde_json::json!(["lint"]));
    assert_eq!(adapters["broken"]["healthy"], false);
    assert!(
        adapters["broken"]["health_note"]
            .as_str()
            .unwrap()
            .contains("exit code 3")
    );
    assert_eq!(adapters["missing"]["healthy"], false);
    assert_eq!(adapters["py"]["task_ids"], serde_json::json!([]));
    assert_eq!(a["schema_version"], 1);
}
