//! BASELINE's diagnosis: what kind of failure an attempt is, and the next ladder step.
//! A pure function of the attempt, the detectors' findings and the task's ladder position.

use regex::Regex;

use super::detect::DetectorRun;
use super::ladder::next_rung;
use crate::config::RecoveryConfig;
use crate::model::{Action, Attempt, Classification, FailureKind, LadderStep, Status};

/// `recovery.*_patterns` and exit codes, compiled once.
#[derive(Debug, Default)]
pub(super) struct Patterns {
    transient: Vec<Regex>,
    needs_human: Vec<Regex>,
    non_retryable_exit_codes: Vec<i32>,
}

impl Patterns {
    /// Compiles the configured patterns; one that does not compile (the config checks
    /// refuse those) is logged and left out.
    pub(super) fn new(config: &RecoveryConfig) -> Patterns {
        let compile = |key: &str, list: &[String]| {
            list.iter()
                .filter_map(|p| match Regex::new(p) {
                    Ok(re) => Some(re),
                    Err(e) => {
                        tracing::error!("recovery.{key}: bad regex {p:?}: {e}");
                        None
                    }
                })
                .collect()
        };
        Patterns {
            transient: compile("transient_patterns", &config.transient_patterns),
            needs_human: compile("needs_human_patterns", &config.needs_human_patterns),
            non_retryable_exit_codes: config.non_retryable_exit_codes.clone(),
        }
    }
}

/// Everything the diagnosis depends on.
#[derive(Debug)]
pub(super) struct Facts<'a> {
    /// The failed attempt.
    pub attempt: &'a Attempt,
    /// Its output: reason, stderr tail, stdout tail.
    pub output: &'a str,
    /// What the detectors found.
    pub runs: &'a [DetectorRun],
    /// Failed attempts since `budget_from_attempt`, this one included.
    pub failures: u32,
    /// `Config::failure_budget` for the task.
    pub budget: u32,
    /// `recovery.ladder`.
    pub ladder: &'a [LadderStep],
    /// The highest rung reached by earlier attempts in the budget window.
    pub position: Option<usize>,
    /// `recovery.retry_unfixable`: retry what nothing on the ladder can fix.
    pub retry_unfixable: bool,
}

/// What BASELINE concluded about a failed attempt, as recorded in its analysis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Diagnosis {
    /// What went wrong.
    pub error_type: FailureKind,
    /// Its class.
    pub classification: Classification,
    /// What to do.
    pub action: Action,
    /// `retry`, a rung, or `quarantine`.
    pub ladder_step: LadderStep,
    /// The agent tier, for `agent_fix`.
    pub fix_agent: Option<String>,
    /// One line for people.
    pub summary: String,
}

/// Decides. In order: how the process ended (timeout, signal, interrupted → transient);
/// what no fix can help (cannot start, permission denied, non-retryable exit code,
/// `needs_human_patterns` → quarantine at once); the retry budget; `transient_patterns`;
/// then the next rung (mechanical fix when something fixable was found); when the ladder
/// is exhausted, retry as is (`retry_unfixable`) or quarantine.
pub(super) fn classify(f: &Facts<'_>, patterns: &Patterns) -> Diagnosis {
    let reason = f.attempt.reason.as_deref().unwrap_or_default();
    let ended = if f.attempt.status == Status::TimedOut {
        Some((FailureKind::Timeout, "the attempt timed out".to_string()))
    } else if let Some(sig) = f.attempt.signal {
        Some((
            FailureKind::Signal,
            format!("the attempt was killed by signal {sig}"),
        ))
    } else if reason == "interrupted" {
        Some((
            FailureKind::Interrupted,
            "the attempt was interrupted (its executor died)".to_string(),
        ))
    } else {
        None
    };
    if ended.is_none()
        && let Some((error_type, why)) = needs_human(f, reason, patterns)
    {
        return quarantine(error_type, Classification::NeedsHuman, why);
    }
    let transient = ended.or_else(|| {
        first_match(&patterns.transient, f.output).map(|m| {
            (
                FailureKind::TransientOutput,
                format!("the output matches a transient pattern: {m:?}"),
            )
        })
    });
    let fixable_found: usize = f
        .runs
        .iter()
        .flat_map(|r| &r.issues)
        .filter(|i| i.fixable)
        .count();
    let issues_found: usize = f.runs.iter().map(|r| r.issues.len()).sum();
    let error_type = match (&transient, issues_found) {
        (Some((kind, _)), _) => kind.clone(),
        (None, 0) => FailureKind::ExitCode,
        (None, _) => FailureKind::Lint,
    };
    let next = next_rung(f.ladder, f.position, fixable_found > 0);
    let classification = match (&transient, next) {
        (Some(_), _) => Classification::Transient,
        (None, Some(LadderStep::MechanicalFix)) => Classification::AutoFixable,
        (None, _) => Classification::AgentFixable,
    };
    if f.failures >= f.budget {
        let why = format!(
            "{} failed attempts reached the retry budget of {}",
            f.failures, f.budget
        );
        return quarantine(error_type, classification, why);
    }
    if let Some((_, why)) = transient {
        return Diagnosis {
            error_type,
            classification,
            action: Action::Retry,
            ladder_step: LadderStep::Retry,
            fix_agent: None,
            summary: format!("{why}: retry without a fix"),
        };
    }
    let found = match issues_found {
        0 => format!("{reason}; the detectors found nothing"),
        n => format!("{reason}; the detectors found {n} issue(s), {fixable_found} fixable"),
    };
    match next {
        Some(LadderStep::MechanicalFix) => Diagnosis {
            error_type,
            classification,
            action: Action::MechanicalFix,
            ladder_step: LadderStep::MechanicalFix,
            fix_agent: None,
            summary: format!("{found}: run the detectors' fixers"),
        },
        Some(tier) => Diagnosis {
            error_type,
            classification,
            action: Action::AgentFix,
            ladder_step: tier.clone(),
            fix_agent: Some(tier.to_string()),
            summary: format!("{found}: hand it to {tier}"),
        },
        // Neither needs_human nor fixable: retried as is, with back-off, within the budget
        // (every workflow engine's default).
        None if f.retry_unfixable => Diagnosis {
            error_type,
            classification,
            action: Action::Retry,
            ladder_step: LadderStep::Retry,
            fix_agent: None,
            summary: format!(
                "{found}; nothing on the ladder fixes it: retry as is (recovery.retry_unfixable)"
            ),
        },
        None => quarantine(
            error_type,
            classification,
            format!("{found}; no ladder step left"),
        ),
    }
}

fn needs_human(f: &Facts<'_>, reason: &str, patterns: &Patterns) -> Option<(FailureKind, String)> {
    if reason.starts_with("cannot start") {
        return Some((
            FailureKind::SpawnError,
            format!("the tool could not be started: {reason}"),
        ));
    }
    // An isolated attempt's change that did not merge: its branch waits for a person.
    if reason.starts_with(crate::worktree::CANNOT_MERGE) {
        return Some((FailureKind::MergeConflict, reason.to_string()));
    }
    if reason.to_ascii_lowercase().contains("permission denied") {
        return Some((
            FailureKind::PermissionDenied,
            format!("permission denied: {reason}"),
        ));
    }
    if let Some(code) = f.attempt.exit_code
        && patterns.non_retryable_exit_codes.contains(&code)
    {
        return Some((
            FailureKind::NonRetryableExit,
            format!("exit code {code} is non-retryable (recovery.non_retryable_exit_codes)"),
        ));
    }
    first_match(&patterns.needs_human, f.output).map(|m| {
        (
            FailureKind::NeedsHumanOutput,
            format!("the output matches a needs-human pattern: {m:?}"),
        )
    })
}

fn quarantine(error_type: FailureKind, classification: Classification, why: String) -> Diagnosis {
    Diagnosis {
        error_type,
        classification,
        action: Action::Quarantine,
        ladder_step: LadderStep::Quarantine,
        fix_agent: None,
        summary: format!("{why}: quarantine"),
    }
}

/// The first line of `output` any pattern matches.
fn first_match<'a>(patterns: &[Regex], output: &'a str) -> Option<&'a str> {
    output
        .lines()
        .find(|line| patterns.iter().any(|re| re.is_match(line)))
        .map(str::trim)
}

#[cfg(test)]
#[path = "classify_tests.rs"]
mod tests;
