//! One fix step: the detectors' fixers (`mechanical_fix`) or an agent tier. Snapshots the
//! project, runs the fixer with `recovery.fix_timeout_seconds`, diffs what changed, sorts
//! each change into the step's scope or out of it, and re-runs the detectors to validate.
//!
//! A fixer's scope is the task's files (or, for a task that names none, the files its
//! detector found fixable issues in; those are its `{files}` too); an agent tier's is its
//! workdir. Every other change is out of scope — unless an attempt of another task that
//! ran meanwhile may have made it (see [`guard`](super::guard)).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::detect::{Focus, run_all, uses_files};
use super::guard::Neighbours;
use super::runner::{Abort, RunError};
use super::scope::{Area, expand_files, normalize};
use super::snapshot::{FileChange, Snapshot};
use super::workspace::Workspace;
use super::{Engine, prompt};
use crate::model::{Attempt, ErrorAnalysis, LadderStep};
use crate::process::{Sink, Spec};
use crate::template;

/// One file a step changed.
#[derive(Debug, Clone)]
pub struct Change {
    /// The fixer (detector name or agent tier) that changed it.
    pub fixer: String,
    /// The file and its diff.
    pub change: FileChange,
    /// Outside the step's scope.
    pub out_of_scope: bool,
}

/// What a fix step did.
#[derive(Debug, Default)]
pub struct StepOutcome {
    /// Every changed file, in scope or not.
    pub changes: Vec<Change>,
    /// One line per fixer run: how it ended.
    pub notes: Vec<String>,
    /// The detectors ran after the fix and found nothing (false when none apply).
    pub validated: bool,
}

impl StepOutcome {
    /// Whether the step did something worth a retry: it changed the task's own files
    /// (`task_files`; for a task that names none, anything in scope). An agent's exit code
    /// proves nothing (AI coding CLIs exit 0 having done nothing, see
    /// ../shared/AGENT-CLIS.md), so an agent that changed nothing climbs on like any step.
    pub fn worth_a_retry(&self, task_files: Option<&Area>) -> bool {
        self.changes
            .iter()
            .any(|c| !c.out_of_scope && task_files.is_none_or(|a| a.contains(&c.change.path)))
    }

    /// The changes made outside the step's scope.
    pub fn out_of_scope(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.out_of_scope)
    }

    /// How many distinct files the step changed.
    pub fn files_touched(&self) -> usize {
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
pub fn task_files(ws: &Workspace) -> Option<Area> {
    (!ws.task.files.is_empty()).then(|| Area::of_files(&ws.workdir, &ws.task.files))
}

/// What a step may change: for `mechanical_fix` the files each fixer is given, for an
/// agent tier its workdir.
pub fn step_scope(
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
pub fn run_step(
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
pub fn focus_of(ws: &Workspace, analysis: &ErrorAnalysis, attempt: Option<&Attempt>) -> Focus {
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
        return ws.task.files.clone();
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
    let context = prompt::Context {
        attempt,
        dependents: others.index.dependents(ws.task_id()),
        out_of_scope,
        commands: &shared.commands,
    };
    let (prompt_path, prompt_text) =
        match prompt::write(&shared.state, ws, analysis, &context, tier) {
            Ok(written) => written,
            Err(e) => {
                out.notes
                    .push(format!("{tier}: cannot write the prompt file: {e}"));
                return Ok(());
            }
        };
    let description = prompt::request(ws, analysis, &prompt_path);
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
    };
    run.run(shared, ws, others, out)
}

/// One fixer or agent run.
struct Fixer<'a> {
    name: &'a str,
    command: &'a [String],
    /// Its `{files}`.
    files: &'a [String],
    /// What it may change.
    scope: &'a Area,
    /// Its `{description}` (the task's when empty).
    description: &'a str,
    /// The prompt file's path and text (`{prompt_file}`, `{prompt}`).
    prompt: Option<(&'a str, &'a str)>,
    env: &'a [(String, String)],
}

impl Fixer<'_> {
    /// Runs it and records every change it made, in scope or not.
    fn run(
        &self,
        shared: &Engine,
        ws: &Workspace,
        others: &mut Neighbours<'_>,
        out: &mut StepOutcome,
    ) -> Result<(), Abort> {
        let name = self.name;
        let description = if self.description.is_empty() {
            &ws.task.description
        } else {
            self.description
        };
        let mut vars = ws.vars(description, self.prompt.map(|p| p.0));
        vars.prompt = self.prompt.map(|p| p.1);
        vars.files = self.files;
        let argv = match template::expand(self.command, &vars) {
            Ok(argv) => argv,
            Err(e) => {
                out.notes.push(format!("{name}: command: {e}"));
                return Ok(());
            }
        };
        let logs = shared.state.task_logs(ws.task_id());
        let _ = std::fs::create_dir_all(&logs);
        let log = |ext: &str| logs.join(format!("{}.{name}.fix.{ext}", ws.attempt));
        let timeout = Duration::from_secs(shared.config.recovery.fix_timeout_seconds);
        let spec = Spec {
            argv,
            cwd: ws.workdir.clone(),
            env: self.env.to_vec(),
            stdout: Sink::File(log("out")),
            stderr: Sink::File(log("err")),
            timeout: Some(timeout),
            kill_grace: Duration::from_millis(shared.config.execution.kill_grace_ms),
        };
        let (base, extra) = watched(shared, ws);
        let skip = shared.state.root();
        let before = Snapshot::take(&base, &extra, skip);
        let window = others.window(ws.task_id())?;
        let ended = match shared.runner.run(&spec) {
            Ok(finished) => finished.describe(Some(timeout)),
            Err(RunError::Spawn(e)) => e,
            Err(RunError::Stopped) => return Err(Abort::Stopped),
        };
        let after = Snapshot::take(&base, &extra, skip);
        let meanwhile = others.ran_meanwhile(&window, ws.task_id())?;
        let mut kept = 0;
        for change in before.changes(&after, &ws.workdir) {
            let in_scope = self.scope.contains(&change.path);
            if !in_scope
                && let Some((task, _)) = meanwhile.iter().find(|(_, a)| a.contains(&change.path))
            {
                out.notes.push(format!(
                    "{}: changed while task {task} was running: left to it",
                    change.file
                ));
                continue;
            }
            kept += 1;
            out.changes.push(Change {
                fixer: name.to_string(),
                change,
                out_of_scope: !in_scope,
            });
        }
        out.notes
            .push(format!("{name}: {ended}, changed {kept} file(s)"));
        Ok(())
    }
}

/// What a step's snapshots cover: the project root (or the workdir, when it lies outside
/// the project), plus the task's named files wherever they are.
fn watched(shared: &Engine, ws: &Workspace) -> (PathBuf, Vec<PathBuf>) {
    let root = normalize(&shared.state.project_root());
    let workdir = normalize(&ws.workdir);
    let base = if workdir.starts_with(&root) {
        root
    } else {
        workdir
    };
    let extra = expand_files(&ws.workdir, &ws.task.files, shared.state.root())
        .iter()
        .map(|f| normalize(&ws.workdir.join(f)))
        .collect();
    (base, extra)
}
