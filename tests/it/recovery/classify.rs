//! The classification table, through the real phase: real detector processes, real files.

use phase_coordinator::model::{Action, Classification, LadderStep, Status};
use phase_coordinator::phase::Phase;
use serde_json::json;

use crate::support::recovery::{Failure, Harness, drive, lint_and_agents};

#[test]
fn each_kind_of_failure_gets_its_class_and_step() {
    let h = Harness::new(&lint_and_agents(
        r#"["mechanical_fix", "agent1", "agent2"]"#,
        3,
    ));
    for (id, kind) in [
        ("slow", "build"),
        ("killed", "build"),
        ("missing", "build"),
        ("notfound", "build"),
        ("lint", "lint"),
        ("other", "build"),
    ] {
        h.write(&format!("{id}.txt"), "x = 1  \n");
        h.submit(
            json!({ "id": id, "kind": kind, "command": ["make"], "files": [format!("{id}.txt")] }),
        );
    }
    h.fail(
        "slow",
        Failure {
            status: Some(Status::TimedOut),
            signal: Some(15),
            reason: "timed out after 1s".into(),
            ..Failure::default()
        },
    );
    h.fail(
        "killed",
        Failure {
            signal: Some(9),
            reason: "killed by signal 9".into(),
            ..Failure::default()
        },
    );
    h.fail(
        "missing",
        Failure {
            reason: "cannot start \"nope\": No such file or directory (os error 2)".into(),
            ..Failure::default()
        },
    );
    h.fail(
        "notfound",
        Failure::exit(127, "sh: 1: frobnicate: not found\n"),
    );
    h.fail(
        "lint",
        Failure::exit(1, "lint.txt:1:6: E001 trailing whitespace\n"),
    );
    h.fail(
        "other",
        Failure::exit(1, "assertion failed: left == right\n"),
    );

    let (mut rec, wakes) = h.recovery();
    drive(&mut rec, &wakes);

    let row = |id: &str| {
        let a = h.analysis(id, 1);
        let r = h.retry(id, 1);
        (
            a.classification,
            a.recommended_action,
            a.ladder_step,
            r.retry_recommended,
            r.ladder_step,
        )
    };
    let s = LadderStep::from;
    assert_eq!(
        row("slow"),
        (
            Classification::Transient,
            Action::Retry,
            s("retry"),
            true,
            s("retry")
        )
    );
    assert_eq!(
        row("killed"),
        (
            Classification::Transient,
            Action::Retry,
            s("retry"),
            true,
            s("retry")
        )
    );
    assert_eq!(
        row("missing"),
        (
            Classification::NeedsHuman,
            Action::Quarantine,
            s("quarantine"),
            false,
            s("quarantine")
        )
    );
    assert_eq!(
        row("notfound"),
        (
            Classification::NeedsHuman,
            Action::Quarantine,
            s("quarantine"),
            false,
            s("quarantine")
        )
    );
    assert_eq!(
        row("lint"),
        (
            Classification::AutoFixable,
            Action::MechanicalFix,
            s("mechanical_fix"),
            true,
            s("mechanical_fix")
        )
    );
    assert_eq!(
        row("other"),
        (
            Classification::AgentFixable,
            Action::AgentFix,
            s("agent1"),
            true,
            s("agent1")
        )
    );
    assert_eq!(h.analysis("slow", 1).error_type, "timeout");
    assert_eq!(h.analysis("missing", 1).error_type, "spawn_error");
    assert_eq!(h.analysis("notfound", 1).error_type, "non_retryable_exit");
    assert_eq!(h.analysis("other", 1).fix_agent.as_deref(), Some("agent1"));

    // The detector only applies to `lint` tasks; it found the issue and the fixer fixed it.
    assert_eq!(h.analysis("lint", 1).plugins_run, vec!["ws".to_string()]);
    assert!(h.analysis("other", 1).plugins_run.is_empty());
    let lint_issue = &h.analysis("lint", 1).issues[0];
    assert_eq!(
        (
            lint_issue.file.as_deref(),
            lint_issue.line,
            lint_issue.rule.as_deref(),
            lint_issue.fixable
        ),
        (Some("lint.txt"), Some(1), Some("E001"), true)
    );
    assert_eq!(h.read("lint.txt"), "x = 1\n");

    // Needs-human quarantines at once: no fixer, no agent, a report, the events.
    for id in ["missing", "notfound"] {
        assert!(
            h.patches().patches.iter().all(|p| p.task_id != id),
            "{id} was not fixed"
        );
        assert!(
            !h.prompt_file(id, 1, "agent1").exists(),
            "{id} never reached an agent"
        );
        assert_eq!(h.read(&format!("{id}.txt")), "x = 1  \n", "{id} untouched");
        let report = h.escalation(id).expect("escalation report");
        assert!(report.contains(&format!("phase retry {id}")), "{report}");
        assert_eq!(h.events_of("TASK_QUARANTINED", Some(id)).len(), 1);
        assert_eq!(h.events_of("TASK_ESCALATED", Some(id)).len(), 1);
    }
    assert!(
        h.escalation("missing")
            .expect("report")
            .contains("cannot start")
    );
    assert!(h.escalation("slow").is_none());

    // The transient ones were not touched either.
    assert_eq!(h.read("slow.txt"), "x = 1  \n");
    assert_eq!(h.events_of("ERROR_ANALYZED", None).len(), 6);
    let analyzed = &h.events_of("ERROR_ANALYZED", Some("lint"))[0];
    assert_eq!(analyzed["data"]["classification"], "auto_fixable");
    assert_eq!(analyzed["data"]["ladder_step"], "mechanical_fix");

    // Level-triggered: another pass finds nothing to do and analyses nothing twice.
    drive(&mut rec, &wakes);
    assert_eq!(h.analyses().len(), 6);
    assert_eq!(h.events_of("ERROR_ANALYZED", None).len(), 6);
    rec.shutdown(std::time::Duration::from_secs(1))
        .expect("shutdown");
}

#[test]
fn a_transient_pattern_in_the_output_retries_without_a_fix() {
    let h = Harness::new(&lint_and_agents(r#"["agent1"]"#, 3));
    h.write("a.txt", "a\n");
    h.submit(json!({ "id": "net", "kind": "build", "files": ["a.txt"] }));
    h.fail(
        "net",
        Failure::exit(1, "fetching deps\nerror: Connection reset by peer\n"),
    );
    let (mut rec, wakes) = h.recovery();
    drive(&mut rec, &wakes);
    let a = h.analysis("net", 1);
    assert_eq!(
        (a.classification, a.error_type.as_str()),
        (Classification::Transient, "transient_output")
    );
    assert!(h.retry("net", 1).retry_recommended);
    assert_eq!(h.read("a.txt"), "a\n", "no agent ran");
}
