//! A pool: one candidate made of instances, each with its own env and circuit.

use serde_json::json;

use super::{LIMIT, Lab};
use crate::support::wait_until;

#[test]
fn a_pool_uses_both_instances_and_one_failing_opens_only_its_own_circuit() {
    let rule = "[routing]\n[routing.circuit]\nfailures = 1\ncooldown_ms = 60000\n\
                [[routing.rules]]\nkind = \"work\"\ncandidates = [\"agent\"]\n\
                strategy = \"round_robin\"\n";
    let instances = "[tools.agent.instances.k1.env]\nINSTANCE = \"k1\"\nKEY = \"one\"\n\
                     [tools.agent.instances.k2.env]\nINSTANCE = \"k2\"\nKEY = \"two\"\n";
    let mut lab = Lab::new(rule, &[("agent", instances)]);
    lab.start(&[], "engine");
    let first = ["t1", "t2", "t3", "t4"];
    for id in first {
        lab.submit(id, json!({}));
    }
    lab.wait_status(&first, "succeeded");
    let mut on: Vec<String> = first.iter().flat_map(|id| lab.attempt_tools(id)).collect();
    on.sort();
    assert_eq!(on, ["agent@k1", "agent@k1", "agent@k2", "agent@k2"]);
    // Each instance ran with its own env.
    for id in first {
        let tool = &lab.attempt_tools(id)[0];
        let key = if tool == "agent@k1" { "one" } else { "two" };
        let (_, out, _) = lab.p.run(&["logs", id], LIMIT);
        assert!(out.contains(&format!("KEY={key}")), "{id} on {tool}: {out}");
    }
    assert_eq!(lab.decision("t1")["candidates"], json!(["agent"]));

    // k2 breaks: its first failure opens its circuit; k1's stays closed and takes over.
    lab.flag("k2.down", Some(""));
    lab.submit("t5", json!({}));
    lab.submit("t6", json!({}));
    lab.wait_status(&["t5", "t6"], "succeeded");
    wait_until("agent@k2's circuit to open", LIMIT, || {
        lab.health("agent@k2")["circuit"] == "open"
    });
    assert_eq!(lab.circuit_events("agent@k2"), ["CIRCUIT_OPENED"]);
    assert!(lab.circuit_events("agent@k1").is_empty());
    assert_eq!(lab.health("agent@k1")["circuit"], "closed");
    // `phase status` and `phase tools` show the instance out, the pool and k1 not.
    let (_, status, _) = lab.p.run(&["status"], LIMIT);
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("tool agent@k2: circuit open until")),
        "{status}"
    );
    assert!(!status.contains("tool agent@k1"), "{status}");
    let (_, tools, _) = lab.p.run(&["tools"], LIMIT);
    assert!(tools.contains("pool of agent@k1, agent@k2"), "{tools}");
    let failed_on_k2: Vec<String> = ["t5", "t6"]
        .iter()
        .filter(|id| lab.attempt_tools(id) == ["agent@k2", "agent@k1"])
        .map(|id| id.to_string())
        .collect();
    assert_eq!(
        failed_on_k2.len(),
        1,
        "one of them failed on k2 and moved to k1"
    );
    for id in ["t7", "t8", "t9"] {
        lab.submit(id, json!({}));
    }
    lab.wait_status(&["t7", "t8", "t9"], "succeeded");
    for id in ["t7", "t8", "t9"] {
        assert_eq!(lab.attempt_tools(id), ["agent@k1"], "{id}");
    }
}
