//! Claims: a held lock says "this task is running here". The kernel drops it when the
//! holder dies, so "is it really running?" has a true answer.
//!
//! Every claim lives in one file, `claims/locks`: the claim on a name is an open-file-
//! description (OFD) write lock on one byte of it, at an offset hashed from the name. So
//! taking a claim creates no file: creating an inode per task was the engine's one cost
//! that grew with the disk's state (docs/PERFORMANCE.md, "The disk's mood"). OFD locks,
//! unlike classic POSIX record locks, belong to the open file description, as `flock`s
//! do: closing another descriptor of the file does not drop them, and two claims taken in
//! one process exclude each other.

use std::fs::File;
use std::os::fd::AsFd;

use nix::fcntl::{FcntlArg, fcntl};

use super::fence_log::open_regular;
use super::{Access, StateDir};
use crate::{Error, Result};

/// A held claim on a task. Dropping it releases the claim.
#[derive(Debug)]
pub struct Claim {
    // Kept open: the lock lives as long as this open file description.
    _file: File,
}

impl Claim {
    /// Claims `name` (a task id) if nobody holds it; `Ok(None)` if another process, or
    /// another claim of this process, does.
    pub fn try_acquire(state: &StateDir, name: &str) -> Result<Option<Claim>> {
        let path = state.claim_locks_path();
        let file = open_locks(state, Access::Lock)?.expect("created when missing");
        let lock = byte_lock(libc::F_WRLCK, name);
        match fcntl(file.as_fd(), FcntlArg::F_OFD_SETLK(&lock)) {
            Ok(_) => Ok(Some(Claim { _file: file })),
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EACCES) => Ok(None),
            Err(e) => Err(Error::io(&path, "claim", e.into())),
        }
    }

    /// Whether some live process holds the claim on `name`. A claim held by this very
    /// process reads as held too (the question is asked through a new open file
    /// description, which every held claim excludes).
    pub fn is_held(state: &StateDir, name: &str) -> Result<bool> {
        let Some(file) = open_locks(state, Access::Read)? else {
            return Ok(false);
        };
        let mut lock = byte_lock(libc::F_WRLCK, name);
        fcntl(file.as_fd(), FcntlArg::F_OFD_GETLK(&mut lock))
            .map_err(|e| Error::io(state.claim_locks_path(), "look at a claim", e.into()))?;
        Ok(i32::from(lock.l_type) != libc::F_UNLCK)
    }
}

/// The tasks with an attempt fence (`claims/fences.jsonl`): every task an attempt was ever
/// started for, held or not.
pub fn list_claims(state: &StateDir) -> Result<Vec<String>> {
    super::fence_log::fenced_tasks(state)
}

/// `claims/locks`, never through a symbolic link. `Ok(None)` when it is missing and
/// `access` does not create it.
fn open_locks(state: &StateDir, access: Access) -> Result<Option<File>> {
    let path = state.claim_locks_path();
    let opened = match open_regular(&path, access) {
        Err(Error::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound && access == Access::Lock =>
        {
            // A state directory without `claims/` yet: made, as sidecar locks do.
            std::fs::create_dir_all(state.root())
                .map_err(|e| Error::io(state.root(), "create directory", e))?;
            open_regular(&path, access)
        }
        other => other,
    };
    match opened {
        Ok(file) => Ok(Some(file)),
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The one-byte lock standing for `name`'s claim.
fn byte_lock(kind: i32, name: &str) -> libc::flock {
    libc::flock {
        l_type: kind as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: claim_offset(name),
        l_len: 1,
        l_pid: 0,
    }
}

/// Where `name`'s claim byte is: FNV-1a (64 bits) of the name, cut to 62 bits so the
/// offset and its length fit `off_t`. Part of the on-disk protocol: every process that
/// claims tasks of one state directory must compute the same offset. Two names on one
/// offset would only make one wait while the other runs (a chance of about n² / 2⁶³ for n
/// claims held at once), never let both run.
pub(super) fn claim_offset(name: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash >> 2) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_exclude_each_other_within_one_process_and_free_on_drop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::new(dir.path());
        assert!(!Claim::is_held(&state, "a").unwrap(), "no claims file yet");
        let a = Claim::try_acquire(&state, "a").unwrap().expect("free");
        assert!(Claim::try_acquire(&state, "a").unwrap().is_none());
        assert!(Claim::is_held(&state, "a").unwrap());
        // Another name is another byte; closing its descriptor leaves `a` held.
        let b = Claim::try_acquire(&state, "b").unwrap().expect("free");
        drop(b);
        assert!(Claim::is_held(&state, "a").unwrap());
        assert!(!Claim::is_held(&state, "b").unwrap());
        drop(a);
        assert!(!Claim::is_held(&state, "a").unwrap());
        // No file per claim: only the shared one.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("claims"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("locks")]);
    }

    #[test]
    fn a_planted_link_is_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::new(dir.path());
        std::fs::create_dir_all(dir.path().join("claims")).unwrap();
        let target = dir.path().join("elsewhere");
        std::os::unix::fs::symlink(&target, state.claim_locks_path()).unwrap();
        for err in [
            Claim::try_acquire(&state, "a").unwrap_err(),
            Claim::is_held(&state, "a").unwrap_err(),
        ] {
            assert!(err.is_content_error(), "{err:?}");
            assert!(
                err.to_string().contains("claims/locks: is a symbolic link"),
                "{err}"
            );
        }
        assert!(!target.exists(), "nothing made through the link");
    }

    #[test]
    fn the_claim_offset_is_fixed_and_fits_off_t() {
        // The protocol: these values must never change.
        assert_eq!(claim_offset(""), (0xcbf2_9ce4_8422_2325_u64 >> 2) as i64);
        assert_eq!(claim_offset("a"), (0xaf63_dc4c_8601_ec8c_u64 >> 2) as i64);
        assert!(claim_offset("build-1") >= 0);
        assert_ne!(claim_offset("t1"), claim_offset("t2"));
    }
}
