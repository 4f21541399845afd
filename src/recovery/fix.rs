//! One fix step: the detectors' fixers (`mechanical_fix`) or an agent tier. Snapshots the
//! task's files, runs the fixer with `recovery.fix_timeout_seconds`, diffs what changed,
//! and re-runs the detectors to validate.

use std::time::Duration;

use super::detect::run_all;
use super::runner::{RunError, Stopped};
use super::snapshot::{FileChange, Snapshot};
use super::workspace::Workspace;
use super::{Engine, prompt};
use crate::model::{Attempt, ErrorAnalysis, LadderStep};
use crate::process::{Sink, Spec};
use crate::template;

/// What a fix step did.
#[derive(Debug, Default)]
pub struct StepOutcome {
    /// Changed files, each with the fixer (detector name or agent tier) that changed it.
    pub changes: Vec<(String, FileChange)>,
    /// One line per fixer run: how it ended.
    pub notes: Vec<String>,
    /// The detectors ran after the fix and found nothing (false when none apply).
    pub validated: bool,
}

impl StepOutcome {
    /// Whether the step did something worth a retry: it changed the task's files. An
    /// agent's exit code proves nothing (AI coding CLIs exit 0 having done nothing, see
    /// ../shared/AGENT-CLIS.md), so an agent that changed nothing climbs on like any step.
    pub fn worth_a_retry(&self) -> bool {
        !self.changes.is_empty()
    }
}

/// Runs `step` (`mechanical_fix` or an agent tier) for the workspace's task.
pub fn run_step(
    shared: &Engine,
    ws: &Workspace,
    analysis: &ErrorAnalysis,
    attempt: Option<&Attempt>,
    step: &LadderStep,
) -> Result<StepOutcome, Stopped> {
    let mut out = StepOutcome::default();
    if *step == LadderStep::MechanicalFix {
        for (name, fixer) in fixers_for(shared, analysis) {
            run_fixer(shared, ws, &name, &fixer, "", None, &[], &mut out)?;
        }
        if out.notes.is_empty() {
            out.notes
                .push("no detector with a fixer found anything fixable".to_string());
        }
    } else {
        run_agent(shared, ws, analysis, attempt, step.as_str(), &mut out)?;
    }
    if out.worth_a_retry() {
        let runs = run_all(&shared.detectors, &shared.runner, ws, &shared.config)?;
        out.validated = !runs.is_empty() && runs.iter().all(|r| r.clean);
        for r in runs.iter().filter(|r| !r.clean) {
            out.notes.push(format!(
                "after the fix, {} still reports {} issue(s) ({})",
                r.name,
                r.issues.len(),
                r.outcome
            ));
        }
    }
    Ok(out)
}

/// The fixers of the detectors that found something fixable, in detector order.
fn fixers_for(shared: &Engine, analysis: &ErrorAnalysis) -> Vec<(String, Vec<String>)> {
    let mut names: Vec<&str> = analysis
        .issues
        .iter()
        .filter(|i| i.fixable)
        .map(|i| i.detector.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| {
            let fixer = shared.detectors.get(name)?.config.fixer.clone()?;
            Some((name.to_string(), fixer))
        })
        .collect()
}

fn run_agent(
    shared: &Engine,
    ws: &Workspace,
    analysis: &ErrorAnalysis,
    attempt: Option<&Attempt>,
    tier: &str,
    out: &mut StepOutcome,
) -> Result<bool, Stopped> {
    let Some(tool) = shared.config.tools.get(tier) else {
        out.notes
            .push(format!("{tier}: no [tools.{tier}] in the configuration"));
        return Ok(false);
    };
    let written = prompt::write(&shared.state, ws, analysis, attempt, tier);
    let (prompt_path, prompt_text) = match written {
        Ok(written) => written,
        Err(e) => {
            out.notes
                .push(format!("{tier}: cannot write the prompt file: {e}"));
            return Ok(false);
        }
    };
    let description = prompt::request(ws, analysis, &prompt_path);
    // Agent presets: their own home and the API key under the name the CLI reads.
    let agent_env = match crate::agent::prepare_env(&shared.state, tier, tool) {
        Ok(env) => env,
        Err(e) => {
            out.notes.push(format!("{tier}: {e}"));
            return Ok(false);
        }
    };
    let env: Vec<(String, String)> = agent_env
        .into_iter()
        .chain(tool.env.iter().map(|(k, v)| (k.clone(), v.clone())))
        .collect();
    let prompt_file = prompt_path.to_string_lossy().into_owned();
    let prompt_arg = crate::agent::prompt::as_argument(&prompt_text, &prompt_path);
    run_fixer(
        shared,
        ws,
        tier,
        &tool.command,
        &description,
        Some((&prompt_file, &prompt_arg)),
        &env,
        out,
    )
}

/// Runs one fixer argv template and records what it changed; `true` when it exited 0.
#[allow(clippy::too_many_arguments)]
fn run_fixer(
    shared: &Engine,
    ws: &Workspace,
    name: &str,
    command: &[String],
    description: &str,
    prompt: Option<(&str, &str)>,
    env: &[(String, String)],
    out: &mut StepOutcome,
) -> Result<bool, Stopped> {
    let description = if description.is_empty() {
        &ws.task.description
    } else {
        description
    };
    // `prompt`: the prompt file's path and its text (`{prompt_file}`, `{prompt}`).
    let mut vars = ws.vars(description, prompt.map(|p| p.0));
    vars.prompt = prompt.map(|p| p.1);
    let argv = match template::expand(command, &vars) {
        Ok(argv) => argv,
        Err(e) => {
            out.notes.push(format!("{name}: command: {e}"));
            return Ok(false);
        }
    };
    let logs = shared.state.task_logs(ws.task_id());
    let _ = std::fs::create_dir_all(&logs);
    let log = |ext: &str| logs.join(format!("{}.{name}.fix.{ext}", ws.attempt));
    let timeout = Duration::from_secs(shared.config.recovery.fix_timeout_seconds);
    let spec = Spec {
        argv,
        cwd: ws.workdir.clone(),
        env: env.to_vec(),
        stdout: Sink::File(log("out")),
        stderr: Sink::File(log("err")),
        timeout: Some(timeout),
        kill_grace: Duration::from_millis(shared.config.execution.kill_grace_ms),
    };
    let before = Snapshot::take(&ws.workdir, &ws.task.files, shared.state.root());
    let (ended, succeeded) = match shared.runner.run(&spec) {
        Ok(finished) => (finished.describe(Some(timeout)), finished.success()),
        Err(RunError::Spawn(e)) => (e, false),
        Err(RunError::Stopped) => return Err(Stopped),
    };
    let after = Snapshot::take(&ws.workdir, &ws.task.files, shared.state.root());
    let changes = before.changes(&after);
    out.notes.push(format!(
        "{name}: {ended}, changed {} file(s)",
        changes.len()
    ));
    out.changes
        .extend(changes.into_iter().map(|c| (name.to_string(), c)));
    Ok(succeeded)
}
