//! The escalation ladder over several attempts: mechanical fix → agent tiers →
//! quarantine with a report, the retry budget, a rung that changes nothing, and
//! `phase retry` restarting the ladder.

use phase_coordinator::model::Action;
use serde_json::json;

use crate::support::recovery::{Failure, Harness, drive, lint_and_agents};
use crate::support::tool;

/// Fails attempt after attempt (as the executor would, each time recovery recommends a
/// retry) until recovery stops; returns the ladder step of each attempt's verdict.
fn fail_until_quarantined(h: &Harness, task: &str) -> Vec<String> {
    let (mut rec, wakes) = h.recovery();
    let mut steps = Vec::new();
    for n in 1..=10 {
        let attempt = h.fail(task, Failure::exit(1, &format!("boom in attempt {n}\n")));
        drive(&mut rec, &wakes);
        let verdict = h.retry(task, attempt);
        steps.push(verdict.ladder_step.to_string());
        if !verdict.retry_recommended {
            return steps;
        }
    }
    panic!("never quarantined: {steps:?}");
}

#[test]
fn an_always_failing_task_climbs_every_rung_then_is_quarantined() {
    let h = Harness::new(&lint_and_agents(
        r#"["mechanical_fix", "agent1", "agent2"]"#,
        4,
    ));
    h.write("a.txt", "first  \nsecond\n");
    h.submit(
        json!({ "id": "t", "kind": "lint", "description": "make the linter happy",
                     "command": ["make", "check"], "files": ["a.txt"] }),
    );

    let steps = fail_until_quarantined(&h, "t");
    assert_eq!(steps, ["mechanical_fix", "agent1", "agent2", "quarantine"]);

    // Each fix is a real diff of what the fixer did, recorded and validated.
    let patches = h.patches().patches;
    let by_step: Vec<(&str, u32, &str, bool)> = patches
        .iter()
        .map(|p| {
            (
                p.fixer.as_str(),
                p.attempt,
                p.patch_id.as_str(),
                p.validated,
            )
        })
        .collect();
    assert_eq!(
        by_step,
        [
            ("ws", 1, "t-1-1", true),
            ("agent1", 2, "t-2-1", true),
            ("agent2", 3, "t-3-1", true)
        ]
    );
    assert!(
        patches[0].diff.contains("-first  \n+first\n"),
        "{}",
        patches[0].diff
    );
    assert!(
        patches[1].diff.contains("+# touched by agent1\n"),
        "{}",
        patches[1].diff
    );
    assert!(patches.iter().all(|p| p.applied && p.file == "a.txt"));
    assert_eq!(h.retry("t", 2).patch_ids, ["t-2-1"]);
    assert_eq!(
        h.read("a.txt"),
        "first\nsecond\n# touched by agent1\n# touched by agent2\n"
    );

    // Agents got a prompt file with the task, the analysis and the last error.
    let prompt = std::fs::read_to_string(h.prompt_file("t", 2, "agent1")).expect("prompt");
    for needle in [
        "make the linter happy",
        "boom in attempt 2",
        "exit code 1",
        "agent_fixable",
    ] {
        assert!(
            prompt.to_lowercase().contains(&needle.to_lowercase()),
            "{needle:?} in\n{prompt}"
        );
    }

    // The report holds every attempt's error, what was tried with which diff, what to do.
    let report = h.escalation("t").expect("escalation report");
    for n in 1..=4 {
        assert!(
            report.contains(&format!("boom in attempt {n}")),
            "attempt {n} in\n{report}"
        );
        assert!(
            report.contains(&format!("logs/t/{n}.err")),
            "log of {n} in\n{report}"
        );
    }
    for needle in [
        "make the linter happy",
        "mechanical_fix",
        "agent1",
        "agent2",
        "-first  ",
        "+# touched by agent2",
        "`a.txt`",
        "Recommended next steps",
        "phase retry t",
    ] {
        assert!(report.contains(needle), "{needle:?} in\n{report}");
    }
    assert_eq!(h.events_of("TASK_QUARANTINED", Some("t")).len(), 1);
    assert_eq!(h.events_of("TASK_ESCALATED", Some("t")).len(), 1);
    assert_eq!(h.events_of("FIX_APPLIED", Some("t")).len(), 3);
    assert_eq!(h.events_of("ERROR_ANALYZED", Some("t")).len(), 4);

    // Events come before the files that show them: ERROR_ANALYZED, FIX_APPLIED in order.
    let kinds: Vec<String> = h
        .events()
        .iter()
        .filter(|e| e["task_id"] == "t")
        .map(|e| e["type"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(&kinds[..2], ["ERROR_ANALYZED", "FIX_APPLIED"]);
    assert_eq!(
        &kinds[kinds.len() - 2..],
        ["TASK_QUARANTINED", "TASK_ESCALATED"]
    );

    // `phase retry` restarts the budget and the ladder: the next failure starts over.
    h.reset_budget("t");
    h.write("a.txt", "dirty again \n");
    let (mut rec, wakes) = h.recovery();
    let attempt = h.fail("t", Failure::exit(1, "boom after retry\n"));
    drive(&mut rec, &wakes);
    assert_eq!(h.analysis("t", attempt).ladder_step, "mechanical_fix");
    assert!(h.retry("t", attempt).retry_recommended);
}

#[test]
fn the_retry_budget_quarantines_before_the_ladder_ends() {
    let h = Harness::new(&lint_and_agents(r#"["agent1", "agent2"]"#, 2));
    h.write("a.txt", "a\n");
    h.submit(json!({ "id": "t", "kind": "build", "files": ["a.txt"] }));
    let steps = fail_until_quarantined(&h, "t");
    assert_eq!(steps, ["agent1", "quarantine"]);
    let a = h.analysis("t", 2);
    assert_eq!(a.recommended_action, Action::Quarantine);
    assert!(a.summary.contains("retry budget of 2"), "{}", a.summary);
    let report = h.escalation("t").expect("report");
    assert!(report.contains("retry budget"), "{report}");
}

#[test]
fn a_rung_that_changes_nothing_hands_over_to_the_next_in_the_same_attempt() {
    // A fixer that fixes nothing, an agent that fails, then agent1.
    let toml = lint_and_agents(r#"["mechanical_fix", "broken", "agent1"]"#, 3).replace(
        &format!("\"{}\"", tool("recovery/strip.sh")),
        &format!("\"{}\"", tool("recovery/noop.sh")),
    ) + "\n[tools.broken]\ncommand = [\"sh\", \"-c\", \"echo cannot help >&2; exit 1\"]\n";
    let h = Harness::new(&toml);
    h.write("a.txt", "a \n");
    h.submit(json!({ "id": "t", "kind": "lint", "files": ["a.txt"] }));
    let (mut rec, wakes) = h.recovery();
    h.fail("t", Failure::exit(1, "boom\n"));
    drive(&mut rec, &wakes);

    // One analysis for the attempt, moved up rung by rung, each before the rung ran.
    let a = h.analysis("t", 1);
    assert_eq!(h.analyses().len(), 1);
    assert_eq!(
        (a.ladder_step.as_str(), a.recommended_action),
        ("agent1", Action::AgentFix)
    );
    assert!(
        a.summary.contains("mechanical_fix changed nothing"),
        "{}",
        a.summary
    );
    assert!(
        a.summary.contains("broken changed nothing"),
        "{}",
        a.summary
    );
    let verdict = h.retry("t", 1);
    assert_eq!(
        (verdict.ladder_step.as_str(), verdict.retry_recommended),
        ("agent1", true)
    );
    assert_eq!(verdict.patch_ids, ["t-1-1"]);
    assert_eq!(h.read("a.txt"), "a \n# touched by agent1\n");
    let failed = h.events_of("FIX_FAILED", Some("t"));
    let steps: Vec<(&str, &str)> = failed
        .iter()
        .map(|e| {
            (
                e["data"]["ladder_step"].as_str().unwrap_or_default(),
                e["data"]["next"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(steps, [("mechanical_fix", "broken"), ("broken", "agent1")]);
    assert!(
        failed[1]["data"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("exit code 1"),
        "{failed:?}"
    );

    // Nothing changes on the last rung either: nothing on the ladder fixes it, so the
    // attempt is retried as is (recovery.retry_unfixable), or quarantined when that is off.
    for (retry_unfixable, expected) in [(true, ("retry", true)), (false, ("quarantine", false))] {
        let h = Harness::new(
            &toml
                .replace(r#"["mechanical_fix", "broken", "agent1"]"#, r#"["broken"]"#)
                .replace(
                    "[recovery]\n",
                    &format!("[recovery]\nretry_unfixable = {retry_unfixable}\n"),
                ),
        );
        h.write("a.txt", "a\n");
        h.submit(json!({ "id": "t", "kind": "build", "files": ["a.txt"] }));
        let (mut rec, wakes) = h.recovery();
        h.fail("t", Failure::exit(1, "boom\n"));
        drive(&mut rec, &wakes);
        let verdict = h.retry("t", 1);
        assert_eq!(
            (verdict.ladder_step.as_str(), verdict.retry_recommended),
            expected
        );
        assert!(
            verdict.reason.contains("broken changed nothing"),
            "{verdict:?}"
        );
        assert_eq!(h.escalation("t").is_some(), !retry_unfixable);
    }
}

#[test]
fn an_agent_that_exits_0_without_changing_anything_climbs_on() {
    let h = Harness::new(&lint_and_agents(r#"["noop", "agent1"]"#, 3));
    h.write("a.txt", "a\n");
    h.submit(json!({ "id": "t", "kind": "build", "files": ["a.txt"] }));
    let (mut rec, wakes) = h.recovery();
    h.fail("t", Failure::exit(1, "boom\n"));
    drive(&mut rec, &wakes);
    // AI coding CLIs exit 0 having done nothing (../shared/AGENT-CLIS.md): no fix, so the
    // same attempt climbs on to agent1, which changes the file and earns the retry.
    let verdict = h.retry("t", 1);
    assert_eq!(
        (verdict.ladder_step.as_str(), verdict.retry_recommended),
        ("agent1", true)
    );
    assert_eq!(verdict.patch_ids.len(), 1);
    let failed = h.events_of("FIX_FAILED", Some("t"));
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["data"]["ladder_step"], "noop");
    assert_eq!(failed[0]["data"]["next"], "agent1");
    let reason = failed[0]["data"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("noop: exit code 0, changed 0 file(s)"),
        "{reason}"
    );
}
