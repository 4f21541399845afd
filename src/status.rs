//! Reads what the lifecycle needs from the files and derives every task's state with
//! [`crate::lifecycle`]. `phase status` prints it; `phase run --once` and `phase wait` use
//! it to decide that nothing is left to do.

use std::path::Path;

use crate::Result;
use crate::lifecycle::{self, Facts, RejectedFile, RejectionView};
use crate::model::{Control, ExecutionResults, FixPatches, RoutingDecisions, StateDoc};
use crate::store::{StateDir, list_task_files, read_view};

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
        decisions: read_view(&state.file(RoutingDecisions::FILE))?,
        results: read_view(&state.file(ExecutionResults::FILE))?,
        patches: read_view(&state.file(FixPatches::FILE))?,
        control: read_view(&state.file(Control::FILE)).unwrap_or_default(),
        inbox: list_task_files(&state.inbox())?,
        rejected,
    })
}
