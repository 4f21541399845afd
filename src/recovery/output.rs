//! A failed attempt's own words: its reason, the end of its stderr and stdout logs (the
//! result's `stderr_tail` when the log is gone).

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::parsers::{default_pattern, parse_generic};
use crate::model::{Attempt, Issue};
use crate::store::StateDir;

/// How much of each log's end is read.
const TAIL_BYTES: u64 = 16 * 1024;
/// At most this many issues are taken from the attempt's own output.
const MAX_OUTPUT_ISSUES: usize = 20;

/// The attempt's output, for pattern matching and issue extraction.
#[derive(Debug, Clone, Default)]
pub(super) struct AttemptOutput {
    /// The reason, then the stderr tail, then the stdout tail.
    pub text: String,
    reason: String,
    logs: String,
}

/// Reads what the attempt said.
pub(super) fn attempt_output(state: &StateDir, attempt: &Attempt) -> AttemptOutput {
    let log = |rel: &str| {
        (!rel.is_empty())
            .then(|| log_path(state, rel).and_then(|p| tail(&p)))
            .flatten()
    };
    let stderr = log(&attempt.log_err).unwrap_or_else(|| attempt.stderr_tail.clone());
    let stdout = log(&attempt.log_out).unwrap_or_default();
    let reason = attempt.reason.clone().unwrap_or_default();
    let logs = format!("{stderr}\n{stdout}");
    AttemptOutput {
        text: format!("{reason}\n{logs}"),
        reason,
        logs,
    }
}

impl AttemptOutput {
    /// Issues from the attempt itself (detector `attempt`): its reason, and the
    /// `file:line: message` lines of its output.
    pub(super) fn issues(&self, workdir: &Path) -> Vec<Issue> {
        let mut issues = Vec::new();
        if !self.reason.is_empty() {
            issues.push(Issue {
                detector: "attempt".to_string(),
                message: self.reason.clone(),
                ..Issue::default()
            });
        }
        let mut found = parse_generic("attempt", default_pattern(), &self.logs, workdir, false);
        found.truncate(MAX_OUTPUT_ISSUES);
        issues.extend(found);
        issues
    }
}

/// The last [`TAIL_BYTES`] of a log, lossily decoded; `None` if it cannot be read.
fn tail(path: &Path) -> Option<String> {
    tail_bytes(path, TAIL_BYTES)
}

/// The last `max` bytes of a log, lossily decoded; `None` if it cannot be read.
fn tail_bytes(path: &Path, max: u64) -> Option<String> {
    // `logs/<task>/<file>`: never through a planted link (issue 8).
    let mut file = crate::store::open_below(path, 3, crate::store::Access::Read).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(max))).ok()?;
    let mut bytes = Vec::new();
    file.take(max).read_to_end(&mut bytes).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// A log path from the results, checked to be `logs/<task>/<file>` (a hand edit may name
/// any file: it is refused with a warning naming it, and not read).
fn log_path(state: &StateDir, rel: &str) -> Option<std::path::PathBuf> {
    state
        .log_path(rel)
        .inspect_err(|e| tracing::warn!("execution_results.json: {e}"))
        .ok()
}

/// The end of a log (`rel` to the state directory), at most `max` bytes from a line
/// start, trimmed; `None` when it is missing or says nothing. For reports and prompts.
pub(super) fn shown_tail(state: &StateDir, rel: &str, max: u64) -> Option<String> {
    if rel.is_empty() {
        return None;
    }
    let text = tail_bytes(&log_path(state, rel)?, max)?;
    // Start at a line boundary when the cut fell inside a line.
    let text = match text.find('\n') {
        Some(i) if text.len() as u64 >= max && i + 1 < text.len() => &text[i + 1..],
        _ => text.as_str(),
    };
    let text = text.trim_end();
    (!text.trim().is_empty()).then(|| text.to_string())
}
