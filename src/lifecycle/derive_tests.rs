//! The derived state of one task `x` (depending on `d`) for the cases at the margin,
//! against a table written by hand.

use serde_json::{Value, json};

use super::derive::derive;
use super::facts::Facts;
use super::view::{LivePhases, TaskState};

/// What `phase status` shows of `x`: state, waiting on, reason, request pending.
type Shown = (TaskState, Option<&'static str>, Option<String>, bool);

/// A case: what it is, `x`'s entry, `d`'s entry, recovery's verdict on `x`, whether a
/// request on `x` pends, and what is shown.
type Case = (&'static str, Value, Value, Option<bool>, bool, Shown);

const ALL: LivePhases = LivePhases {
    router: true,
    executor: true,
    recovery: true,
};

/// `x` depends on `d`; `x_result` and `d_result` are their entries (`Null`: none);
/// `verdict` is recovery's recommendation on `x`'s attempt 1, if any; `requested` adds an
/// unhandled request on `x`.
fn state_of_x(
    x_result: Value,
    d_result: Value,
    verdict: Option<bool>,
    requested: bool,
    live: LivePhases,
) -> Shown {
    let results: Vec<Value> = [x_result, d_result]
        .into_iter()
        .filter(|r| !r.is_null())
        .collect();
    let retries: Vec<Value> = verdict
        .map(|retry| json!({"task_id": "x", "attempt": 1, "retry_recommended": retry, "reason": "given up"}))
        .into_iter()
        .collect();
    let requests: Vec<Value> = if requested {
        vec![json!({"request_id": "r1", "task_id": "x"})]
    } else {
        Vec::new()
    };
    let facts = Facts {
        decisions: serde_json::from_value(json!({"decisions": [
            {"task_id": "d", "task": {}},
            {"task_id": "x", "task": {"depends_on": ["d"]}},
        ]}))
        .expect("decisions"),
        results: serde_json::from_value(json!({ "results": results })).expect("results"),
        patches: serde_json::from_value(json!({ "retries": retries })).expect("patches"),
        control: serde_json::from_value(json!({ "requests": requests })).expect("control"),
        ..Facts::default()
    };
    let snap = derive(&facts, live);
    let x = snap.tasks.iter().find(|t| t.id == "x").expect("x shown");
    (x.state, x.waiting_on, x.reason.clone(), x.request_pending)
}

fn entry(id: &str, status: &str, attempt: u32, budget_from_attempt: u32) -> Value {
    json!({
        "task_id": id,
        "status": status,
        "attempt": attempt,
        "budget_from_attempt": budget_from_attempt,
        "reason": "why",
    })
}

#[test]
fn margin_cases_derive_as_the_table_says() {
    let quarantined_d = || entry("d", "quarantined", 1, 0);
    let succeeded_d = || entry("d", "succeeded", 1, 0);
    let running_d = || entry("d", "running", 1, 0);
    let retry = Some("retry requested".to_string());
    let why = Some("why".to_string());
    use TaskState::*;
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("a retry kept on a dep_failed task: it stays dep_failed, terminal",
         entry("x", "dep_failed", 0, 1), quarantined_d(), None, false, (DepFailed, None, why.clone(), false)),
        ("dep_failed", entry("x", "dep_failed", 0, 0), quarantined_d(), None, false, (DepFailed, None, why.clone(), false)),
        ("a rerun of a succeeded task (its budget moved on): routed",
         entry("x", "succeeded", 1, 2), succeeded_d(), None, false, (Routed, Some("executor"), retry.clone(), false)),
        ("a requested retry, dependencies done: routed",
         entry("x", "quarantined", 1, 2), succeeded_d(), None, false, (Routed, Some("executor"), retry.clone(), false)),
        ("a requested retry, a dependency still running: blocked, moving",
         entry("x", "canceled", 0, 1), running_d(), None, false, (Blocked, Some("executor"), retry.clone(), false)),
        ("recovery gave up, not marked yet",
         entry("x", "failed", 1, 0), succeeded_d(), Some(false), false, (Quarantined, Some("executor"), Some("given up".into()), false)),
        ("recovery recommends a retry",
         entry("x", "failed", 1, 0), succeeded_d(), Some(true), false, (RetryScheduled, Some("executor"), None, false)),
        ("no verdict yet", entry("x", "timed_out", 1, 0), succeeded_d(), None, false, (Recovering, Some("recovery"), why.clone(), false)),
        ("a request not carried out yet", entry("x", "quarantined", 1, 0), succeeded_d(), None, true, (Quarantined, Some("executor"), why.clone(), true)),
        ("never ran, dependency dead: the executor will mark it",
         Value::Null, quarantined_d(), None, false, (Blocked, Some("executor"), None, false)),
    ];
    for (what, x, d, verdict, requested, expected) in cases {
        assert_eq!(
            state_of_x(x, d, verdict, requested, ALL),
            expected,
            "{what}"
        );
    }
}

#[test]
fn without_phases_running_nothing_waits_but_a_request_still_pends() {
    let none = LivePhases::default();
    let x = entry("x", "failed", 1, 0);
    let d = entry("d", "succeeded", 1, 0);
    assert_eq!(
        state_of_x(x.clone(), d.clone(), None, false, none),
        (TaskState::Failed, None, Some("why".into()), false)
    );
    assert_eq!(
        state_of_x(x, d, None, true, none),
        (TaskState::Failed, None, Some("why".into()), true)
    );
}

/// A `verifying` task waits on recovery (its gate) until a verdict is written, then on the
/// executor (to record it); with no phase running it has ended, not succeeded.
#[test]
fn a_verifying_task_waits_on_recovery_then_on_the_executor() {
    let shown = |gates: Value, live: LivePhases| {
        let facts = Facts {
            decisions: serde_json::from_value(json!({"decisions": [{"task_id": "x", "task": {}}]}))
                .expect("decisions"),
            results: serde_json::from_value(json!({"results": [entry("x", "verifying", 1, 0)]}))
                .expect("results"),
            patches: serde_json::from_value(json!({ "gates": gates })).expect("patches"),
            ..Facts::default()
        };
        let snap = derive(&facts, live);
        let x = snap.tasks.iter().find(|t| t.id == "x").expect("x shown");
        (x.state, x.waiting_on, x.reason.clone())
    };
    let waiting = Some("waiting for its acceptance gate".to_string());
    assert_eq!(
        shown(json!([]), ALL),
        (TaskState::Verifying, Some("recovery"), waiting.clone())
    );
    assert_eq!(
        shown(json!([]), LivePhases::default()),
        (TaskState::Verifying, None, waiting)
    );
    assert!(TaskState::Verifying.has_ended() && !TaskState::Verifying.is_success());
    let failed =
        json!([{"task_id": "x", "attempt": 1, "passed": false, "reason": "verify exit code 1"}]);
    assert_eq!(
        shown(failed, ALL),
        (
            TaskState::Verifying,
            Some("executor"),
            Some("gate failed: verify exit code 1".to_string())
        )
    );
    // A verdict on another attempt does not apply.
    let old = json!([{"task_id": "x", "attempt": 0, "passed": true}]);
    assert_eq!(shown(old, ALL).1, Some("recovery"));
}
