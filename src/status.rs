//! Reads what the lifecycle needs from the files and derives every task's state with
//! [`crate::lifecycle`]. `phase status` prints it; `phase run --once` and `phase wait` use
//! it to decide that nothing is left to do.

use std::collections::HashMap;
use std::path::Path;

use crate::Result;
use crate::lifecycle::{self, Facts, RejectedFile, RejectionView};
use crate::model::{Control, ExecutionResults, FixPatches, RoutingDecisions, StateDoc};
use crate::store::{StateDir, list_task_files, live_fixes, read_shared_view, read_view};

pub use crate::lifecycle::{LivePhases, Snapshot, TaskState, TaskView};

/// Reads the files and derives every task's state. A file that is not JSON, or lacks the
/// fields the lifecycle needs, is an error (`phase validate` checks the full schemas).
pub fn snapshot(state: &StateDir, live: LivePhases) -> Result<Snapshot> {
    Ok(lifecycle::derive(&read_facts(state)?, live))
}

/// The fields of the state files, the inbox and `rejected/` that the lifecycle needs.
/// `control.json` only says which requests wait: if it cannot be read, none do (the
/// executor reports the broken file).
pub fn read_facts(state: &StateDir) -> Result<Facts> {
    // Each rejected file's note says why, for the DETAIL column.
    let rejected = list_task_files(&state.rejected())?
        .into_iter()
        .map(|path| {
            let mut note = path.clone().into_os_string();
            note.push(".error.json");
            let view = read_view::<RejectionView>(Path::new(&note)).unwrap_or_default();
            RejectedFile {
                path,
                error: view.error,
                duplicate: view.duplicate_of.is_some(),
                rejected_at: view.rejected_at,
            }
        })
        .collect();
    Ok(Facts {
        decisions: read_shared_view(&state.file(RoutingDecisions::FILE))?,
        results: read_shared_view(&state.file(ExecutionResults::FILE))?,
        patches: read_shared_view(&state.file(FixPatches::FILE))?,
        control: read_shared_view(&state.file(Control::FILE)).unwrap_or_default(),
        inbox: list_task_files(&state.inbox())?,
        rejected,
        // Only says why a task waits: an unreadable record holds nothing back here.
        fixes: live_fixes(state).unwrap_or_default(),
        project_root: state.project_root(),
    })
}

/// What a task waits on, in words for the WAITING ON column: for a blocked task, its
/// dependencies that have not succeeded; otherwise the phase that must act next.
pub fn waiting_on(task: &TaskView, deps: &[String], states: &HashMap<&str, TaskState>) -> String {
    if task.state == TaskState::Blocked {
        let open: Vec<String> = deps
            .iter()
            .filter(|d| states.get(d.as_str()) != Some(&TaskState::Succeeded))
            .map(|d| {
                if states.contains_key(d.as_str()) {
                    d.clone()
                } else {
                    // Named but never submitted: it waits for a person to submit it.
                    format!("{d} (not submitted)")
                }
            })
            .collect();
        if !open.is_empty() {
            return open.join(", ");
        }
    }
    task.waiting_on.unwrap_or_default().to_string()
}

/// Every RFC 3339 time in `text` (`2026-01-02T03:04:05.678Z`) said relative to `now`:
/// `in 1m05s`, `12s ago`; an `at` before it goes (`retry at T` reads `retry in 1m05s`).
/// Other text is kept as is.
pub fn relative_times(text: &str, now: jiff::Timestamp) -> String {
    static STAMP: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let Some(re) = STAMP
        .get_or_init(|| {
            regex::Regex::new(
                r"(?:\bat )?(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))",
            )
            .ok()
        })
        .as_ref()
    else {
        return text.to_string();
    };
    re.replace_all(text, |caps: &regex::Captures<'_>| {
        match caps[1].parse::<jiff::Timestamp>() {
            Ok(at) => relative(at, now),
            Err(_) => caps[0].to_string(),
        }
    })
    .into_owned()
}

/// `at` relative to `now`: `in 5s`, `3m20s ago`, `2h05m ago`, `4d ago`.
pub fn relative(at: jiff::Timestamp, now: jiff::Timestamp) -> String {
    let secs = at.as_second() - now.as_second();
    let n = secs.unsigned_abs();
    let span = match n {
        0..60 => format!("{n}s"),
        60..3600 => format!("{}m{:02}s", n / 60, n % 60),
        3600..86400 => format!("{}h{:02}m", n / 3600, (n % 3600) / 60),
        _ => format!("{}d", n / 86400),
    };
    if secs >= 0 {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_text_become_relative() {
        let now: jiff::Timestamp = "2026-01-02T03:04:05Z".parse().expect("time");
        assert_eq!(
            relative_times("retry at 2026-01-02T03:05:10.500Z (attempt 2)", now),
            "retry in 1m05s (attempt 2)"
        );
        assert_eq!(
            relative_times("since 2026-01-02T01:04:05Z", now),
            "since 2h00m ago"
        );
        assert_eq!(relative_times("no time here", now), "no time here");
    }
}
