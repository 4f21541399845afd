//! The only code that opens state files.
//!
//! Write protocol (README "Cooperating tools"): take the sidecar lock
//! `locks/<file>.lock`, read the current file and merge if someone else changed it, write a
//! temp file `.tmp-…` in the same directory, `fsync` it, rename it over the target, `fsync`
//! the directory, release the lock. Readers need no lock.
//!
//! A phase sees each file it reads or owns through one [`WatchedFile`] (or [`WatchedDoc`],
//! which also keeps the last valid document): cheap change detection, merge-on-write, and
//! a broken file reported once.

mod archive;
mod atomic;
mod breakage;
mod claim;
mod cluster_job;
mod contain;
mod edit;
mod fence;
mod fence_log;
mod file_name;
mod fixes_in_progress;
mod inbox;
mod layout;
mod listing;
mod lock;
mod outcome;
mod outline;
mod paced;
mod parse;
mod presence;
mod spliced;
mod state_file;
mod submit;
mod sweep;
mod task_file;
mod watched;
mod watched_doc;

pub use archive::{archive_dir, archive_root, move_entries, move_path, remove_archive};
pub use atomic::TEMP_PREFIX;
pub use atomic::{Durability, Fingerprint, write_atomic, write_atomic_unsynced, write_atomic_with};
pub use atomic::{create_atomic, sync_dir};
pub use breakage::{FileEvents, Unreported};
pub use claim::{Claim, list_claims};
pub use cluster_job::{CancelReason, ClusterJob, cluster_job_path, list_cluster_jobs};
pub use cluster_job::{read_cluster_job, remove_cluster_job, write_cluster_job};
pub use contain::{Access, Contained, ProjectRoot, contain_task_paths};
pub use contain::{dir_below, open_below, symlink_error};
pub use edit::{EDITABLE, EditOutcome, EditSession};
pub use fence::{FENCE_BYTES, Fence, FencedClaim};
pub use file_name::MAX_TASK_FILE_NAME_BYTES;
pub use fixes_in_progress::{
    FIXES_IN_PROGRESS, FixInProgress, FixesInProgress, begin_fix, end_fix, read_fixes_in_progress,
};
pub use fixes_in_progress::{fixes_in_progress_path, is_fixes_in_progress, live_fixes};
pub use inbox::{
    InboxFile, InboxLock, InboxWatch, RejectionNote, accept_task_file, accepted_task_exists,
    accepted_task_path, inbox_fingerprint, inbox_has_task_files, is_inbox_candidate, list_inbox,
    reject_task_file, sync_intake_dirs, try_lock_inbox,
};
pub use layout::StateDir;
pub use listing::list_task_files;
pub use lock::{LockGuard, LockWait};
pub use outcome::{attempts_dir, list_outcomes, outcome_path, read_outcome};
pub use outcome::{remove_outcome, write_outcome};
pub use paced::{Pace, PacedFile};
pub use parse::{ReadMemo, memoize_reads, read_shared_view};
pub use parse::{parse_json_document, parse_state_document, parse_state_reader};
pub use parse::{parse_json_value, read_view, validate_value};
pub use presence::Presence;
pub use spliced::EntrySpans;
pub use state_file::{Locked, StateFile};
pub use submit::{Existing, Published, Submission};
pub use sweep::sweep_stale_temp_files;
pub use task_file::{MAX_TASK_FILE_BYTES, check_task_paths, parse_task_bytes};
pub use task_file::{read_accepted_task, read_task_file};
pub use watched::{Poll, WatchedFile, WatchedLock};
pub use watched_doc::WatchedDoc;
