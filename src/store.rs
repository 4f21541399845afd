//! The only code that opens state files.
//!
//! Write protocol (README "Cooperating tools"): take the sidecar lock
//! `locks/<file>.lock`, read the current file and merge if someone else changed it, write a
//! temp file `.tmp-…` in the same directory, `fsync` it, rename it over the target, `fsync`
//! the directory, release the lock. Readers need no lock.

mod atomic;
mod claim;
mod edit;
mod inbox;
mod layout;
mod listing;
mod lock;
mod parse;
mod presence;
mod state_file;
mod submit;
mod sweep;
mod task_file;

pub use atomic::TEMP_PREFIX;
pub use atomic::{Fingerprint, write_atomic, write_atomic_with};
pub use atomic::{create_atomic, sync_dir};
pub use claim::Claim;
pub use edit::{EDITABLE, EditOutcome, EditSession};
pub use inbox::{
    InboxFile, InboxLock, RejectionNote, accept_task_file, accepted_task_exists,
    accepted_task_path, inbox_fingerprint, is_inbox_candidate, list_inbox, lock_inbox,
    reject_task_file, sync_intake_dirs,
};
pub use layout::StateDir;
pub use listing::list_task_files;
pub use lock::{LockGuard, LockWait};
pub use parse::{parse_json_document, parse_state_document, parse_state_reader};
pub use parse::{parse_json_value, read_view, validate_value};
pub use presence::Presence;
pub use state_file::{Locked, StateFile};
pub use submit::{Existing, Published, Submission};
pub use sweep::sweep_stale_temp_files;
pub use task_file::{MAX_TASK_FILE_BYTES, parse_task_bytes, read_task_file};
