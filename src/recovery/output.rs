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
pub struct AttemptOutput {
    /// The reason, then the stderr tail, then the stdout tail.
    pub text: String,
    reason: String,
    logs: String,
}

/// Reads what the attempt said.
pub fn attempt_output(state: &StateDir, attempt: &Attempt) -> AttemptOutput {
    let log = |rel: &str| {
        (!rel.is_empty())
            .then(|| tail(&state.root().join(rel)))
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
    pub fn issues(&self, workdir: &Path) -> Vec<Issue> {
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
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))
        .ok()?;
    let mut bytes = Vec::new();
    file.take(TAIL_BYTES).read_to_end(&mut bytes).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}
