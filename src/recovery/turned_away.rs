//! An agent tier whose model API turned it away changed nothing, but not because the task
//! is beyond it: a refused key needs a person (the summary names the tool and the
//! variable), and a rate limit, overload or quota is transient — the task is retried after
//! its back-off and the same tier runs again, instead of climbing past it like a tier that
//! tried and failed (src/agent/fix_run.rs reads the tier's output).

use serde_json::json;

use super::fix::StepOutcome;
use super::step::{Budget, Next, commit};
use super::workspace::Workspace;
use super::{Engine, PHASE, record};
use crate::model::{Action, Classification, ErrorAnalysis, EventType, FailureKind, LadderStep};

/// What happens to an attempt whose step `step` changed nothing, when its API turned it
/// away; `None` when it did not (the step climbs on as usual).
pub(super) fn judge(
    shared: &Engine,
    ws: &Workspace,
    analysis: &mut ErrorAnalysis,
    step: &LadderStep,
    outcome: &StepOutcome,
    budget: Budget,
) -> Result<Option<Next>, super::runner::Abort> {
    let refused = outcome.agent_runs.iter().find_map(|r| r.refused.clone());
    let limited = outcome.agent_runs.iter().find_map(|r| r.transient.clone());
    let retry = refused.is_none() && budget.failures < budget.limit;
    let (why, then) = match (refused, limited) {
        (Some(hint), _) => (hint, LadderStep::Quarantine),
        (None, Some(line)) => (
            format!("its model API turned it away for now ({line})"),
            if retry {
                LadderStep::Retry
            } else {
                LadderStep::Quarantine
            },
        ),
        (None, None) => return Ok(None),
    };
    shared.events.emit(
        EventType::FixFailed,
        PHASE,
        Some(ws.task_id()),
        Some(ws.attempt),
        json!({ "ladder_step": step, "reason": why, "next": then, "transient": retry }),
    );
    analysis.summary = format!("{}; {step}: {why}", analysis.summary);
    analysis.fix_agent = None;
    if retry {
        analysis.summary.push_str(&format!(
            ": transient, the task is retried after its back-off and {step} runs again"
        ));
        analysis.recommended_action = Action::Retry;
        // Not a rung reached: the next attempt's ladder comes back to this tier.
        analysis.ladder_step = LadderStep::Retry;
        commit(shared, analysis)?;
        let reason = analysis.summary.clone();
        record::verdict(shared, ws, true, &LadderStep::Retry, Vec::new(), reason)?;
        return Ok(Some(Next::Done));
    }
    if then == LadderStep::Quarantine && analysis.classification != Classification::Transient {
        analysis.classification = Classification::NeedsHuman;
        analysis.error_type = FailureKind::NeedsHumanOutput;
    }
    analysis.recommended_action = Action::Quarantine;
    analysis.ladder_step = LadderStep::Quarantine;
    commit(shared, analysis)?;
    Ok(Some(Next::Continue))
}
