//! The race between a retry and the router's fallback move: with a back-off shorter than
//! the router takes to read the failed attempt, the executor must not start the retry on
//! the tool that just failed. It waits until the router has looked at the attempt
//! (`reviewed_attempt` in the decision, docs/ROUTING.md "How it reaches the executor").

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::{BASE, LIMIT, Lab, ns_of};
use crate::support::wait_until;

/// `flaky` first, `steady` second; no circuit opens (only the fallback move protects).
const RULE: &str = "[routing]\n[routing.circuit]\nfailures = 1000\n\
                    [[routing.rules]]\nkind = \"work\"\ncandidates = [\"flaky\", \"steady\"]\n";

/// [`BASE`] with a 1 ms back-off: the retry is due as soon as recovery has judged it.
fn quick_retry() -> String {
    let base = BASE.replace("initial_ms = 1000", "initial_ms = 1");
    assert_ne!(base, BASE, "BASE changed: the back-off is not replaced");
    base
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

#[test]
fn a_retry_due_before_the_router_looked_waits_for_its_move() {
    let mut lab = Lab::with_base(&quick_retry(), RULE, &[("flaky", ""), ("steady", "")]);
    lab.flag("flaky.gate", Some(""));
    lab.flag("flaky.down", Some(""));
    for phase in ["router", "executor", "recovery"] {
        lab.start(&[phase], phase);
    }
    let ids = ["t1", "t2", "t3", "t4"];
    for id in ids {
        lab.submit(id, json!({}));
    }
    wait_until("all four to run on flaky", LIMIT, || {
        lab.runs().iter().filter(|r| r.who == "flaky").count() == ids.len()
    });
    for id in ids {
        assert_eq!(lab.decision(id)["reviewed_attempt"], 0, "{id}");
    }
    // The router is held still: it cannot read the failures, let alone move the tasks.
    lab.signal(0, "STOP");
    lab.flag("open", Some(""));
    // Recovery judges the failures and the executor schedules the retries (1 ms back-off);
    // give the executor half a second past each retry's time to (wrongly) start it.
    let margin: u128 = Duration::from_millis(500).as_nanos();
    wait_until("the retries to be overdue", LIMIT, || {
        ids.iter().all(|id| {
            let r = lab.p.result(id).unwrap_or_default();
            let retried = r["attempts"].as_array().is_some_and(|a| a.len() > 1);
            let overdue = r["retry_at"]
                .as_str()
                .is_some_and(|t| ns_of(t) + margin < now_ns());
            retried || overdue
        })
    });
    let early: Vec<_> = lab.runs().into_iter().skip(ids.len()).collect();
    assert!(
        early.is_empty(),
        "retries started before the router looked: {early:?}"
    );
    lab.signal(0, "CONT");
    lab.wait_status(&ids, "succeeded");
    for id in ids {
        assert_eq!(lab.attempt_tools(id), ["flaky", "steady"], "{id}");
        assert_eq!(lab.decision(id)["reviewed_attempt"], 1, "{id}");
    }
}

#[test]
fn in_one_process_every_quick_retry_runs_on_the_other_candidate() {
    let mut lab = Lab::with_base(&quick_retry(), RULE, &[("flaky", ""), ("steady", "")]);
    lab.flag("flaky.down", Some(""));
    lab.start(&[], "engine");
    // A few dozen tries of the race, each task one.
    let ids: Vec<String> = (0..24).map(|i| format!("t{i:02}")).collect();
    for id in &ids {
        lab.submit(id, json!({}));
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    lab.wait_status(&refs, "succeeded");
    let wrong: Vec<(String, Vec<String>)> = ids
        .iter()
        .map(|id| (id.clone(), lab.attempt_tools(id)))
        .filter(|(_, tools)| tools != &["flaky", "steady"])
        .collect();
    assert!(wrong.is_empty(), "retried on the failed tool: {wrong:?}");
}

/// The hold is for a router that will look: once no router runs anywhere (here it is
/// SIGKILLed after routing), a failed task's retry starts on the decided tool at once
/// instead of waiting forever.
#[test]
fn with_no_router_running_a_retry_is_not_held() {
    let mut lab = Lab::with_base(&quick_retry(), RULE, &[("flaky", ""), ("steady", "")]);
    lab.flag("flaky.gate", Some(""));
    lab.flag("flaky.down", Some(""));
    for phase in ["router", "executor", "recovery"] {
        lab.start(&[phase], phase);
    }
    let ids = ["t1", "t2"];
    for id in ids {
        lab.submit(id, json!({}));
    }
    wait_until("both to run on flaky", LIMIT, || {
        lab.runs().iter().filter(|r| r.who == "flaky").count() == ids.len()
    });
    lab.signal(0, "KILL");
    // The first attempts fail; the retries (on flaky, as decided) succeed.
    lab.flag("open", Some(""));
    wait_until("the first attempts to fail", LIMIT, || {
        lab.runs().len() >= ids.len()
            && ids.iter().all(|id| {
                lab.p.result(id).is_some_and(|r| {
                    r["attempts"].as_array().is_some_and(|a| a.len() > 1) || r["status"] == "failed"
                })
            })
    });
    lab.flag("flaky.down", None);
    lab.wait_status(&ids, "succeeded");
    for id in ids {
        // Retried without a router's move: every attempt on flaky (one more if a retry
        // came before the tool was back).
        let tools = lab.attempt_tools(id);
        assert!(
            tools.len() >= 2 && tools.iter().all(|t| t == "flaky"),
            "{id}: {tools:?}"
        );
        assert_eq!(lab.decision(id)["reviewed_attempt"], 0, "{id}");
    }
}
