//! One JSON state file as seen by one writer: what it last read or wrote (by content
//! hash), so it can tell its own writes from anyone else's and merge before writing.

use std::fs::File;
use std::hash::{DefaultHasher, Hasher};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::StateDir;
use super::atomic::{Durability, Fingerprint, replace_with};
use super::contain::{Access, open_below};
use super::lock::{LockGuard, LockWait};
use super::parse::{CheckedParts, parse_state_reader_since};
use super::spliced::{Counting, EntrySpans, write_spliced};
use crate::model::{SplicedDoc, StateDoc};
use crate::{Error, Result};

/// What this process last saw of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    /// `None`: the file did not exist.
    fingerprint: Option<Fingerprint>,
    /// Hash of the content (0 for a missing file).
    hash: u64,
    /// The fingerprint alone cannot prove the file unchanged (see
    /// [`Fingerprint::is_racy`]): compare the content next time.
    racy: bool,
}

impl Seen {
    fn new(fingerprint: Option<Fingerprint>, hash: u64, observed_at: SystemTime) -> Seen {
        Seen {
            fingerprint,
            hash,
            racy: fingerprint.is_some_and(|f| f.is_racy(observed_at)),
        }
    }
}

/// A typed handle on one state file, remembering what this process last read or wrote.
#[derive(Debug)]
pub struct StateFile<T: StateDoc> {
    path: PathBuf,
    lock_path: PathBuf,
    seen: Option<Seen>,
    /// The elements the last read found valid: not checked again while unchanged.
    checked: CheckedParts,
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
            checked: CheckedParts::default(),
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
        let (file, seen) = self.observe()?;
        let doc = self.parse(file)?;
        self.seen = Some(seen);
        Ok(doc)
    }

    /// Like [`read`](Self::read), but `Ok(None)` when the file is the one this process
    /// last read or wrote. Costs a `stat` when nothing changed (plus a read and a hash
    /// when the file changed within a timestamp granule of being seen).
    pub fn read_if_changed(&mut self) -> Result<Option<T>> {
        if let Some(seen) = self.seen
            && !seen.racy
            && Fingerprint::of_path(&self.path)? == seen.fingerprint
        {
            return Ok(None);
        }
        let (file, seen) = self.observe()?;
        if self.seen.is_some_and(|s| s.hash == seen.hash) {
            // Same bytes (rewritten, or touched): nothing to parse.
            self.seen = Some(seen);
            return Ok(None);
        }
        let doc = self.parse(file)?;
        self.seen = Some(seen);
        Ok(Some(doc))
    }

    /// Takes the sidecar lock (waiting as `wait` says) and checks whether someone else
    /// changed the file since this process last saw it; if so, [`Locked::external`] holds
    /// their version to merge. An invalid file is an error: the caller must not overwrite
    /// it.
    pub fn lock(&mut self, wait: LockWait) -> Result<Locked<'_, T>> {
        let guard = LockGuard::acquire(&self.lock_path, wait)?;
        self.locked(guard)
    }

    /// Like [`lock`](Self::lock), but without waiting: `Ok(None)` when someone else holds
    /// the lock.
    pub fn try_lock(&mut self) -> Result<Option<Locked<'_, T>>> {
        match LockGuard::try_acquire(&self.lock_path)? {
            Some(guard) => self.locked(guard).map(Some),
            None => Ok(None),
        }
    }

    /// Whether what was last seen must still be backed by a content check: it was
    /// observed within a timestamp granule of its change (see [`Fingerprint::is_racy`]).
    pub(super) fn is_racy(&self) -> bool {
        self.seen.is_some_and(|s| s.racy)
    }

    /// Forgets what was seen: the next read re-reads.
    pub fn forget(&mut self) {
        self.seen = None;
    }

    fn locked(&mut self, guard: LockGuard) -> Result<Locked<'_, T>> {
        let external = self.read_if_changed()?;
        Ok(Locked {
            file: self,
            _guard: guard,
            external,
        })
    }

    /// The open file (`None`: no file) and what it holds, by a streaming hash: a large
    /// file is never held in memory as bytes. The fingerprint is taken from the open
    /// descriptor before reading, so a rename in between cannot pair the old content with
    /// the new file's fingerprint; the parse reads the same descriptor.
    fn observe(&self) -> Result<(Option<File>, Seen)> {
        let observed_at = SystemTime::now();
        // Never through a planted link: one is an invalid file, reported like any other.
        let mut file = match open_below(&self.path, 1, Access::Read) {
            Ok(f) => f,
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Ok((None, Seen::new(None, 0, observed_at)));
            }
            Err(e) => return Err(e),
        };
        let meta = file
            .metadata()
            .map_err(|e| Error::io(&self.path, "stat", e))?;
        if !meta.is_file() {
            // A content error, not an I/O one: it stays until a person fixes it, so it is
            // reported once and the phases wait (idle) instead of retrying every pass.
            let what = if meta.is_dir() {
                "a directory"
            } else {
                "not a regular file"
            };
            return Err(Error::invalid(
                &self.path,
                format!("is {what}, not a state file (remove it, or put the file back)"),
            ));
        }
        let mut hasher = DefaultHasher::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => hasher.write(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(&self.path, "read", e)),
            }
        }
        let fingerprint = Fingerprint::of_metadata(&meta);
        let seen = Seen::new(Some(fingerprint), hasher.finish(), observed_at);
        Ok((Some(file), seen))
    }

    /// Parses what [`observe`](Self::observe) opened; a missing file is the empty document.
    fn parse(&mut self, file: Option<File>) -> Result<T> {
        match file {
            Some(mut file) => {
                file.seek(SeekFrom::Start(0))
                    .map_err(|e| Error::io(&self.path, "read", e))?;
                parse_state_reader_since::<T>(&self.path, file, Some(&mut self.checked))
            }
            None => Ok(T::default()),
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
        self.commit_fingerprint(doc, run_id, Durability::Synced)
            .map(drop)
    }

    /// [`commit`](Self::commit), returning the written file's fingerprint.
    pub(super) fn commit_fingerprint(
        self,
        doc: &mut T,
        run_id: &str,
        durability: Durability,
    ) -> Result<Fingerprint> {
        self.commit_laid_out(doc, run_id, durability, |w, doc| {
            super::outline::to_writer_outlined(w, doc).map_err(std::io::Error::from)
        })
        .map(|(fingerprint, _)| fingerprint)
    }

    /// Stamps `doc`, has `lay_out` write it into a temp file, renames that into place and
    /// remembers it as seen. Returns its fingerprint and content hash.
    fn commit_laid_out(
        self,
        doc: &mut T,
        run_id: &str,
        durability: Durability,
        lay_out: impl FnOnce(&mut LaidOut<'_, '_>, &mut T) -> std::io::Result<()>,
    ) -> Result<(Fingerprint, u64)> {
        doc.stamp(run_id);
        let observed_at = SystemTime::now();
        let mut hasher = DefaultHasher::new();
        // Written straight into the temp file, hashed on the way: a 10,000-task document
        // is never held as one string.
        let fill = |w: &mut dyn Write| {
            let tee = HashingWriter {
                inner: w,
                hasher: &mut hasher,
            };
            // Buffered above the hash: serde's token-sized writes hashed one by one were
            // most of a commit's cost.
            let mut buffered = BufWriter::with_capacity(64 * 1024, tee);
            lay_out(&mut buffered, doc)?;
            buffered.write_all(b"\n")?;
            buffered.flush()
        };
        let fingerprint = replace_with(&self.file.path, fill, durability)?;
        let hash = hasher.finish();
        self.file.seen = Some(Seen::new(Some(fingerprint), hash, observed_at));
        Ok((fingerprint, hash))
    }
}

impl<T: SplicedDoc> Locked<'_, T> {
    /// [`commit_fingerprint`](Self::commit_fingerprint), copying the entries `spans`
    /// knows from the file on disk when it still holds the bytes of the write the spans
    /// are of (`store/spliced.rs`). `spans` then describe the new file; after a failed
    /// write they are forgotten.
    pub(super) fn commit_spliced(
        self,
        doc: &mut T,
        run_id: &str,
        durability: Durability,
        spans: &mut EntrySpans,
    ) -> Result<Fingerprint> {
        let old = self.file.as_last_written(spans);
        #[cfg(debug_assertions)]
        let path = self.file.path.clone();
        let mut written = None;
        let committed = self.commit_laid_out(doc, run_id, durability, |w, doc| {
            written = Some(write_spliced(
                &mut Counting::new(w),
                doc,
                old.as_ref(),
                spans,
            )?);
            Ok(())
        });
        let (fingerprint, hash) = match committed {
            Ok(committed) => committed,
            Err(e) => {
                spans.forget();
                return Err(e);
            }
        };
        // In debug builds (every test suite) each write is checked against a whole
        // serialisation: an entry changed without `EntrySpans::changed` would otherwise be
        // written as it was, without a sound.
        #[cfg(debug_assertions)]
        {
            let mut whole = DefaultHasher::new();
            let mut tee = HashingWriter {
                inner: &mut std::io::sink(),
                hasher: &mut whole,
            };
            super::outline::to_writer_outlined(&mut tee, &*doc).expect("serialise");
            tee.write_all(b"\n").expect("sink");
            let whole = whole.finish();
            assert_eq!(
                whole,
                hash,
                "{}: the spliced write is not the document",
                path.display()
            );
        }
        spans.replace(written.unwrap_or_default(), hash);
        Ok(fingerprint)
    }
}

impl<T: StateDoc> StateFile<T> {
    /// The file opened for reading, if it holds the bytes `spans` are of: the content
    /// last seen (under the lock, so checked just now) has their hash, and the file opened
    /// is the one seen.
    fn as_last_written(&self, spans: &EntrySpans) -> Option<File> {
        let seen = self.seen?;
        if !spans.holds_for(seen.hash) {
            return None;
        }
        let file = open_below(&self.path, 1, Access::Read).ok()?;
        let meta = file.metadata().ok()?;
        (Some(Fingerprint::of_metadata(&meta)) == seen.fingerprint).then_some(file)
    }
}

/// Where a commit lays its document out: a buffer above the content hash, above the temp
/// file. A concrete type, so serde's many small writes are not calls through a vtable.
type LaidOut<'w, 'h> = BufWriter<HashingWriter<'w, 'h, dyn Write + 'w>>;

/// The content hash is SipHash over the bytes as one stream (no length prefix), so
/// hashing while writing gives the same value as hashing the file read back.
/// Passes writes through and feeds them to the content hash.
struct HashingWriter<'a, 'h, W: Write + ?Sized> {
    inner: &'a mut W,
    hasher: &'h mut DefaultHasher,
}

impl<W: Write + ?Sized> Write for HashingWriter<'_, '_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.write(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
