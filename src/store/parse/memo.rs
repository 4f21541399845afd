//! Reads that reuse the last parse of an unchanged file, on one thread while a
//! [`ReadMemo`] lives.
//!
//! The end of a run reads the same finished files several times over: the final status,
//! the run's own tasks, the run report, the archive check, the metrics and the dashboard
//! each derive their view from `execution_results.json` and its neighbours (at 10,000
//! tasks each such read costs tens of milliseconds). Inside the memo's scope a
//! [`read_view`](super::read_view) of a file whose fingerprint did not change since its
//! last parse returns a copy of that parse. A file changed within one timestamp granule
//! of the read is never reused (its fingerprint could hide an edit: the rule of
//! [`Fingerprint::is_racy`]), and nothing is kept once the scope ends.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::SystemTime;

use crate::store::Fingerprint;

type Parses = HashMap<(PathBuf, TypeId), (Fingerprint, Rc<dyn Any>)>;

thread_local! {
    static MEMO: RefCell<Option<Parses>> = const { RefCell::new(None) };
}

/// While it lives, reads of unchanged files on this thread reuse their last parse.
#[derive(Debug)]
#[must_use = "the memo ends when this is dropped"]
pub struct ReadMemo {
    /// Bound to the thread whose reads it memoizes.
    _thread: PhantomData<*const ()>,
}

/// Starts memoizing this thread's reads (see the module's documentation).
pub fn memoize_reads() -> ReadMemo {
    MEMO.with(|m| *m.borrow_mut() = Some(HashMap::new()));
    ReadMemo {
        _thread: PhantomData,
    }
}

impl Drop for ReadMemo {
    fn drop(&mut self) {
        MEMO.with(|m| *m.borrow_mut() = None);
    }
}

/// The memoized parse of `path` as a `V`, if it is of this very version of the file.
pub(super) fn recall<V: Clone + 'static>(path: &Path, seen: Fingerprint) -> Option<V> {
    MEMO.with(|m| {
        let memo = m.borrow();
        let (fingerprint, parse) = memo.as_ref()?.get(&key::<V>(path))?;
        (*fingerprint == seen)
            .then(|| parse.downcast_ref::<V>().cloned())
            .flatten()
    })
}

/// Keeps `view`, the parse of `path` at `seen`, if a memo is on and the version is safe
/// to recognise again.
pub(super) fn keep<V: Clone + 'static>(path: &Path, seen: Fingerprint, view: &V) {
    MEMO.with(|m| {
        if let Some(memo) = m.borrow_mut().as_mut()
            && !seen.is_racy(SystemTime::now())
        {
            memo.insert(key::<V>(path), (seen, Rc::new(view.clone())));
        }
    });
}

/// Whether this thread memoizes its reads now.
pub(super) fn is_on() -> bool {
    MEMO.with(|m| m.borrow().is_some())
}

fn key<V: 'static>(path: &Path) -> (PathBuf, TypeId) {
    (path.to_path_buf(), TypeId::of::<V>())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use serde::{Deserialize, Deserializer};

    use crate::store::read_shared_view;

    /// Parses of [`Counted`] so far (only this test parses it).
    static PARSES: AtomicUsize = AtomicUsize::new(0);

    #[derive(Debug, Default, Clone, PartialEq, Deserialize)]
    struct Counted {
        #[serde(deserialize_with = "counted")]
        n: u32,
    }

    fn counted<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        PARSES.fetch_add(1, Ordering::SeqCst);
        u32::deserialize(d)
    }

    /// Waits until `path`'s last change is older than the racy granule (a precondition
    /// of reuse, not a wait for another process).
    fn age(path: &std::path::Path) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while crate::store::Fingerprint::of_path(path)
            .expect("stat")
            .expect("exists")
            .is_racy(std::time::SystemTime::now())
        {
            assert!(Instant::now() < deadline, "the file never aged");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn an_unchanged_file_is_parsed_once_in_the_scope_and_a_changed_one_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("view.json");
        std::fs::write(&path, br#"{"n": 1}"#).expect("write");
        age(&path);
        let read = || read_shared_view::<Counted>(&path).expect("read").n;

        // Without a memo, every read parses.
        assert_eq!((read(), read()), (1, 1));
        assert_eq!(PARSES.load(Ordering::SeqCst), 2);

        let memo = super::memoize_reads();
        assert_eq!((read(), read(), read()), (1, 1, 1));
        assert_eq!(PARSES.load(Ordering::SeqCst), 3, "one parse in the scope");

        // A new version (here through a rename, as every state file is replaced).
        crate::store::write_atomic(&path, br#"{"n": 22}"#).expect("replace");
        assert_eq!(read(), 22, "a changed file is read again");
        age(&path);
        assert_eq!((read(), read()), (22, 22));
        assert_eq!(
            PARSES.load(Ordering::SeqCst),
            5,
            "racy: not kept; then once"
        );
        drop(memo);
        assert_eq!(read(), 22);
        assert_eq!(PARSES.load(Ordering::SeqCst), 6, "the scope is over");
    }
}
