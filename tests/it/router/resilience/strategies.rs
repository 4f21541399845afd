//! The strategies of a routing rule: round_robin, least_loaded, metrics.

use std::collections::BTreeMap;

use serde_json::json;

use super::{LIMIT, Lab};
use crate::support::wait_until;

fn rule(strategy: &str, extra: &str) -> String {
    format!(
        "[routing]\n{extra}\n[[routing.rules]]\nkind = \"work\"\ncandidates = [\"a\", \"b\"]\n\
         strategy = \"{strategy}\"\n"
    )
}

#[test]
fn round_robin_spreads_twenty_tasks_evenly() {
    let lab = Lab::new(&rule("round_robin", ""), &[("a", ""), ("b", "")]);
    let ids: Vec<String> = (0..20).map(|i| format!("t{i:02}")).collect();
    for id in &ids {
        lab.submit(id, json!({}));
    }
    let (code, _, err) = lab.p.run(&["run", "--once"], LIMIT);
    assert_eq!(code, 0, "run --once: {err}");
    let mut decided: BTreeMap<String, usize> = BTreeMap::new();
    for id in &ids {
        let d = lab.decision(id);
        assert_eq!(d["strategy"], "round_robin");
        *decided
            .entry(d["selected_tool"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    let mut ran: BTreeMap<String, usize> = BTreeMap::new();
    for r in lab.runs() {
        *ran.entry(r.who).or_default() += 1;
    }
    let even = BTreeMap::from([("a".to_string(), 10), ("b".to_string(), 10)]);
    assert_eq!(decided, even, "decisions");
    assert_eq!(ran, even, "runs");
}

#[test]
fn least_loaded_fills_free_capacity() {
    let mut lab = Lab::new(
        &rule("least_loaded", ""),
        &[("a", "max_parallel = 1"), ("b", "max_parallel = 3")],
    );
    lab.flag("a.gate", Some(""));
    lab.flag("b.gate", Some(""));
    lab.start(&[], "engine");
    for i in 0..4 {
        lab.submit(&format!("t{i}"), json!({}));
    }
    // Four slots, four tasks: all of them run at once, none waits for a busy tool.
    let running = wait_until("4 tasks running at once", LIMIT, || {
        let runs = lab.runs();
        (runs.len() == 4).then_some(runs)
    });
    let on = |who: &str| running.iter().filter(|r| r.who == who).count();
    assert_eq!((on("a"), on("b")), (1, 3), "{running:?}");
    let d = lab.decision(&running.iter().find(|r| r.who == "b").expect("b").task);
    let scores = d["scores"].as_array().expect("least_loaded records scores");
    assert_eq!(scores.len(), 2, "{d:#}");
    assert!(
        scores[0]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains(" in use"),
        "{d:#}"
    );
    lab.flag("open", Some(""));
    lab.wait_status(&["t0", "t1", "t2", "t3"], "succeeded");
}

#[test]
fn metrics_prefers_the_tool_that_succeeds_and_returns_to_a_recovered_one() {
    // "a" is fast but fails (by the task's own doing: no circuit), "b" slow and sound.
    let metrics = "[routing.metrics]\nwindow = 3\nexplore = 0.34\n";
    let mut lab = Lab::new(&rule("metrics", metrics), &[("a", ""), ("b", "")]);
    lab.flag("a.fail", Some(""));
    lab.flag("b.sleep", Some("0.2"));
    lab.start(&[], "engine");
    let mut n = 0;
    let mut route_one = |lab: &Lab| {
        n += 1;
        let id = format!("t{n:02}");
        lab.submit(&id, json!({"max_retries": 0}));
        wait_until(format!("{id} to end"), LIMIT, || {
            matches!(
                lab.p.status_of(&id).as_deref(),
                Some("succeeded" | "quarantined")
            )
        });
        lab.wait_accounted(&id);
        let d = lab.decision(&id);
        let tool = d["selected_tool"].as_str().unwrap_or_default().to_string();
        let explored = d["scores"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["detail"].as_str().unwrap_or_default().contains("explore"));
        (tool, explored)
    };
    let first: Vec<(String, bool)> = (0..6).map(|_| route_one(&lab)).collect();
    // Untried, "a" is first in the rule; once it failed, "b" wins but for exploring.
    assert_eq!(first[0].0, "a", "{first:?}");
    for (tool, explored) in &first[1..] {
        assert_eq!(
            tool == "a",
            *explored,
            "only exploration picks the failing tool: {first:?}"
        );
    }
    assert!(first.iter().any(|(t, _)| t == "b"), "{first:?}");
    lab.flag("a.fail", None);
    // Explored again, "a" now succeeds, and being faster it wins on its own merit.
    let mut picked = Vec::new();
    let recovered = (0..24).any(|_| {
        let pick = route_one(&lab);
        picked.push(pick.clone());
        let streak = picked
            .iter()
            .rev()
            .take(2)
            .filter(|(t, e)| t == "a" && !e)
            .count();
        streak == 2
    });
    assert!(
        recovered,
        "never returned to the recovered tool: {picked:?}"
    );
}
