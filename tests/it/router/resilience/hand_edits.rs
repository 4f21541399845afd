//! `tool_health.json` edited by a person: a valid edit is adopted (closing a circuit by
//! hand works), a broken one is reported and left alone while routing goes on.

use serde_json::json;

use super::{LIMIT, Lab};
use crate::support::wait_until;

/// `flaky` then `steady`; one tool failure opens a circuit for ten minutes.
const RULE: &str = "[routing]\n[routing.circuit]\nfailures = 1\ncooldown_ms = 600000\n\
                    [[routing.rules]]\nkind = \"work\"\ncandidates = [\"flaky\", \"steady\"]\n";

/// Replaces `.state/tool_health.json` as a careful person does (`phase edit` does the
/// same): under the file's sidecar lock, by rename — without the lock a write the router
/// has under way could land after it.
fn save(lab: &Lab, text: &str) {
    let lock = std::fs::File::create(lab.p.path(".state/locks/tool_health.json.lock"))
        .expect("the sidecar lock file");
    lock.lock().expect("flock");
    let tmp = lab.p.write(".state/.tool_health.json.edit", text);
    std::fs::rename(tmp, lab.p.path(".state/tool_health.json")).expect("save");
    lock.unlock().expect("unlock");
}

#[test]
fn closing_a_circuit_by_hand_is_adopted_and_a_broken_file_is_left_alone() {
    let mut lab = Lab::new(RULE, &[("flaky", ""), ("steady", "")]);
    lab.flag("flaky.down", Some(""));
    lab.start(&[], "engine");
    lab.submit("t1", json!({}));
    lab.wait_status(&["t1"], "succeeded");
    wait_until("flaky's circuit to open", LIMIT, || {
        lab.health("flaky")["circuit"] == "open"
    });

    // Broken by hand: reported once, never overwritten; tasks are still routed.
    save(&lab, "{\"tools\": {\"flaky\": {\"circuit\": \"ajar\"}}}\n");
    wait_until("the broken file to be reported", LIMIT, || {
        lab.p
            .events_of("STATE_FILE_INVALID")
            .iter()
            .any(|e| e["data"]["file"] == "tool_health.json")
    });
    lab.submit("t2", json!({}));
    lab.wait_status(&["t2"], "succeeded");
    assert_eq!(
        lab.attempt_tools("t2"),
        ["steady"],
        "flaky is still open in memory"
    );
    let text = lab.p.read(".state/tool_health.json");
    assert!(text.contains("ajar"), "overwritten: {text}");

    // Fixed by hand, with the circuit closed: adopted, and flaky takes tasks again.
    lab.flag("flaky.down", None);
    save(
        &lab,
        "{\"tools\": {\"flaky\": {\"circuit\": \"closed\"}}}\n",
    );
    wait_until("the edit to be adopted", LIMIT, || {
        lab.p
            .events_of("CIRCUIT_CLOSED")
            .iter()
            .any(|e| e["data"]["tool"] == "flaky" && e["phase"] == "router")
    });
    lab.submit("t3", json!({}));
    lab.wait_status(&["t3"], "succeeded");
    assert_eq!(lab.attempt_tools("t3"), ["flaky"]);
    assert_eq!(lab.health("flaky")["circuit"], "closed");
}
