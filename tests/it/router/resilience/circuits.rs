//! Circuit breakers, fallback on retry, rate-limit cool-downs, and waiting when every
//! candidate is open — with the phases in one process and in three.

use serde_json::json;

use super::{LIMIT, Lab, ns_of};
use crate::support::wait_until;

/// `flaky` first, `steady` second; two tool failures in a row open a circuit for
/// `cooldown_ms` (long enough for the test's steps while it is open, on a loaded machine).
fn fixed(cooldown_ms: u64) -> String {
    format!(
        "[routing]\n[routing.circuit]\nfailures = 2\ncooldown_ms = {cooldown_ms}\n\
         [[routing.rules]]\nkind = \"work\"\ncandidates = [\"flaky\", \"steady\"]\n"
    )
}

#[test]
fn a_failing_tool_opens_its_circuit_later_tasks_avoid_it_and_a_probe_closes_it() {
    let mut lab = Lab::new(&fixed(4000), &[("flaky", ""), ("steady", "")]);
    lab.flag("flaky.down", Some(""));
    lab.start(&[], "engine");
    lab.submit("t1", json!({}));
    lab.submit("t2", json!({}));
    lab.wait_status(&["t1", "t2"], "succeeded");
    // Each failed on flaky and was retried on the next candidate.
    for id in ["t1", "t2"] {
        assert_eq!(lab.attempt_tools(id), ["flaky", "steady"], "{id}");
        let fallback = &lab.decision(id)["fallbacks"][0];
        assert_eq!(
            (&fallback["from"], &fallback["to"]),
            (&json!("flaky"), &json!("steady"))
        );
        let why = fallback["reason"].as_str().unwrap_or_default();
        assert!(
            why.starts_with("attempt 1 on flaky failed: transient"),
            "{why}"
        );
    }
    assert_eq!(lab.circuit_events("flaky"), ["CIRCUIT_OPENED"]);
    let health = lab.health("flaky");
    assert_eq!(health["circuit"], "open", "{health:#}");
    let open_until = ns_of(health["open_until"].as_str().expect("open_until"));

    // While open, a new task goes to steady, saying why flaky was passed over.
    lab.submit("t3", json!({}));
    lab.wait_status(&["t3"], "succeeded");
    let d3 = lab.decision("t3");
    let decided = ns_of(d3["decided_at"].as_str().unwrap_or_default());
    assert!(
        decided < open_until,
        "t3 decided after the cool-down: too slow a machine"
    );
    assert_eq!(d3["selected_tool"], "steady");
    let skipped = &d3["skipped"][0];
    assert_eq!(skipped["tool"], "flaky");
    assert!(
        skipped["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("circuit open until")
    );

    // The tool recovers; after the cool-down one probe goes through and closes it.
    lab.flag("flaky.down", None);
    wait_until("the circuit to half-open", LIMIT, || {
        lab.health("flaky")["circuit"] == "half_open"
    });
    lab.submit("t4", json!({}));
    lab.wait_status(&["t4"], "succeeded");
    assert_eq!(lab.attempt_tools("t4"), ["flaky"]);
    wait_until("the circuit to close", LIMIT, || {
        lab.circuit_events("flaky") == ["CIRCUIT_OPENED", "CIRCUIT_HALF_OPEN", "CIRCUIT_CLOSED"]
    });
    // The events may be flushed (by another phase) before the router's file is written.
    wait_until("tool_health.json to say closed", LIMIT, || {
        lab.health("flaky")["circuit"] == "closed"
    });
    // Nothing ran on flaky while its circuit was open.
    let flaky_runs: Vec<u128> = lab
        .runs()
        .iter()
        .filter(|r| r.who == "flaky")
        .map(|r| r.start_ns)
        .collect();
    let opened_by = lab
        .runs()
        .iter()
        .filter(|r| r.who == "flaky")
        .take(2)
        .filter_map(|r| r.end_ns)
        .max();
    let opened_by = opened_by.expect("two failed runs");
    let during: Vec<&u128> = flaky_runs
        .iter()
        .filter(|&&t| t > opened_by && t < open_until)
        .collect();
    assert!(during.is_empty(), "flaky ran while open: {during:?}");
}

#[test]
fn a_rate_limited_task_is_retried_elsewhere_and_the_tool_gets_nothing_meanwhile() {
    let rule =
        "[routing]\n[[routing.rules]]\nkind = \"work\"\ncandidates = [\"limited\", \"backup\"]\n";
    let mut lab = Lab::new(rule, &[("limited", ""), ("backup", "")]);
    lab.flag("limited.429", Some("2"));
    lab.start(&[], "engine");
    lab.submit("t1", json!({}));
    // As soon as t1 is moved off the refusing tool, more tasks come in.
    let fallback = wait_until("t1 to be moved", LIMIT, || {
        let d = lab.decision("t1");
        (!d["fallbacks"][0].is_null()).then(|| d["fallbacks"][0].clone())
    });
    assert_eq!(
        (&fallback["from"], &fallback["to"]),
        (&json!("limited"), &json!("backup"))
    );
    let why = fallback["reason"].as_str().unwrap_or_default();
    assert!(
        why.starts_with("attempt 1 on limited failed: rate limited"),
        "{why}"
    );
    for id in ["t2", "t3"] {
        lab.submit(id, json!({}));
    }
    lab.wait_status(&["t1", "t2", "t3"], "succeeded");
    assert_eq!(lab.attempt_tools("t1"), ["limited", "backup"]);
    let refused_at = lab.runs()[0].end_ns.expect("the refused run ended");
    let until = refused_at + 2_000_000_000;
    // Decided during the cool-down (as they are unless the machine is very slow): backup,
    // saying why limited was passed over.
    for id in ["t2", "t3"] {
        let d = lab.decision(id);
        if d["decided_at"].as_str().is_some_and(|t| ns_of(t) < until) {
            assert_eq!(d["selected_tool"], "backup", "{d:#}");
            let skipped = d["skipped"][0]["reason"].as_str().unwrap_or_default();
            assert!(skipped.starts_with("cooling down until"), "{d:#}");
        }
    }
    wait_until("the cool-down to end", LIMIT, || {
        lab.health("limited")["cooldown_until"].is_null()
    });
    lab.submit("t4", json!({}));
    lab.wait_status(&["t4"], "succeeded");
    assert_eq!(lab.attempt_tools("t4"), ["limited"]);
    let starts: Vec<u128> = lab
        .runs()
        .iter()
        .filter(|r| r.who == "limited")
        .map(|r| r.start_ns)
        .collect();
    assert!(
        starts
            .iter()
            .all(|&t| t <= refused_at || t >= refused_at + 2_000_000_000),
        "limited got a task within 2 s of its 429: {starts:?} (429 at {refused_at})"
    );
}

#[test]
fn when_every_candidate_is_open_tasks_wait_visibly_then_run_once_one_closes() {
    let rule = "[routing]\n[routing.circuit]\nfailures = 1\ncooldown_ms = 4000\n\
                [[routing.rules]]\nkind = \"work\"\ncandidates = [\"a\", \"b\"]\n\
                [recovery]\nmax_failures = 10\n";
    let mut lab = Lab::new(rule, &[("a", ""), ("b", "")]);
    lab.flag("a.down", Some(""));
    lab.flag("b.down", Some(""));
    lab.start(&[], "engine");
    lab.submit("t1", json!({"max_retries": 10}));
    let waiting = wait_until("t1 to wait", LIMIT, || {
        let d = lab.decision("t1");
        (!d["waiting"].is_null()).then(|| d["waiting"].clone())
    });
    let reason = waiting["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("a: circuit open until") && reason.contains("b: circuit open until"),
        "{reason}"
    );
    assert!(waiting["until"].is_string(), "{waiting:#}");
    lab.submit("t2", json!({"max_retries": 10}));
    wait_until("t2 to wait", LIMIT, || {
        !lab.decision("t2")["waiting"].is_null()
    });
    let status = lab.p.status_json();
    let t2 = status["tasks"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["id"] == "t2"))
        .cloned();
    let detail = t2
        .as_ref()
        .map(|t| t["reason"].to_string())
        .unwrap_or_default();
    assert!(
        detail.contains("waiting") && detail.contains("circuit open until"),
        "{t2:?}"
    );
    let (_, table, _) = lab.p.run(&["status"], LIMIT);
    assert!(table.contains("waiting"), "{table}");
    // b recovers: once its circuit half-opens a probe runs, it closes, and both run.
    lab.flag("b.down", None);
    lab.wait_status(&["t1", "t2"], "succeeded");
    let half_open = lab.p.events_of("CIRCUIT_HALF_OPEN");
    let b_half = half_open
        .iter()
        .find(|e| e["data"]["tool"] == "b")
        .expect("b half-opened");
    let b_half_at = ns_of(b_half["ts"].as_str().unwrap_or_default());
    for id in ["t1", "t2"] {
        let last = lab
            .runs()
            .into_iter()
            .rev()
            .find(|r| r.task == id)
            .expect("ran");
        assert_eq!(
            (last.who.as_str(), last.outcome.as_deref()),
            ("b", Some("ok")),
            "{id}"
        );
        assert!(
            last.start_ns >= b_half_at,
            "{id} ran on b before its circuit half-opened"
        );
    }
    assert!(
        lab.circuit_events("b")
            .contains(&"CIRCUIT_CLOSED".to_string())
    );
}

#[test]
fn router_executor_and_recovery_as_separate_processes_agree_on_circuits() {
    // Open until a person closes it.
    let mut lab = Lab::new(&fixed(600_000), &[("flaky", ""), ("steady", "")]);
    lab.flag("flaky.down", Some(""));
    for phase in ["router", "executor", "recovery"] {
        lab.start(&[phase], phase);
    }
    lab.submit("t1", json!({}));
    lab.submit("t2", json!({}));
    lab.wait_status(&["t1", "t2"], "succeeded");
    wait_until("flaky's circuit to open", LIMIT, || {
        lab.health("flaky")["circuit"] == "open"
    });
    let (code, shown, err) = lab.p.run(&["tools"], LIMIT);
    assert_eq!(code, 0, "{err}");
    let line = shown
        .lines()
        .find(|l| l.trim_start().starts_with("flaky"))
        .unwrap_or_default();
    assert!(line.contains("open") && line.contains(" 2 "), "{shown}");
    // `phase status` names the tool that takes no tasks now, and until when.
    let (code, status, err) = lab.p.run(&["status"], LIMIT);
    assert_eq!(code, 0, "{err}");
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("tool flaky: circuit open until")),
        "{status}"
    );
    assert!(!status.contains("tool steady"), "{status}");
    // While open, the executor runs nothing on flaky: new tasks were routed elsewhere.
    for id in ["t3", "t4"] {
        lab.submit(id, json!({}));
    }
    lab.wait_status(&["t3", "t4"], "succeeded");
    assert_eq!(lab.runs().iter().filter(|r| r.who == "flaky").count(), 2);
    // A person closes the circuit by hand; the router adopts it at once.
    lab.flag("flaky.down", None);
    let (code, out, err) = lab.p.run(&["tools", "reset", "flaky"], LIMIT);
    assert_eq!((code, out.as_str()), (0, "reset: flaky\n"), "{err}");
    lab.submit("t5", json!({}));
    lab.wait_status(&["t5"], "succeeded");
    assert_eq!(lab.attempt_tools("t5"), ["flaky"]);
    let closed = lab.p.events_of("CIRCUIT_CLOSED");
    assert!(
        closed
            .iter()
            .any(|e| e["phase"] == "cli" && e["data"]["tool"] == "flaky"),
        "{closed:?}"
    );
    let (code, _, err) = lab.p.run(&["tools", "reset", "nope"], LIMIT);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no tool named \"nope\""), "{err}");
}
