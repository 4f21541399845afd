//! `phase retry`'s plan against hand-written expectations: what is refused, what must be
//! retried first, and what `--with-deps` asks for.

use serde_json::{Value, json};

use super::facts::Facts;
use super::retry::{RetryPlan, plan_retry};
use super::stage::Stage;

/// Facts from `(id, depends_on)` decisions, `(id, status, attempt)` results and inbox ids.
fn facts(decided: &[(&str, &[&str])], results: &[(&str, &str, u32)], inbox: &[&str]) -> Facts {
    let decisions: Vec<Value> = decided
        .iter()
        .map(|(id, deps)| json!({"task_id": id, "task": {"depends_on": deps}}))
        .collect();
    let results: Vec<Value> = results
        .iter()
        .map(|(id, status, attempt)| json!({"task_id": id, "status": status, "attempt": attempt}))
        .collect();
    Facts {
        decisions: serde_json::from_value(json!({ "decisions": decisions })).expect("decisions"),
        results: serde_json::from_value(json!({ "results": results })).expect("results"),
        inbox: inbox
            .iter()
            .map(|id| format!("/state/inbox/{id}.json").into())
            .collect(),
        ..Facts::default()
    }
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// x → d → e, with e quarantined and the others `dep_failed`.
fn chain() -> Facts {
    facts(
        &[("x", &["d"]), ("d", &["e"]), ("e", &[])],
        &[
            ("e", "quarantined", 3),
            ("d", "dep_failed", 0),
            ("x", "dep_failed", 0),
        ],
        &[],
    )
}

#[test]
fn a_dependent_alone_is_refused_naming_the_root_cause() {
    let plan = plan_retry(&chain(), &ids(&["x"]), false);
    assert_eq!(plan.requests, ids(&["x"]));
    assert_eq!(plan.refused.len(), 1);
    let r = &plan.refused[0];
    assert_eq!(r.task, "x");
    assert_eq!(
        r.dead_dependencies,
        vec![("d".to_string(), Stage::DepFailed)]
    );
    assert_eq!(r.retry_first, vec![("e".to_string(), Stage::Quarantined)]);
    assert!(r.unknown.is_empty() && r.cyclic.is_empty(), "{r:?}");
}

#[test]
fn with_deps_asks_for_the_upstream_tasks_first() {
    let plan = plan_retry(&chain(), &ids(&["x"]), true);
    assert_eq!(
        plan,
        RetryPlan {
            requests: ids(&["e", "d", "x"]),
            refused: Vec::new(),
        }
    );
}

#[test]
fn naming_the_root_cause_too_is_enough() {
    let plan = plan_retry(&chain(), &ids(&["e", "x"]), false);
    assert_eq!(plan.requests, ids(&["e", "x"]));
    assert!(plan.refused.is_empty(), "{plan:?}");
}

#[test]
fn a_dependency_that_may_still_succeed_is_no_reason_to_refuse() {
    let f = facts(
        &[("x", &["d"]), ("d", &[])],
        &[("d", "failed", 1), ("x", "canceled", 0)],
        &[],
    );
    let plan = plan_retry(&f, &ids(&["x"]), false);
    assert!(plan.refused.is_empty(), "{plan:?}");
    // With --with-deps the failed dependency gets a fresh budget too.
    assert_eq!(
        plan_retry(&f, &ids(&["x"]), true).requests,
        ids(&["d", "x"])
    );
}

#[test]
fn an_unknown_dependency_is_refused_unless_it_waits_in_the_inbox() {
    let decided: &[(&str, &[&str])] = &[("x", &["ghost"])];
    let results = &[("x", "dep_failed", 0)];
    let plan = plan_retry(&facts(decided, results, &[]), &ids(&["x"]), true);
    assert_eq!(plan.refused.len(), 1);
    assert_eq!(plan.refused[0].unknown, ids(&["ghost"]));
    let plan = plan_retry(&facts(decided, results, &["ghost"]), &ids(&["x"]), false);
    assert!(plan.refused.is_empty(), "{plan:?}");
}

#[test]
fn a_cycle_is_named_and_no_retry_revives_it() {
    let f = facts(
        &[("x", &["a"]), ("a", &["b"]), ("b", &["a"])],
        &[
            ("a", "dep_failed", 0),
            ("b", "dep_failed", 0),
            ("x", "dep_failed", 0),
        ],
        &[],
    );
    for with_deps in [false, true] {
        let plan = plan_retry(&f, &ids(&["x"]), with_deps);
        assert_eq!(plan.refused.len(), 1, "{plan:?}");
        assert_eq!(plan.refused[0].cyclic, ids(&["a", "b"]));
        assert!(plan.refused[0].retry_first.is_empty());
    }
}

#[test]
fn a_long_dead_chain_does_not_overflow() {
    let n = 20_000;
    let names: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
    let deps: Vec<Vec<&str>> = (0..n)
        .map(|i| {
            if i == 0 {
                vec![]
            } else {
                vec![names[i - 1].as_str()]
            }
        })
        .collect();
    let decided: Vec<(&str, &[&str])> = (0..n)
        .map(|i| (names[i].as_str(), deps[i].as_slice()))
        .collect();
    let results: Vec<(&str, &str, u32)> = (0..n)
        .map(|i| {
            let status = if i == 0 { "quarantined" } else { "dep_failed" };
            (names[i].as_str(), status, u32::from(i == 0))
        })
        .collect();
    let f = facts(&decided, &results, &[]);
    let last = ids(&[names[n - 1].as_str()]);
    let refused = plan_retry(&f, &last, false);
    assert_eq!(
        refused.refused[0].retry_first,
        vec![("t0".to_string(), Stage::Quarantined)]
    );
    let plan = plan_retry(&f, &last, true);
    assert!(plan.refused.is_empty());
    assert_eq!(plan.requests.len(), n);
    assert_eq!(plan.requests[0], "t0");
}
