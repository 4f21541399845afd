//! Restarts and crashes: an attempt is analysed once, also across a restart; an analysis
//! without a verdict resumes its ladder step; shutdown kills a fixer after its grace and
//! the next start finishes the step.

use std::time::{Duration, Instant};

use phase_coordinator::model::{Action, Classification, ErrorAnalyses, ErrorAnalysis, now_rfc3339};
use phase_coordinator::phase::Phase;
use serde_json::json;

use crate::support::recovery::{DEADLINE, Failure, Harness, config_with, drive, lint_and_agents};
use crate::support::store::update;
use crate::support::{tool, wait_until};

#[test]
fn an_attempt_is_analysed_once_also_across_a_restart() {
    let h = Harness::new(&lint_and_agents(r#"["mechanical_fix", "agent1"]"#, 3));
    h.write("a.txt", "a \n");
    h.submit(json!({ "id": "t", "kind": "lint", "files": ["a.txt"] }));
    h.fail("t", Failure::exit(1, "boom\n"));
    let (mut rec, wakes) = h.recovery();
    drive(&mut rec, &wakes);
    rec.shutdown(Duration::from_secs(1)).expect("shutdown");
    drop(rec);
    let before = h.patches();

    let (mut rec, wakes) = h.recovery();
    drive(&mut rec, &wakes);
    assert_eq!(h.analyses().len(), 1);
    assert_eq!(h.events_of("ERROR_ANALYZED", None).len(), 1);
    assert_eq!(h.events_of("FIX_APPLIED", None).len(), 1);
    assert_eq!(
        h.patches().patches,
        before.patches,
        "the fix did not run again"
    );
}

#[test]
fn an_analysis_without_a_verdict_resumes_its_step_after_a_crash() {
    let h = Harness::new(&lint_and_agents(r#"["mechanical_fix", "agent1"]"#, 3));
    h.write("a.txt", "a \n");
    h.submit(json!({ "id": "t", "kind": "lint", "files": ["a.txt"] }));
    h.fail("t", Failure::exit(1, "boom\n"));
    // What a crash right after committing the analysis leaves behind.
    update::<ErrorAnalyses>(&h.state, |doc| {
        doc.analyses.push(ErrorAnalysis {
            task_id: "t".to_string(),
            attempt: 1,
            error_type: "lint".into(),
            classification: Classification::AutoFixable,
            plugins_run: vec!["ws".to_string()],
            issues: vec![phase_coordinator::model::Issue {
                detector: "ws".to_string(),
                file: Some("a.txt".to_string()),
                message: "trailing whitespace".to_string(),
                fixable: true,
                ..Default::default()
            }],
            recommended_action: Action::MechanicalFix,
            ladder_step: "mechanical_fix".into(),
            summary: "written before the crash".to_string(),
            analyzed_at: now_rfc3339(),
            ..ErrorAnalysis::default()
        })
    });
    let (mut rec, wakes) = h.recovery();
    drive(&mut rec, &wakes);

    assert_eq!(
        h.events_of("ERROR_ANALYZED", None).len(),
        0,
        "not analysed again"
    );
    assert_eq!(h.analysis("t", 1).summary, "written before the crash");
    let verdict = h.retry("t", 1);
    assert_eq!(
        (verdict.ladder_step.as_str(), verdict.retry_recommended),
        ("mechanical_fix", true)
    );
    assert_eq!(h.read("a.txt"), "a\n");
    assert_eq!(h.patches().patches[0].fixer, "ws");
}

#[test]
fn shutdown_kills_a_fixer_after_its_grace_and_the_next_start_finishes_the_step() {
    let toml = config_with(&format!(
        r#"
[recovery]
ladder = ["slow"]

[tools.slow]
command = ["sh", "{slow}", "{{workdir}}/slow.pid", "{{files}}"]
"#,
        slow = tool("recovery/slow-agent.sh")
    ));
    let h = Harness::new(&toml);
    h.write("a.txt", "a\n");
    h.write("hold", "");
    h.submit(json!({ "id": "t", "kind": "build", "files": ["a.txt"] }));
    h.fail("t", Failure::exit(1, "boom\n"));
    let (mut rec, _wakes) = h.recovery();
    rec.reconcile().expect("reconcile");
    let pid_file = h.root().join("slow.pid");
    wait_until("the agent to start", DEADLINE, || pid_file.exists());
    let pid = std::fs::read_to_string(&pid_file)
        .expect("pid")
        .trim()
        .to_string();

    let started = Instant::now();
    rec.shutdown(Duration::from_millis(300)).expect("shutdown");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
    assert!(
        took >= Duration::from_millis(300),
        "the fixer had its grace: {took:?}"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "agent {pid} killed"
    );
    drop(rec);

    // The analysis was committed before the agent ran; no verdict yet.
    assert_eq!(h.analysis("t", 1).ladder_step, "slow");
    assert!(h.patches().retries.is_empty());

    std::fs::remove_file(h.root().join("hold")).expect("release the agent");
    let (mut rec, wakes) = h.recovery();
    drive(&mut rec, &wakes);
    let verdict = h.retry("t", 1);
    assert_eq!(
        (verdict.ladder_step.as_str(), verdict.retry_recommended),
        ("slow", true)
    );
    assert_eq!(h.read("a.txt"), "a\n# touched by slow-agent\n");
    assert_eq!(h.events_of("ERROR_ANALYZED", None).len(), 1);
}
