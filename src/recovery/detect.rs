//! Detectors (`[recovery.detectors.<name>]`): checkers run in a failed task's workdir,
//! whose output a parser turns into issues.

use std::time::Duration;

use regex::Regex;

use super::parsers::{DEFAULT_PATTERN, parse_generic, parse_ruff_json};
use super::runner::{RunError, Runner, Stopped};
use super::workspace::Workspace;
use crate::config::{Config, DetectorConfig};
use crate::model::Issue;
use crate::process::{Sink, Spec};
use crate::template;

/// At most this many issues per detector run are kept (the analysis stays readable).
const MAX_ISSUES: usize = 200;

/// One configured detector with its parser ready.
#[derive(Debug)]
pub struct Detector {
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
pub struct DetectorRun {
    /// The detector's name.
    pub name: String,
    /// Its issues (empty when clean).
    pub issues: Vec<Issue>,
    /// Exit code 0 and no issues.
    pub clean: bool,
    /// How the run ended, in words (`exit code 1`, `cannot start "ruff": …`).
    pub outcome: String,
}

/// Every configured detector, in name order.
#[derive(Debug, Default)]
pub struct Detectors {
    list: Vec<Detector>,
}

impl Detectors {
    /// Compiles the detectors' parsers.
    pub fn new(config: &Config) -> Detectors {
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
    pub fn for_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Detector> + 'a {
        self.list
            .iter()
            .filter(move |d| d.config.kinds.is_empty() || d.config.kinds.iter().any(|k| k == kind))
    }

    /// A detector by name.
    pub fn get(&self, name: &str) -> Option<&Detector> {
        self.list.iter().find(|d| d.name == name)
    }
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
    /// Runs the detector in the workspace and parses what it printed. Only shutdown is an
    /// error; a detector that cannot run is a run that is not clean.
    pub fn run(
        &self,
        runner: &Runner,
        ws: &Workspace,
        config: &Config,
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
        if issues.len() > MAX_ISSUES {
            let more = issues.len() - MAX_ISSUES;
            issues.truncate(MAX_ISSUES);
            issues.push(self.issue(format!("… and {more} more issue(s)")));
        }
        if issues.is_empty() && !finished.success() {
            let said = first_line(&stderr);
            let said = if said.is_empty() {
                first_line(&stdout)
            } else {
                said
            };
            issues.push(self.issue(format!("{outcome} and reported nothing parsable: {said}")));
        }
        Ok(DetectorRun {
            name: self.name.clone(),
            clean: finished.success() && issues.is_empty(),
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

/// Runs every detector that applies to the workspace's task.
pub fn run_all(
    detectors: &Detectors,
    runner: &Runner,
    ws: &Workspace,
    config: &Config,
) -> Result<Vec<DetectorRun>, Stopped> {
    detectors
        .for_kind(&ws.task.kind)
        .map(|d| d.run(runner, ws, config))
        .collect()
}

fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default()
}
