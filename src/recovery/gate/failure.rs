//! A failed gate as a failure of its attempt: the executor records the attempt `failed`
//! with reason `gate_failed: …` (verify) or `review_rejected: …` (review); recovery then
//! analyses it like any failure, but with the gate's output as the error (its logs, not
//! the task's, which said nothing wrong), under its own `error_type`; the fix agents'
//! prompts and the escalation report show that output.

use std::fmt::Write as _;

use super::super::classify::Diagnosis;
use super::super::output::shown_tail;
use crate::model::{
    Action, Attempt, Classification, FailureKind, FixPatches, GateStep, GateVerdict, LadderStep,
};
use crate::store::StateDir;

/// How much of the end of each gate log a prompt or report shows.
const SHOWN_BYTES: u64 = 4096;

/// The step a failed attempt's reason says its gate failed at, if it did.
pub(crate) fn failed_step(attempt: &Attempt) -> Option<GateStep> {
    let reason = attempt.reason.as_deref()?;
    [GateStep::Verify, GateStep::Review]
        .into_iter()
        .find(|s| reason.starts_with(&format!("{}: ", s.failure_kind())))
}

/// The failed gate verdict on `attempt`, if its gate failed.
pub(crate) fn verdict(patches: &FixPatches, task: &str, attempt: &Attempt) -> Option<GateVerdict> {
    failed_step(attempt)?;
    super::verdict_for(patches, task, attempt.attempt)
        .filter(|v| !v.passed)
        .cloned()
}

/// The attempt as the analysis reads it: its reason, with the failed step's logs in place
/// of the task's own (`attempt_output` reads those).
pub(crate) fn as_attempt(attempt: &Attempt, verdict: &GateVerdict) -> Attempt {
    let mut seen = attempt.clone();
    if let Some(step) = verdict.steps.iter().find(|s| !s.passed) {
        seen.log_out = step.log_out.clone();
        seen.log_err = step.log_err.clone();
        // Read when the logs are gone (or were never written: it could not start).
        seen.stderr_tail = format!("{}\n{}", step.outcome, step.output);
    }
    seen
}

/// Gives the diagnosis the gate's own `error_type`. A gate step that could not start
/// (a missing program or tool, bad config) is for a person, as for any attempt.
pub(crate) fn retype(diagnosis: &mut Diagnosis, verdict: &GateVerdict) {
    let Some(step) = verdict.failed_step else {
        return;
    };
    let kind = FailureKind::from(step.failure_kind());
    let edited = verdict
        .steps
        .iter()
        .any(|s| !s.passed && s.outcome.starts_with(super::REVIEWER_EDITED));
    if edited {
        diagnosis.error_type = FailureKind::OutOfScope;
        diagnosis.classification = Classification::NeedsHuman;
        diagnosis.action = Action::Quarantine;
        diagnosis.ladder_step = LadderStep::Quarantine;
        diagnosis.fix_agent = None;
        diagnosis.summary = format!(
            "the reviewer changed files it may only review: {}: quarantine",
            verdict.reason
        );
        return;
    }
    let cannot_start = verdict
        .steps
        .iter()
        .any(|s| !s.passed && s.outcome.starts_with("cannot start"));
    if cannot_start {
        diagnosis.error_type = kind;
        diagnosis.classification = Classification::NeedsHuman;
        diagnosis.action = Action::Quarantine;
        diagnosis.ladder_step = LadderStep::Quarantine;
        diagnosis.fix_agent = None;
        diagnosis.summary = format!(
            "the gate's {} step could not run: {}: quarantine",
            step.as_str(),
            verdict.reason
        );
        return;
    }
    // A pattern the output matched says more than "the gate failed"; keep it.
    if matches!(
        diagnosis.error_type,
        FailureKind::ExitCode | FailureKind::Lint
    ) {
        diagnosis.error_type = kind;
    }
}

/// For prompts and reports: the output of the gate step `attempt` failed at, from its
/// logs (`logs/<id>/<n>.<step>.{out,err}`), in Markdown; `None` if its gate did not fail.
pub(crate) fn section(state: &StateDir, task: &str, attempt: &Attempt) -> Option<String> {
    let step = failed_step(attempt)?;
    let name = step.as_str();
    let n = attempt.attempt;
    let out = format!("logs/{task}/{n}.{name}.out");
    let err = format!("logs/{task}/{n}.{name}.err");
    let mut s = String::new();
    let what = match step {
        GateStep::Verify => "its acceptance gate's `verify` failed",
        GateStep::Review => "its acceptance gate's reviewer rejected it (the reasons)",
    };
    let _ = writeln!(
        s,
        "The attempt exited 0, but {what}. Output (`{out}`, `{err}`):"
    );
    let said: Vec<String> = [&out, &err]
        .into_iter()
        .filter_map(|rel| shown_tail(state, rel, SHOWN_BYTES))
        .collect();
    match said.is_empty() {
        true => {
            let _ = writeln!(s, "\n(nothing)");
        }
        false => {
            let _ = writeln!(s, "\n```text\n{}\n```", said.join("\n"));
        }
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::GateRun;

    fn failed(step: GateStep, outcome: &str) -> GateVerdict {
        GateVerdict {
            passed: false,
            failed_step: Some(step),
            reason: "r".into(),
            steps: vec![GateRun {
                step,
                outcome: outcome.into(),
                ..GateRun::default()
            }],
            ..GateVerdict::default()
        }
    }

    fn diagnosis(kind: FailureKind) -> Diagnosis {
        Diagnosis {
            error_type: kind,
            classification: Classification::AgentFixable,
            action: Action::Retry,
            ladder_step: LadderStep::Retry,
            fix_agent: None,
            summary: String::new(),
        }
    }

    #[test]
    fn the_reason_prefix_names_the_step() {
        let mut a = Attempt {
            reason: Some("review_rejected: review by r rejected it".into()),
            ..Attempt::default()
        };
        assert_eq!(failed_step(&a), Some(GateStep::Review));
        a.reason = Some("gate_failed: verify exit code 1".into());
        assert_eq!(failed_step(&a), Some(GateStep::Verify));
        a.reason = Some("exit code 1".into());
        assert_eq!(failed_step(&a), None);
    }

    #[test]
    fn a_gate_failure_gets_its_own_error_type_and_a_missing_program_a_person() {
        let mut d = diagnosis(FailureKind::ExitCode);
        retype(&mut d, &failed(GateStep::Review, "exit code 1"));
        assert_eq!(d.error_type, FailureKind::ReviewRejected);
        assert_eq!(d.classification, Classification::AgentFixable);
        let mut d = diagnosis(FailureKind::TransientOutput);
        retype(&mut d, &failed(GateStep::Verify, "exit code 1"));
        assert_eq!(d.error_type, FailureKind::TransientOutput);
        let mut d = diagnosis(FailureKind::ExitCode);
        retype(
            &mut d,
            &failed(GateStep::Verify, "cannot start: No such file"),
        );
        assert_eq!(d.error_type, FailureKind::GateFailed);
        assert_eq!(d.classification, Classification::NeedsHuman);
        assert_eq!(d.ladder_step, LadderStep::Quarantine);
    }
}
