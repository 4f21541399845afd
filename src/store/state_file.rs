//! One JSON state file as seen by one writer: what it last read or wrote (by content
//! hash), so it can tell its own writes from anyone else's and merge before writing.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use super::atomic::{Fingerprint, write_atomic};
use super::lock::{LockGuard, LockWait};
use super::parse::parse_state_document;
use super::StateDir;
use crate::model::StateDoc;
use crate::{Error, Result};

/// What this process last saw of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    /// `None`: the file did not exist.
    fingerprint: Option<Fingerprint>,
    /// Hash of the content (0 for a missing file).
    hash: u64,
}

/// A typed handle on one state file, remembering what this process last read or wrote.
#[derive(Debug)]
pub struct StateFile<T: StateDoc> {
    path: PathBuf,
    lock_path: PathBuf,
    seen: Option<Seen>,
    _doc: PhantomData<T>,
}

/// The file under its sidecar lock. [`Locked::commit`] consumes it, so a write without
/// the lock does not compile.
#[derive(Debug)]
pub struct Locked<'a, T: StateDoc> {
    file: &'a mut StateFile<T>,
    _guard: LockGuard,
    external: Option<T>,
}

impl<T: StateDoc> StateFile<T> {
    /// A handle on `T::FILE` inside `state`; nothing is read yet.
    pub fn new(state: &StateDir) -> Self {
        Self::at(state.file(T::FILE), state.lock_path(T::FILE))
    }

    /// A handle on an explicit path (tests, `phase validate PATH`).
    pub fn at(path: PathBuf, lock_path: PathBuf) -> Self {
        Self {
            path,
            lock_path,
            seen: None,
            _doc: PhantomData,
        }
    }

    /// The data file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads and validates the file (a missing file is the empty document) and remembers
    /// it as seen. An invalid file is an error and is *not* remembered, so a later write
    /// cannot silently replace it.
    pub fn read(&mut self) -> Result<T> {
        let (doc, seen) = self.load()?;
        self.seen = Some(seen);
        Ok(doc)
    }

    /// Like [`read`](Self::read), but `Ok(None)` when the file is the one this process
    /// last read or wrote. Costs a `stat` when nothing changed.
    pub fn read_if_changed(&mut self) -> Result<Option<T>> {
        if let Some(seen) = self.seen
            && Fingerprint::of_path(&self.path)? == seen.fingerprint
        {
            return Ok(None);
        }
        let (doc, seen) = self.load()?;
        let same_content = self.seen.is_some_and(|s| s.hash == seen.hash);
        self.seen = Some(seen);
        Ok(if same_content { None } else { Some(doc) })
    }

    /// Takes the sidecar lock and checks whether someone else changed the file since this
    /// process last saw it; if so, [`Locked::external`] holds their version to merge.
    /// `Ok(None)` only with [`LockWait::NoWait`]. An invalid file is an error: the caller
    /// must not overwrite it.
    pub fn lock(&mut self, wait: LockWait) -> Result<Option<Locked<'_, T>>> {
        let Some(guard) = LockGuard::acquire(&self.lock_path, wait)? else {
            return Ok(None);
        };
        let external = self.read_if_changed()?;
        Ok(Some(Locked {
            file: self,
            _guard: guard,
            external,
        }))
    }

    /// Forgets what was seen: the next read re-reads.
    pub fn forget(&mut self) {
        self.seen = None;
    }

    fn load(&self) -> Result<(T, Seen)> {
        match std::fs::read(&self.path) {
            Ok(bytes) => {
                let fingerprint = Fingerprint::of_path(&self.path)?;
                let doc = parse_state_document::<T>(&self.path, &bytes)?;
                Ok((
                    doc,
                    Seen {
                        fingerprint,
                        hash: hash_bytes(&bytes),
                    },
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((
                T::default(),
                Seen {
                    fingerprint: None,
                    hash: 0,
                },
            )),
            Err(e) => Err(Error::io(&self.path, "read", e)),
        }
    }
}

impl<T: StateDoc> Locked<'_, T> {
    /// Someone else's version of the file, if it changed since this process last saw it.
    pub fn external(&self) -> Option<&T> {
        self.external.as_ref()
    }

    /// Takes someone else's version out, to merge into.
    pub fn take_external(&mut self) -> Option<T> {
        self.external.take()
    }

    /// Stamps `doc` (`schema_version`, `run_id`, `updated_at`), writes it atomically and
    /// releases the lock.
    pub fn commit(self, doc: &mut T, run_id: &str) -> Result<()> {
        doc.stamp(run_id);
        let mut bytes = serde_json::to_vec_pretty(doc)
            .map_err(|e| Error::invalid(&self.file.path, format!("cannot serialise: {e}")))?;
        bytes.push(b'\n');
        let fingerprint = write_atomic(&self.file.path, &bytes)?;
        self.file.seen = Some(Seen {
            fingerprint: Some(fingerprint),
            hash: hash_bytes(&bytes),
        });
        Ok(())
    }
}

fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}
