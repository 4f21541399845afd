//! One fix step: the detectors' fixers (`mechanical_fix`) or an agent tier. Snapshots the
//! project, runs the fixer with `recovery.fix_timeout_seconds`, diffs what changed, sorts
//! each change into the step's scope or out of it, and re-runs the detectors to validate.
//!
//! A fixer's scope is the task's files (or, for a task that names none, the files its
//! detector found fixable issues in; those are its `{files}` too); an agent tier's is its
//! workdir. Every other change is out of scope — unless an attempt of another task that
//! ran meanwhile may have made it (see [`guard`](super::guard)).

use std::path::Path;

use super::detect::{Focus, run_all, uses_files};
use super::fixer::Fixer;
use super::guard::Neighbours;
use super::runner::Abort;
use super::scope::Area;
use super::snapshot::FileChange;
use super::workspace::Workspace;
use super::{Engine, prompt};
use crate::model::{Attempt, ErrorAnalysis, LadderStep};

/// One file a step changed.
#[derive(Debug, Clone)]
pub(super) struct Change {
    /// The fixer (detector name or agent tier) that changed it.
    pub fixer: String,
    /// The file and its diff.
    pub change: FileChange,
    /// Outside the step's scope.
    pub out_of_scope: bool,
}

/// What a fix step did.
#[derive(Debug, Default)]
pub(super) struct StepOutcome {
    /// Every changed file, in scope or not.
    pub changes: Vec<Change>,
    /// One line per fixer run: how it ended.
    pub notes: Vec<String>,
    /// The detectors ran after the fix and found nothing (false when none apply).
    pub validated: bool,
    /// Each agent tier's run: its time and cost, and whether its API turned it away.
    pub agent_runs: Vec<crate::agent::FixRun>,
}

impl StepOutcome {
    /// Whether the step did something worth a retry: it changed the task's own files
    /// (`task_files`; for a task that names none, anything in scope). An agent's exit code
    /// proves nothing (AI coding CLIs exit 0 having done nothing, see
    /// ../shared/AGENT-CLIS.md), so an agent that changed nothing climbs on like any step.
    pub(super) fn worth_a_retry(&self, task_files: Option<&Area>) -> bool {
        self.changes
            .iter()
            .any(|c| !c.out_of_scope && task_files.is_none_or(|a| a.contains(&c.change.path)))
    }

    /// The changes made outside the step's scope.
    pub(super) fn out_of_scope(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.out_of_scope)
    }

    /// How many distinct files the step changed.
    pub(super) fn files_touched(&self) -> usize {
        let mut paths: Vec<&Path> = self
            .changes
            .iter()
            .map(|c| c.change.path.as_path())
            .collect();
        paths.sort();
        paths.dedup();
        paths.len()
    }
}

/// The task's own files as an area, when it names some.
pub(super) fn task_files(ws: &Workspace) -> Option<Area> {
    (!ws.task.files.is_empty()).then(|| Area::of_files(&ws.workdir, &ws.task.files))
}

/// What a step may change: for `mechanical_fix` the files each fixer is given, for an
/// agent tier its workdir.
pub(super) fn step_scope(
    shared: &Engine,
    ws: &Workspace,
    analysis: &ErrorAnalysis,
    step: &LadderStep,
) -> Area {
    if *step != LadderStep::MechanicalFix {
        return Area::tree(&ws.workdir);
    }
    let mut area = Area::default();
    for (name, _) in fixers_for(shared, analysis) {
        area.extend(Area::of_files(
            &ws.workdir,
            &fixer_files(ws, analysis, &name),
        ));
    }
    area
}

/// Runs `step` (`mechanical_fix` or an agent tier) for the workspace's task.
pub(super) fn run_step(
    shared: &Engine,
    ws: &Workspace,
    analysis: &ErrorAnalysis,
    attempt: Option<&Attempt>,
    step: &LadderStep,
    others: &mut Neighbours<'_>,
) -> Result<StepOutcome, Abort> {
    let mut out = StepOutcome::default();
    if *step == LadderStep::MechanicalFix {
        for (name, fixer) in fixers_for(shared, analysis) {
            let files = fixer_files(ws, analysis, &name);
            if files.is_empty() && uses_files(&fixer) {
                out.notes.push(format!(
                    "{name}: not run: its fixer is given {{files}} and no file of the task is fixable"
                ));
                continue;
            }
            let scope = Area::of_files(&ws.workdir, &files);
            let run = Fixer {
                name: &name,
                command: &fixer,
                files: &files,
                scope: &scope,
                description: "",
                prompt: None,
                env: &[],
                isolated: None,
            };
            run.run(shared, ws, others, &mut out)?;
        }
        if out.notes.is_empty() {
            out.notes
                .push("no detector with a fixer found anything fixable".to_string());
        }
    } else {
        run_agent(
            shared,
            ws,
            analysis,
            attempt,
            step.as_str(),
            others,
            &mut out,
        )?;
    }
    if out.worth_a_retry(task_files(ws).as_ref()) {
        let focus = focus_of(ws, analysis, attempt);
        let scan = run_all(
            &shared.detectors,
            &shared.runner,
            ws,
            &shared.config,
            &focus,
        )?;
        out.validated = !scan.runs.is_empty() && scan.runs.iter().all(|r| r.clean);
        for r in scan.runs.iter().filter(|r| !r.clean) {
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

/// The files whose issues count for the task: its own, what its attempt changed, and
/// those its analysis names.
pub(super) fn focus_of(
    ws: &Workspace,
    analysis: &ErrorAnalysis,
    attempt: Option<&Attempt>,
) -> Focus {
    let touched = attempt
        .into_iter()
        .flat_map(|a| a.files_modified.iter().map(String::as_str))
        .chain(analysis.issues.iter().filter_map(|i| i.file.as_deref()));
    Focus::new(ws, touched)
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

/// A fixer's `{files}` and scope: the task's files, or when it names none, the files the
/// detector found fixable issues in (never an empty list that a tool reads as "all").
fn fixer_files(ws: &Workspace, analysis: &ErrorAnalysis, detector: &str) -> Vec<String> {
    if !ws.task.files.is_empty() {
        return ws.task.files.to_vec();
    }
    let mut files: Vec<String> = analysis
        .issues
        .iter()
        .filter(|i| i.fixable && i.detector == detector)
        .filter_map(|i| i.file.clone())
        .collect();
    files.sort();
    files.dedup();
    files
}

fn run_agent(
    shared: &Engine,
    ws: &Workspace,
    analysis: &ErrorAnalysis,
    attempt: Option<&Attempt>,
    tier: &str,
    others: &mut Neighbours<'_>,
    out: &mut StepOutcome,
) -> Result<(), Abort> {
    let Some(tool) = shared.config.tools.get(tier) else {
        out.notes
            .push(format!("{tier}: no [tools.{tier}] in the configuration"));
        return Ok(());
    };
    let out_of_scope = shared
        .files()
        .patches
        .doc()
        .patches
        .iter()
        .filter(|p| p.task_id == ws.task_id() && p.out_of_scope)
        .map(|p| format!("- `{}` ({}, attempt {})", p.file, p.patch_id, p.attempt))
        .collect();
    // An isolated tier works in a worktree of its own (src/recovery/workspace.rs).
    let isolated = match ws.tier_worktree(tier, tool, attempt) {
        Ok(isolated) => isolated,
        Err(e) => {
            out.notes.push(format!("{tier}: {e}"));
            return Ok(());
        }
    };
    let here = isolated.as_ref().map_or(ws, |t| &t.ws);
    let context = prompt::Context {
        attempt,
        dependents: others.index.dependents(ws.task_id()),
        out_of_scope,
        commands: &shared.commands,
    };
    let (prompt_path, prompt_text) =
        match prompt::write(&shared.state, here, analysis, &context, tier) {
            Ok(written) => written,
            Err(e) => {
                out.notes
                    .push(format!("{tier}: cannot write the prompt file: {e}"));
                return Ok(());
            }
        };
    let description = prompt::request(here, analysis, &prompt_path);
    // Agent presets: their own home and the API key under the name the CLI reads.
    let agent_env = match crate::agent::prepare_env(&shared.state, tier, tool) {
        Ok(env) => env,
        Err(e) => {
            out.notes.push(format!("{tier}: {e}"));
            return Ok(());
        }
    };
    let env: Vec<(String, String)> = agent_env
        .into_iter()
        .chain(tool.env.iter().map(|(k, v)| (k.clone(), v.clone())))
        .collect();
    let prompt_file = prompt_path.to_string_lossy().into_owned();
    let prompt_arg = crate::agent::prompt::as_argument(&prompt_text, &prompt_path);
    let scope = Area::tree(&ws.workdir);
    let run = Fixer {
        name: tier,
        command: &tool.command,
        files: &ws.task.files,
        scope: &scope,
        description: &description,
        prompt: Some((&prompt_file, &prompt_arg)),
        env: &env,
        isolated: isolated.as_ref(),
    };
    let started = std::time::Instant::now();
    run.run(shared, ws, others, out)?;
    // Its time and cost, and whether its model API turned it away (src/agent/fix_run.rs).
    let log = |ext: &str| {
        let name = format!("{}.{tier}.fix.{ext}", ws.attempt);
        shared.state.task_logs(ws.task_id()).join(name)
    };
    let (config, elapsed) = (&shared.config, started.elapsed());
    let observed =
        crate::agent::observe_fix_run(config, tier, tool, &log("out"), &log("err"), elapsed);
    out.agent_runs.push(observed);
    Ok(())
}
