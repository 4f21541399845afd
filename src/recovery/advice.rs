//! The escalation report's "Recommended next steps", by class and failure kind.

use crate::model::{Classification, ErrorAnalysis, FailureKind};

/// What a person should do about a task quarantined by `verdict`.
pub(super) fn next_steps(verdict: &ErrorAnalysis) -> Vec<&'static str> {
    match (verdict.classification, &verdict.error_type) {
        (Classification::NeedsHuman, FailureKind::SpawnError) => vec![
            "Install the missing tool or fix the tool's `command` in config/coordinator.toml.",
            "Check the task's `command` and `workdir`.",
        ],
        (
            Classification::NeedsHuman,
            FailureKind::PermissionDenied | FailureKind::NeedsHumanOutput,
        ) => vec![
            "Fix the permissions (or the condition the output names) on the files and programs the task uses.",
            "Read the last error above and the attempt's stderr log.",
        ],
        (Classification::NeedsHuman, FailureKind::OutOfScope) => vec![
            "A fix step changed files outside its scope (see \"Changed out of scope\"): keep each change or undo it.",
            "Then fix the task by hand, or narrow the fixer (its `{files}`) or the agent's instructions, and retry.",
        ],
        (Classification::NeedsHuman, FailureKind::ScopeEscalation) => vec![
            "The change touches more files than `recovery.max_files_changed`: review it (the diffs above) before it goes further.",
            "Keep or undo it, then retry; raise `recovery.max_files_changed` if such changes are expected.",
        ],
        (Classification::NeedsHuman, _) => vec![
            "The exit code says the command could not run (126: not executable, 127: not found): check the command and PATH.",
        ],
        (Classification::Transient, _) => vec![
            "The failures look transient (timeouts, signals, flaky output): check the service or machine the task depends on.",
            "Raise the task's `timeout_seconds` or `max_retries` if it needs more time or tries.",
        ],
        _ => vec![
            "Read the last error and the diffs above; fix the code by hand, or write a patch into fix_patches.json.",
            "Add or tune a detector (`[recovery.detectors.*]`) so the next failure of this kind is fixed mechanically.",
        ],
    }
}
