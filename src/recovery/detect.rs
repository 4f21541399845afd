//! Detectors (`[recovery.detectors.<name>]`): checkers run in a failed task's workdir,
//! whose output a parser turns into issues.
//!
//! Scope: a detector runs for a task when its `kinds` match and it has something of the
//! task's to look at — one given `{files}` is skipped for a task that names none — and
//! only issues in the task's [`Focus`] count, so a detector that looks at the whole
//! workdir never blames (or fixes) another task's files.

use std::time::Duration;

use regex::Regex;

use super::parsers::{DEFAULT_PATTERN, parse_generic, parse_ruff_json};
use super::runner::{RunError, Runner, Stopped};
use super::scope::Area;
use super::workspace::Workspace;
use crate::config::{Config, DetectorConfig, DetectorScope};
use crate::model::{Issue, SkippedDetector};
use crate::process::{Sink, Spec};
use crate::template;

/// At most this many issues per detector run are kept (the analysis stays readable).
const MAX_ISSUES: usize = 200;

/// One configured detector with its parser ready.
#[derive(Debug)]
pub(super) struct Detector {
    /// Its name (the key under `[recovery.detectors]`).
    pub name: String,
    /// Its configuration.
    pub config: DetectorConfig,
    parser: Parser,
}

#[derive(Debug)]
enum Parser {
    Generic(Regex),
    RuffJson,
    /// Config the checks should have refused; the detector reports it instead of running.
    Unusable(String),
}

/// What one run of a detector found.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct DetectorRun {
    /// The detector's name.
    pub name: String,
    /// Its issues (empty when clean).
    pub issues: Vec<Issue>,
    /// Exit code 0 and no issues.
    pub clean: bool,
    /// How the run ended, in words (`exit code 1`, `cannot start "ruff": …`).
    pub outcome: String,
}

/// The files whose issues count for a task: its own `files`, what its attempt changed,
/// and the files its output names.
#[derive(Debug, Clone, Default)]
pub(super) struct Focus {
    area: Area,
}

impl Focus {
    /// The task's files plus `touched` (relative to the workdir).
    pub(super) fn new<'a>(ws: &Workspace, touched: impl IntoIterator<Item = &'a str>) -> Focus {
        let mut area = Area::of_files(&ws.workdir, &ws.task.files);
        let touched: Vec<&str> = touched.into_iter().collect();
        area.extend(Area::of_files(&ws.workdir, &touched));
        Focus { area }
    }

    /// Whether an issue counts: it names no file, or a file in focus.
    fn counts(&self, ws: &Workspace, issue: &Issue) -> bool {
        issue
            .file
            .as_deref()
            .is_none_or(|f| self.area.contains(&ws.workdir.join(f)))
    }
}

/// What the detectors that apply to a task found, and which of them did not run.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Scan {
    /// One per detector that ran, in name order.
    pub runs: Vec<DetectorRun>,
    /// The detectors that apply to its kind but had nothing of the task's to look at.
    pub skipped: Vec<SkippedDetector>,
}

/// Every configured detector, in name order.
#[derive(Debug, Default)]
pub(super) struct Detectors {
    list: Vec<Detector>,
}

impl Detectors {
    /// Compiles the detectors' parsers.
    pub(super) fn new(config: &Config) -> Detectors {
        let list = config
            .recovery
            .detectors
            .iter()
            .map(|(name, dc)| Detector {
                name: name.clone(),
                config: dc.clone(),
                parser: parser_for(name, dc),
            })
            .collect();
        Detectors { list }
    }

    /// The detectors that apply to tasks of `kind`.
    pub(super) fn for_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Detector> + 'a {
        self.list
            .iter()
            .filter(move |d| d.config.kinds.is_empty() || d.config.kinds.iter().any(|k| k == kind))
    }

    /// A detector by name.
    pub(super) fn get(&self, name: &str) -> Option<&Detector> {
        self.list.iter().find(|d| d.name == name)
    }
}

/// Whether an argv template hands the task's files over (`{files}` stands alone).
pub(super) fn uses_files(argv: &[String]) -> bool {
    argv.iter().any(|a| a == "{files}")
}

fn parser_for(name: &str, dc: &DetectorConfig) -> Parser {
    match dc.parser.as_str() {
        "ruff_json" => Parser::RuffJson,
        "generic" => match Regex::new(dc.pattern.as_deref().unwrap_or(DEFAULT_PATTERN)) {
            Ok(re) => Parser::Generic(re),
            Err(e) => {
                tracing::error!(detector = %name, "recovery.detectors.{name}.pattern: bad regex: {e}");
                Parser::Unusable(format!("bad pattern: {e}"))
            }
        },
        other => {
            tracing::error!(detector = %name, "recovery.detectors.{name}.parser: unknown parser {other:?}");
            Parser::Unusable(format!("unknown parser {other:?}"))
        }
    }
}

impl Detector {
    /// What it looks at: as configured, else `files` when its command uses `{files}`.
    pub(super) fn scope(&self) -> DetectorScope {
        self.config
            .scope
            .unwrap_or(if uses_files(&self.config.command) {
                DetectorScope::Files
            } else {
                DetectorScope::Workdir
            })
    }

    /// Why it does not run for the workspace's task, if it does not.
    fn skip_reason(&self, ws: &Workspace) -> Option<String> {
        (self.scope() == DetectorScope::Files && ws.task.files.is_empty())
            .then(|| "it looks at the task's files ({files}) and the task names none".to_string())
    }

    /// Runs the detector in the workspace and parses what it printed; issues outside
    /// `focus` are dropped. Only shutdown is an error; a detector that cannot run is a run
    /// that is not clean.
    pub(super) fn run(
        &self,
        runner: &Runner,
        ws: &Workspace,
        config: &Config,
        focus: &Focus,
    ) -> Result<DetectorRun, Stopped> {
        let not_clean = |outcome: String| DetectorRun {
            name: self.name.clone(),
            issues: Vec::new(),
            clean: false,
            outcome,
        };
        if let Parser::Unusable(why) = &self.parser {
            return Ok(not_clean(why.clone()));
        }
        let argv =
            match template::expand(&self.config.command, &ws.vars(&ws.task.description, None)) {
                Ok(argv) => argv,
                Err(e) => return Ok(not_clean(format!("command: {e}"))),
            };
        let timeout = Duration::from_secs(
            self.config
                .timeout_seconds
                .unwrap_or(config.recovery.fix_timeout_seconds),
        );
        let spec = Spec {
            argv,
            cwd: ws.workdir.clone(),
            stdout: Sink::Capture,
            stderr: Sink::Capture,
            timeout: Some(timeout),
            kill_grace: Duration::from_millis(config.execution.kill_grace_ms),
            ..Spec::default()
        };
        let finished = match runner.run(&spec) {
            Ok(f) => f,
            Err(RunError::Spawn(e)) => return Ok(not_clean(e)),
            Err(RunError::Stopped) => return Err(Stopped),
        };
        let stdout = String::from_utf8_lossy(&finished.stdout);
        let stderr = String::from_utf8_lossy(&finished.stderr);
        let outcome = finished.describe(Some(timeout));
        let mut issues = match &self.parser {
            Parser::Generic(re) => {
                let text = format!("{stdout}\n{stderr}");
                parse_generic(
                    &self.name,
                    re,
                    &text,
                    &ws.workdir,
                    self.config.fixer.is_some(),
                )
            }
            Parser::RuffJson => match parse_ruff_json(&self.name, &stdout, &ws.workdir) {
                Ok(issues) => issues,
                Err(e) => vec![self.issue(format!("{e}; stderr: {}", first_line(&stderr)))],
            },
            Parser::Unusable(_) => Vec::new(),
        };
        let found = issues.len();
        issues.retain(|i| focus.counts(ws, i));
        let ignored = found - issues.len();
        if issues.len() > MAX_ISSUES {
            let more = issues.len() - MAX_ISSUES;
            issues.truncate(MAX_ISSUES);
            issues.push(self.issue(format!("… and {more} more issue(s)")));
        }
        if issues.is_empty() && !finished.success() && ignored == 0 {
            let said = first_line(&stderr);
            let said = if said.is_empty() {
                first_line(&stdout)
            } else {
                said
            };
            issues.push(self.issue(format!("{outcome} and reported nothing parsable: {said}")));
        }
        // A non-zero exit explained by issues in other tasks' files is clean for this one.
        let outcome = match ignored {
            0 => outcome,
            n => format!("{outcome}; {n} issue(s) outside the task's files ignored"),
        };
        Ok(DetectorRun {
            name: self.name.clone(),
            clean: (finished.success() || ignored > 0) && issues.is_empty(),
            issues,
            outcome,
        })
    }

    fn issue(&self, message: String) -> Issue {
        Issue {
            detector: self.name.clone(),
            message,
            ..Issue::default()
        }
    }
}

/// Runs every detector that applies to the workspace's task, counting issues in `focus`.
pub(super) fn run_all(
    detectors: &Detectors,
    runner: &Runner,
    ws: &Workspace,
    config: &Config,
    focus: &Focus,
) -> Result<Scan, Stopped> {
    let mut scan = Scan::default();
    for d in detectors.for_kind(&ws.task.kind) {
        match d.skip_reason(ws) {
            Some(reason) => scan.skipped.push(SkippedDetector {
                detector: d.name.clone(),
                reason,
            }),
            None => scan.runs.push(d.run(runner, ws, config, focus)?),
        }
    }
    Ok(scan)
}

fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default()
}
