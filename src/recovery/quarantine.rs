//! QUARANTINE: the escalation report, TASK_QUARANTINED and TASK_ESCALATED, then the
//! verdict `retry_recommended: false`.

use serde_json::json;

use super::guard::Neighbours;
use super::runner::Abort;
use super::workspace::Workspace;
use super::{Engine, PHASE, escalation, record};
use crate::model::{Attempt, ErrorAnalysis, EventType, LadderStep, TaskResult};
use crate::store::Unreported;

/// Quarantines the attempt, unless the task has moved on since it was planned.
pub(super) fn quarantine(
    shared: &Engine,
    ws: &Workspace,
    tool: &str,
    others: &mut Neighbours<'_>,
    analysis: &ErrorAnalysis,
) -> Result<(), Abort> {
    // The phase thread reports a broken results file; this second view stays quiet.
    others.results.current(&Unreported)?;
    let fresh = others
        .results
        .doc()
        .results
        .iter()
        .find(|r| r.task_id == ws.task_id());
    let Some(result) = fresh.filter(|r| r.attempt == ws.attempt && r.status.is_failure()) else {
        tracing::info!(task = %ws.task_id(), attempt = ws.attempt, "task moved on; not quarantining an old attempt");
        return Ok(());
    };
    let dependents = others.index.dependents(ws.task_id());
    let (report_path, out_of_scope) = {
        let mut files = shared.files();
        files.refresh(&shared.events)?;
        let report = escalation::Report {
            ws,
            state: &shared.state,
            tool,
            result,
            analyses: files
                .analyses
                .doc()
                .analyses
                .iter()
                .filter(|a| a.task_id == ws.task_id())
                .collect(),
            patches: files.patches.doc(),
            verdict: analysis,
            dependents: &dependents,
            commands: &shared.commands,
        };
        let out_of_scope = report.out_of_scope();
        (escalation::write(&shared.state, &report)?, out_of_scope)
    };
    let shown = report_path
        .strip_prefix(shared.state.root())
        .unwrap_or(&report_path)
        .to_string_lossy()
        .into_owned();
    let data = json!({
        "reason": analysis.summary,
        "classification": analysis.classification,
        "error_type": analysis.error_type,
        "report": shown,
        "retry": shared.commands.retry(ws.task_id()),
        "dependents": dependents,
        "out_of_scope": out_of_scope,
    });
    let events = &shared.events;
    events.emit(
        EventType::TaskQuarantined,
        PHASE,
        Some(ws.task_id()),
        Some(ws.attempt),
        data.clone(),
    );
    events.emit(
        EventType::TaskEscalated,
        PHASE,
        Some(ws.task_id()),
        Some(ws.attempt),
        data,
    );
    tracing::warn!(task = %ws.task_id(), attempt = ws.attempt, report = %shown, "quarantined: {}", analysis.summary);
    Ok(record::verdict(
        shared,
        ws,
        false,
        &LadderStep::Quarantine,
        Vec::new(),
        analysis.summary.clone(),
    )?)
}

/// The latest attempt's record; made up from the result's own fields when the executor
/// recorded no history.
pub(super) fn latest_attempt(result: &TaskResult) -> Attempt {
    match result.latest() {
        Some(a) if a.attempt == result.attempt => a.clone(),
        _ => Attempt {
            attempt: result.attempt,
            tool_id: result.tool_id.clone(),
            status: result.status,
            exit_code: result.exit_code,
            reason: result.reason.clone(),
            started_at: result.started_at.clone(),
            finished_at: result.finished_at.clone(),
            files_modified: result.files_modified.clone(),
            ..Attempt::default()
        },
    }
}
